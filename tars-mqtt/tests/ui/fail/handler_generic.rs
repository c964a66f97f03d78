use tars::prelude::*;

#[tars::handler(topic = "stt/final")]
async fn speak<T: Default>(_msg: Message) {}

fn main() {}
