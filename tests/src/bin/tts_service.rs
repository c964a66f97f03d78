//! A text-to-speech stand-in for the fleet tooling tests: a `#[tars::service]` that
//! takes the pipeline example's `tts.say` events, so that the topology has an edge
//! between two services.

use serde::{Deserialize, Serialize};
use tars::prelude::*;

/// The pipeline example's `TtsSay`.
#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "tts/say", qos = 1)]
struct TtsSay {
    text: String,
    voice: String,
}

#[tars::handler(qos = 1)]
async fn say(ev: TtsSay) {
    tracing::info!(text = ev.text, voice = ev.voice, "speaking");
}

#[tars::service(name = "tars-tts")]
async fn main() {}
