#[tars::service(client_id = "tts")]
async fn main() {}
