#[tars::service(queue = 0)]
async fn main() {}
