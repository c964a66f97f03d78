use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

#[tars::handler(topic = "stt/final", concurrency = 0)]
async fn speak(_ev: SttFinal) {}

fn main() {}
