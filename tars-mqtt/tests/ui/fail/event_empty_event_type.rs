use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "tts/say", event_type = "")]
struct TtsSay {
    text: String,
}

fn main() {}
