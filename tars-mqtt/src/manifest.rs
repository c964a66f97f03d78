//! The service manifest: a retained description of a running service on
//! `system/services/{client_id}` (published after every connection, cleared on graceful
//! shutdown), so that a fleet can discover itself.

use serde::{Deserialize, Serialize};

use crate::registry;

/// The envelope `type` of manifests.
pub const MANIFEST_EVENT_TYPE: &str = "service.manifest";

/// The retained manifest topic of a client: `system/services/{client_id}`.
pub fn manifest_topic(client_id: &str) -> String {
    format!("system/services/{client_id}")
}

/// One handler of a service, as announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerInfo {
    /// The handler function's name.
    pub name: String,
    /// The filter it subscribes (without share).
    pub filter: String,
    /// Its QoS.
    pub qos: u8,
    /// Its share group, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
}

/// What a service announces about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceManifest {
    /// The service's name.
    pub name: String,
    /// The service's version.
    pub version: String,
    /// Its handlers.
    pub handlers: Vec<HandlerInfo>,
    /// The event types linked into it.
    pub event_types: Vec<String>,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: f64,
}

impl ServiceManifest {
    /// The manifest of the handlers and events linked into this binary.
    pub fn from_registry(name: &str, version: &str) -> Self {
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            handlers: registry::handlers()
                .into_iter()
                .map(|h| HandlerInfo {
                    name: h.name.to_owned(),
                    filter: h.filter.to_owned(),
                    qos: h.qos as u8,
                    share: h.share.map(str::to_owned),
                })
                .collect(),
            event_types: registry::events()
                .into_iter()
                .map(|e| e.event_type.to_owned())
                .collect(),
            started_at: crate::now_ts(),
        }
    }
}
