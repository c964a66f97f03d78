use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

#[tars::handler(topik = "stt/final")]
async fn speak(_ev: SttFinal) {}

fn main() {}
