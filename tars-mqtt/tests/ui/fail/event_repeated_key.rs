use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "tts/say", topic = "tts/speak")]
struct TtsSay {
    text: String,
}

fn main() {}
