//! The TTS worker: it speaks what `tts/say` asks and reports `tts/spoken`, in the voice
//! `tts/voice` last chose. Its handlers live here, in a library, so that `tests/` can run
//! them; `tts-service` serves them.
//!
//! The Python worker kept the voice in `self.voice`; here it is the service's `State`.

use std::sync::Mutex;

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

/// The voice used until one is chosen.
pub const DEFAULT_VOICE: &str = "en_US-amy";

/// The worker's state: the voice chosen last (the Python worker's `self.voice`).
pub struct Voice {
    current: Mutex<String>,
}

impl Default for Voice {
    fn default() -> Self {
        Self {
            current: Mutex::new(DEFAULT_VOICE.to_owned()),
        }
    }
}

impl Voice {
    /// The voice chosen last.
    pub fn current(&self) -> String {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

/// The worker's own settings, from the environment (the Python worker's `os.environ`
/// reads): listed by `tts-service --help`, checked by `--check`.
#[derive(tars::Settings, Debug)]
#[settings(prefix = "TTS_")]
pub struct TtsSettings {
    /// Speaking rate, in words per minute.
    #[setting(default = "160", min = 80, max = 400)]
    pub words_per_minute: u32,
    /// The key of a hosted synthesis API, if one is used (masked in every message).
    pub api_key: Option<tars::Secret>,
}

/// Chooses the voice of the requests that name none (the payload is its name).
#[tars::handler(topic = "tts/voice", qos = 1)]
pub async fn select_voice(msg: Message, voice: State<Voice>) {
    let name = String::from_utf8_lossy(msg.payload()).trim().to_owned();
    *voice.current.lock().unwrap_or_else(|p| p.into_inner()) = name;
}

/// Speaks a request; the reply carries the request's id.
#[tars::handler(qos = 1, retries = 1, backoff = "200ms")]
pub async fn say(
    ev: TtsSay,
    voice: State<Voice>,
    settings: State<TtsSettings>,
) -> Result<TtsSpoken, String> {
    if ev.text.trim().is_empty() {
        return Err("nothing to say".to_owned());
    }
    let words = ev.text.split_whitespace().count() as u64;
    Ok(TtsSpoken {
        duration_ms: words * 60_000 / u64::from(settings.words_per_minute),
        voice: ev.voice.unwrap_or_else(|| voice.current()),
        text: ev.text,
    })
}
