//! The ten-line service of DESIGN.md, with the service fn renamed so that trybuild,
//! which runs pass cases, does not start it.
use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final")]
struct SttFinal {
    text: String,
    confidence: f32,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "tts/say")] // event_type defaults to "tts.say"
struct TtsSay {
    text: String,
}

#[tars::handler(topic = "stt/final", qos = 1)]
async fn speak(ev: SttFinal, ctx: Context) -> tars::Result<()> {
    ctx.publish(&TtsSay { text: ev.text }).await
}

#[tars::service]
async fn service() {}

// trybuild runs pass cases: keep the generated service (which would connect) uncalled.
fn main() {
    let _ = service;
}
