use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

#[tars::handler(topic = "stt/final")]
async fn speak(ev: SttFinal) -> u32 {
    ev.text.len() as u32
}

fn main() {}
