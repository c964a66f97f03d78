//! The TTS worker: it speaks what `tts/say` asks and reports `tts/spoken`. Its handlers
//! live here, in a library, so that `tests/` can run them; `tts-service` serves them.

use serde::{Deserialize, Serialize};
use tars::prelude::*;

/// Something to say, from the LLM service.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(topic = "tts/say", qos = 1)]
pub struct TtsSay {
    /// The text to speak.
    pub text: String,
    /// The voice to speak it in.
    #[serde(default)]
    pub voice: Option<String>,
}

/// What was spoken, for the display and the logs.
#[derive(Event, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[event(topic = "tts/spoken", qos = 1)]
pub struct TtsSpoken {
    /// The text spoken.
    pub text: String,
    /// The voice used.
    pub voice: String,
    /// How long the speech lasts, in milliseconds.
    pub duration_ms: u64,
}

/// The voice used when a request names none.
pub const DEFAULT_VOICE: &str = "en_US-amy";

/// Speaks a request; the reply carries the request's id.
#[tars::handler(qos = 1, retries = 1, backoff = "200ms")]
pub async fn say(ev: TtsSay) -> Result<TtsSpoken, String> {
    if ev.text.trim().is_empty() {
        return Err("nothing to say".to_owned());
    }
    Ok(TtsSpoken {
        duration_ms: 60 * ev.text.split_whitespace().count() as u64,
        voice: ev.voice.unwrap_or_else(|| DEFAULT_VOICE.to_owned()),
        text: ev.text,
    })
}
