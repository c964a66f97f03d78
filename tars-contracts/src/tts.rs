//! The messages of py-tars's `tars.contracts.v1.tts`.

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{new_message_id, now};

/// `EVENT_TYPE_SAY` of py-tars.
pub const EVENT_TYPE_SAY: &str = "tts.say";
/// `EVENT_TYPE_TTS_STATUS` of py-tars.
pub const EVENT_TYPE_TTS_STATUS: &str = "tts.status";
/// `TOPIC_TTS_CONTROL` of py-tars.
pub const TOPIC_TTS_CONTROL: &str = "tts/control";
/// `TOPIC_TTS_SAY` of py-tars.
pub const TOPIC_TTS_SAY: &str = "tts/say";
/// `TOPIC_TTS_STATUS` of py-tars.
pub const TOPIC_TTS_STATUS: &str = "tts/status";

/// What a TTS control command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtsAction {
    /// `pause`.
    Pause,
    /// `resume`.
    Resume,
    /// `stop`.
    Stop,
    /// `mute`.
    Mute,
    /// `unmute`.
    Unmute,
}

/// The transition a TTS status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TtsStatusEvent {
    /// `speaking_start`.
    SpeakingStart,
    /// `speaking_end`.
    SpeakingEnd,
    /// `paused`.
    Paused,
    /// `resumed`.
    Resumed,
    /// `stopped`.
    Stopped,
}

/// Control command for TTS worker (pause, resume, stop).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "tts/control", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct TtsControlCommand {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// What to do.
    pub action: TtsAction,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub ts: f64,
}

impl TtsControlCommand {
    /// A `TtsControlCommand` with the given required fields and every other one at its pydantic default.
    pub fn new(action: TtsAction) -> Self {
        Self {
            message_id: new_message_id(),
            action,
            reason: None,
            ts: now(),
        }
    }
}

/// Command asking the TTS worker to speak text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "tts/say", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct TtsSay {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The text.
    pub text: String,
    /// The voice to speak in.
    #[serde(default)]
    pub voice: Option<String>,
    /// The language, as a code such as `en`.
    #[serde(default)]
    pub lang: Option<String>,
    /// The utterance it belongs to.
    #[serde(default)]
    pub utt_id: Option<String>,
    /// The speaking style.
    #[serde(default)]
    pub style: Option<String>,
    /// When the transcript this answers was made.
    #[serde(default)]
    pub stt_ts: Option<f64>,
    /// Whether this is the acknowledgement of a wake word.
    #[serde(default)]
    pub wake_ack: Option<bool>,
    /// A system announcement (it opens no response window).
    #[serde(default)]
    pub system_announce: Option<bool>,
}

impl TtsSay {
    /// A `TtsSay` with the given required fields and every other one at its pydantic default.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            text: text.into(),
            voice: None,
            lang: None,
            utt_id: None,
            style: None,
            stt_ts: None,
            wake_ack: None,
            system_announce: None,
        }
    }
}

/// Status transition emitted by the TTS worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "tts/status", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct TtsStatus {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// What happened.
    pub event: TtsStatusEvent,
    /// The text.
    #[serde(default)]
    pub text: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The utterance it belongs to.
    #[serde(default)]
    pub utt_id: Option<String>,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether this is the acknowledgement of a wake word.
    #[serde(default)]
    pub wake_ack: Option<bool>,
    /// A system announcement (it opens no response window).
    #[serde(default)]
    pub system_announce: Option<bool>,
}

impl TtsStatus {
    /// A `TtsStatus` with the given required fields and every other one at its pydantic default.
    pub fn new(event: TtsStatusEvent) -> Self {
        Self {
            message_id: new_message_id(),
            event,
            text: Default::default(),
            timestamp: now(),
            utt_id: None,
            reason: None,
            wake_ack: None,
            system_announce: None,
        }
    }
}
