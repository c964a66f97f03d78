#[tars::service(name = "tts/#")]
async fn main() {}
