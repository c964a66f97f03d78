use tars::prelude::*;

#[tars::handler(topic = "stt/final")]
async fn speak(_msg: Message, ctx: &Context) {
    let _ = ctx;
}

fn main() {}
