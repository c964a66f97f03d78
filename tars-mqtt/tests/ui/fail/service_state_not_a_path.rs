#[tars::service(state = "Voices::default")]
async fn main() {}
