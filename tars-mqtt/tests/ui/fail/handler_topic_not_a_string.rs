use tars::prelude::*;

#[tars::handler(topic = 42)]
async fn speak(_msg: Message) {}

fn main() {}
