use tars::prelude::*;

#[tars::handler(topic = "llm/request", backoff = "100ms", dead_letter = "dead/llm")]
async fn answer(_msg: Message) -> Result<(), String> {
    Ok(())
}

fn main() {}
