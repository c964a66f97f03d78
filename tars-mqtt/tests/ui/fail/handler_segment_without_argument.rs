use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

#[tars::handler(topic = "sensors/{room}/temperature")]
async fn on_temp(_msg: Message) {}

fn main() {}
