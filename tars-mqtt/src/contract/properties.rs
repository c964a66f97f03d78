//! MQTT 5 message properties: what a v5 publish carries beside its payload. Under MQTT
//! 3.1.1 there are none on the wire: a received message has none, and those given to a
//! publish are not sent.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;

/// The content type of every envelope tars publishes under MQTT 5.
pub const ENVELOPE_CONTENT_TYPE: &str = "application/json";

/// Properties of an MQTT 5 message.
///
/// ```
/// use std::time::Duration;
///
/// let properties = tars::Properties {
///     message_expiry: Some(Duration::from_secs(30)),
///     ..Default::default()
/// }
/// .with_user_property("origin", "kitchen");
/// assert_eq!(properties.user_property("origin"), Some("kitchen"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// User properties, in order; a name may repeat.
    pub user: Vec<(String, String)>,
    /// The payload's MIME type (`application/json` on tars's envelopes).
    pub content_type: Option<String>,
    /// Where the requester wants the answer.
    pub response_topic: Option<String>,
    /// What the requester wants back with the answer, to match it.
    pub correlation_data: Option<Bytes>,
    /// How long the broker may keep the message for a subscriber before dropping it
    /// (whole seconds on the wire; the broker counts down while it holds it).
    pub message_expiry: Option<Duration>,
}

impl Properties {
    /// Adds a user property.
    pub fn with_user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user.push((name.into(), value.into()));
        self
    }

    /// The value of the first user property called `name`.
    pub fn user_property(&self, name: &str) -> Option<&str> {
        self.user
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// At most how many bytes these properties take in a PUBLISH (with the length
    /// that precedes them).
    pub(crate) fn wire_len(&self) -> usize {
        let text = |t: &Option<String>| t.as_ref().map_or(0, |t| 3 + t.len());
        let user: usize = self.user.iter().map(|(k, v)| 5 + k.len() + v.len()).sum();
        4 + user
            + text(&self.content_type)
            + text(&self.response_topic)
            + self.correlation_data.as_ref().map_or(0, |d| 3 + d.len())
            + self.message_expiry.map_or(0, |_| 5)
    }

    /// The properties of an envelope: its content type, the rest to fill in.
    pub(crate) fn json() -> Self {
        Self {
            content_type: Some(ENVELOPE_CONTENT_TYPE.to_owned()),
            ..Self::default()
        }
    }

    /// The properties of an envelope publish with nothing else set, shared so that a
    /// publish costs no allocation for them.
    pub(crate) fn envelope() -> Arc<Properties> {
        static ENVELOPE: OnceLock<Arc<Properties>> = OnceLock::new();
        ENVELOPE
            .get_or_init(|| Arc::new(Properties::json()))
            .clone()
    }
}
