use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "tts/say", type = "tts.say")]
struct TtsSay {
    text: String,
}

fn main() {}
