use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

#[tars::handler(topic = "stt/partial", overflow = "drop_old")]
async fn partial(_msg: Message) {}

fn main() {}
