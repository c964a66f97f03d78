//! The messages of py-tars's `tars.contracts.v1.stt`.

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{bounds, new_message_id, now};

/// `EVENT_TYPE_STT_FINAL` of py-tars.
pub const EVENT_TYPE_STT_FINAL: &str = "stt.final";
/// `EVENT_TYPE_STT_PARTIAL` of py-tars.
pub const EVENT_TYPE_STT_PARTIAL: &str = "stt.partial";
/// `TOPIC_STT_AUDIO_FFT` of py-tars.
pub const TOPIC_STT_AUDIO_FFT: &str = "stt/audio_fft";
/// `TOPIC_STT_FINAL` of py-tars.
pub const TOPIC_STT_FINAL: &str = "stt/final";
/// `TOPIC_STT_PARTIAL` of py-tars.
pub const TOPIC_STT_PARTIAL: &str = "stt/partial";

/// Audio FFT data for visualization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "stt/audio_fft", qos = 0)]
#[serde(deny_unknown_fields)]
pub struct AudioFftData {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// FFT magnitude values
    pub fft_data: Vec<f64>,
    /// Audio sample rate in Hz
    #[serde(deserialize_with = "bounds::positive_int")]
    pub sample_rate: i64,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub ts: f64,
}

impl AudioFftData {
    /// A `AudioFFTData` with the given required fields and every other one at its pydantic default.
    pub fn new(fft_data: Vec<f64>, sample_rate: i64) -> Self {
        Self {
            message_id: new_message_id(),
            fft_data,
            sample_rate,
            ts: now(),
        }
    }
}

/// Transcription result emitted by STT service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "stt/final", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct FinalTranscript {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The text.
    pub text: String,
    /// The language, as a code such as `en`.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// How sure the recogniser is, from 0 to 1.
    #[serde(default, deserialize_with = "bounds::opt_unit_interval")]
    pub confidence: Option<f64>,
    /// The utterance it belongs to.
    #[serde(default)]
    pub utt_id: Option<String>,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub ts: f64,
    /// Whether the transcript is final.
    #[serde(default = "default_is_final")]
    pub is_final: bool,
}

impl FinalTranscript {
    /// A `FinalTranscript` with the given required fields and every other one at its pydantic default.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            text: text.into(),
            lang: default_lang(),
            confidence: None,
            utt_id: None,
            ts: now(),
            is_final: default_is_final(),
        }
    }
}

/// Streaming partial emitted while an utterance is in progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "stt/partial", qos = 0)]
#[serde(deny_unknown_fields)]
pub struct PartialTranscript {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The text.
    pub text: String,
    /// The language, as a code such as `en`.
    #[serde(default = "default_lang")]
    pub lang: String,
    /// How sure the recogniser is, from 0 to 1.
    #[serde(default, deserialize_with = "bounds::opt_unit_interval")]
    pub confidence: Option<f64>,
    /// The utterance it belongs to.
    #[serde(default)]
    pub utt_id: Option<String>,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub ts: f64,
    /// Whether the transcript is final.
    #[serde(default)]
    pub is_final: bool,
}

impl PartialTranscript {
    /// A `PartialTranscript` with the given required fields and every other one at its pydantic default.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            text: text.into(),
            lang: default_lang(),
            confidence: None,
            utt_id: None,
            ts: now(),
            is_final: Default::default(),
        }
    }
}

fn default_is_final() -> bool {
    true
}

fn default_lang() -> String {
    "en".to_owned()
}
