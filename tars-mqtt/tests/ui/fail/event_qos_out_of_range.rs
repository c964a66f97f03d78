use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "tts/say", qos = 5)]
struct TtsSay {
    text: String,
}

fn main() {}
