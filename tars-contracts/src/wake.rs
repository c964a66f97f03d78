//! The messages of py-tars's `tars.contracts.v1.wake`.

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{bounds, new_message_id};

/// `EVENT_TYPE_WAKE_EVENT` of py-tars.
pub const EVENT_TYPE_WAKE_EVENT: &str = "wake.event";
/// `EVENT_TYPE_WAKE_MIC` of py-tars.
pub const EVENT_TYPE_WAKE_MIC: &str = "wake.mic";
/// `TOPIC_WAKE_EVENT` of py-tars.
pub const TOPIC_WAKE_EVENT: &str = "wake/event";
/// `TOPIC_WAKE_MIC` of py-tars.
pub const TOPIC_WAKE_MIC: &str = "wake/mic";

/// What a wake microphone command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MicAction {
    /// `mute`.
    Mute,
    /// `unmute`.
    Unmute,
}

/// What the wake-word detector heard: a wake, an interrupt, a resume, a cancel or a timeout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "wake/event", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct WakeEvent {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The kind.
    pub r#type: String,
    /// The utterance being spoken when it happened.
    #[serde(default)]
    pub tts_id: Option<String>,
    /// How sure the recogniser is, from 0 to 1.
    #[serde(default, deserialize_with = "bounds::opt_unit_interval")]
    pub confidence: Option<f64>,
    /// The energy of the sound, 0 or more.
    #[serde(default, deserialize_with = "bounds::opt_non_negative")]
    pub energy: Option<f64>,
    /// What caused it.
    #[serde(default)]
    pub cause: Option<String>,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default)]
    pub ts: Option<f64>,
}

impl WakeEvent {
    /// A `WakeEvent` with the given required fields and every other one at its pydantic default.
    pub fn new(kind: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            r#type: kind.into(),
            tts_id: None,
            confidence: None,
            energy: None,
            cause: None,
            ts: None,
        }
    }
}

/// Mutes or unmutes the microphone for the wake-word detector.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "wake/mic", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct WakeMicCommand {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// What to do.
    pub action: MicAction,
    /// Why.
    #[serde(default = "default_reason")]
    pub reason: String,
    /// How long the command holds, in milliseconds.
    #[serde(default, deserialize_with = "bounds::opt_non_negative_int")]
    pub ttl_ms: Option<i64>,
}

impl WakeMicCommand {
    /// A `WakeMicCommand` with the given required fields and every other one at its pydantic default.
    pub fn new(action: MicAction) -> Self {
        Self {
            message_id: new_message_id(),
            action,
            reason: default_reason(),
            ttl_ms: None,
        }
    }
}

fn default_reason() -> String {
    "wake".to_owned()
}
