use tars::prelude::*;

#[tars::handler(topic = "stt/final", crate = "my tars")]
async fn speak(_msg: Message) {}

fn main() {}
