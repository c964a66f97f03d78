#[tars::service]
fn main() {}
