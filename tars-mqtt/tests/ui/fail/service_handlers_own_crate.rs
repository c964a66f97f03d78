#[tars::service(handlers = [crate])]
async fn main() {}
