use tars::prelude::*;

#[tars::handler(topic = "movement/command", share = "movers", no_local = true)]
async fn move_arm(_msg: Message) {}

fn main() {}
