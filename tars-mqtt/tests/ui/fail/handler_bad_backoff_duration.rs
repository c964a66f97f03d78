use tars::prelude::*;

#[tars::handler(topic = "llm/request", retries = 2, backoff = "1.5s")]
async fn answer(_msg: Message) -> Result<(), String> {
    Ok(())
}

fn main() {}
