#[tars::service(handlers = [])]
async fn main() {}
