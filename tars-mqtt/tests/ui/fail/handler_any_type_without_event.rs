use tars::prelude::*;

#[tars::handler(topic = "tts/say", any_type = true)]
async fn speak(_msg: Message) {}

fn main() {}
