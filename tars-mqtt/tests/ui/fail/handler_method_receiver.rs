use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

struct Speaker;

impl Speaker {
    #[tars::handler(topic = "stt/final")]
    async fn speak(&self, _ev: SttFinal) {}
}

fn main() {}
