use tars::prelude::*;

#[tars::handler(topic = "llm/request", retries = 5, backoff = "2s", max_backoff = "500ms")]
async fn answer(_msg: Message) -> Result<(), String> {
    Ok(())
}

fn main() {}
