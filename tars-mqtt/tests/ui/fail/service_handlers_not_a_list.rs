#[tars::service(handlers = "tts_core")]
async fn main() {}
