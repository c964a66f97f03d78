//! The messages of py-tars's `tars.contracts.v1.health`.

use serde::{Deserialize, Serialize};

use crate::{new_message_id, now};

/// `EVENT_TYPE_HEALTH` of py-tars.
pub const EVENT_TYPE_HEALTH: &str = "system.health";
/// `TOPIC_SYSTEM_HEALTH_PREFIX` of py-tars.
pub const TOPIC_SYSTEM_HEALTH_PREFIX: &str = "system/health/";

/// The health of a service, retained on `system/health/{service}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthPing {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// Whether the service is healthy.
    pub ok: bool,
    /// What happened.
    #[serde(default)]
    pub event: Option<String>,
    /// What is wrong, when something is.
    #[serde(default)]
    pub err: Option<String>,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
}

impl HealthPing {
    /// A `HealthPing` with the given required fields and every other one at its pydantic default.
    pub fn new(ok: bool) -> Self {
        Self {
            message_id: new_message_id(),
            ok,
            event: None,
            err: None,
            timestamp: now(),
        }
    }
}

/// The topic of the health of the service `client_id`: `system/health/{client_id}`.
pub fn health_topic(client_id: &str) -> String {
    format!("{TOPIC_SYSTEM_HEALTH_PREFIX}{client_id}")
}
