//! Health and heartbeat payloads and topics, as the Python stack publishes them.

use serde::{Deserialize, Serialize};

use crate::contract::envelope::{new_id, now_ts};

/// The envelope `type` of health messages.
pub const HEALTH_EVENT_TYPE: &str = "health.status";

/// The retained health topic of a client: `system/health/{client_id}`.
pub fn health_topic(client_id: &str) -> String {
    format!("system/health/{client_id}")
}

/// The heartbeat topic of a client: `system/keepalive/{client_id}`.
pub fn keepalive_topic(client_id: &str) -> String {
    format!("system/keepalive/{client_id}")
}

/// The `data` of a `health.status` envelope (Python's `HealthPing`); `event` and `err`
/// are omitted when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HealthStatus {
    /// A fresh uuid4 hex per status.
    pub message_id: String,
    /// Whether the service is healthy.
    pub ok: bool,
    /// What happened: `ready`, `reconnected`, `shutdown`, `lost`, or your own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// The error, when not ok.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err: Option<String>,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

impl HealthStatus {
    /// A status stamped now.
    pub fn new(ok: bool, event: Option<&str>, err: Option<&str>) -> Self {
        Self {
            message_id: new_id(),
            ok,
            event: event.map(str::to_owned),
            err: err.map(str::to_owned),
            timestamp: now_ts(),
        }
    }
}

/// The heartbeat payload: plain JSON, not an envelope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Always true.
    pub ok: bool,
    /// Always `heartbeat`.
    pub event: String,
    /// Seconds since the Unix epoch.
    pub timestamp: f64,
}

impl Heartbeat {
    /// A heartbeat stamped now.
    pub fn now() -> Self {
        Self {
            ok: true,
            event: "heartbeat".to_owned(),
            timestamp: now_ts(),
        }
    }
}

/// The well-known health events the runtime publishes.
pub(crate) mod events {
    pub(crate) const READY: &str = "ready";
    pub(crate) const RECONNECTED: &str = "reconnected";
    pub(crate) const SHUTDOWN: &str = "shutdown";
    pub(crate) const LOST: &str = "lost";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_event_and_err_are_omitted() {
        let json = serde_json::to_value(HealthStatus::new(true, Some("ready"), None)).unwrap();
        let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(keys, ["event", "message_id", "ok", "timestamp"]);
    }

    #[test]
    fn heartbeat_has_exactly_its_three_fields() {
        let json = serde_json::to_value(Heartbeat::now()).unwrap();
        assert_eq!(json["ok"], true);
        assert_eq!(json["event"], "heartbeat");
        assert_eq!(json.as_object().unwrap().len(), 3);
    }
}
