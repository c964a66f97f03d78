use tars::prelude::*;

#[tars::handler(topic = "llm/request", retries = 5000)]
async fn answer(_msg: Message) -> Result<(), String> {
    Ok(())
}

fn main() {}
