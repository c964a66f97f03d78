use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "tts/say")]
struct TtsSay {
    text: String,
}

#[tars::handler(topic = "stt/final")]
async fn speak(_ev: SttFinal, _say: TtsSay) {}

fn main() {}
