use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "tts/say")]
struct TtsSay {
    text: String,
}

#[tars::handler(topic = "tts/sya")]
async fn speak(_ev: Envelope<TtsSay>) {}

fn main() {}
