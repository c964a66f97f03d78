use tars::prelude::*;

#[tars::handler(topic = "voice/say", group = "voice", concurrency = 4)]
async fn say(_msg: Message) {}

fn main() {}
