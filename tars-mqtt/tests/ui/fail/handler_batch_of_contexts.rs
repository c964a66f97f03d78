use tars::prelude::*;

#[tars::handler(topic = "sensors/+/reading", batch = 100)]
async fn store(contexts: Vec<Context>) {
    let _ = contexts.len();
}

fn main() {}
