//! Events and a handler written against a renamed `tars-mqtt` dependency (`bus`).

use serde::{Deserialize, Serialize};

/// A transcript.
#[derive(bus::Event, Serialize, Deserialize, Debug)]
#[event(topic = "stt/final", qos = 1, crate = "bus")]
pub struct SttFinal {
    /// What was said.
    pub text: String,
}

/// What to say.
#[derive(bus::Event, Serialize, Deserialize, Debug)]
#[event(topic = "tts/say", qos = 1, crate = "bus")]
pub struct TtsSay {
    /// The text to speak.
    pub text: String,
}

/// Says every transcript back, shouted.
#[bus::handler(qos = 1, retries = 1, backoff = "10ms", crate = "bus")]
pub async fn shout(ev: SttFinal) -> TtsSay {
    TtsSay {
        text: ev.text.to_uppercase(),
    }
}
