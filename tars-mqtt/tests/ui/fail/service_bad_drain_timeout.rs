#[tars::service(drain_timeout = "30 seconds")]
async fn main() {}
