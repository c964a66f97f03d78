use tars::prelude::*;

#[tars::handler(topic = "llm/request", retries = 2, dead_letter = "dead/+")]
async fn answer(_msg: Message) -> Result<(), String> {
    Ok(())
}

fn main() {}
