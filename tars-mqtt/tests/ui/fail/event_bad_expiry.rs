use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "tts/say", expiry = "30 seconds")]
struct TtsSay {
    text: String,
}

fn main() {}
