use tars::prelude::*;

const TOPIC: &str = "stt/final";

#[tars::handler(topic = TOPIC)]
async fn speak(_msg: Message) {}

fn main() {}
