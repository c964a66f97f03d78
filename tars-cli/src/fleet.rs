//! The fleet as the bus tells it: retained health (`system/health/+`), retained
//! manifests (`system/services/+`) and heartbeats (`system/keepalive/+`), folded into
//! one entry per client id. A Python service (health and heartbeat, no manifest) is an
//! entry like any other.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tars::manifest::{ServiceManifest, MANIFEST_EVENT_TYPE};

use crate::bus::Broker;
use crate::Failure;

/// The filters the fleet is read from.
pub const FLEET_FILTERS: [&str; 3] = ["system/health/+", "system/services/+", "system/keepalive/+"];

/// Entries kept at most: a bus with more client ids than this shows the first ones.
const MAX_SERVICES: usize = 4096;

/// A health status as published (`health.status`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct HealthData {
    ok: bool,
    #[serde(default)]
    event: Option<String>,
    #[serde(default)]
    err: Option<String>,
    #[serde(default)]
    timestamp: Option<f64>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    health: Option<HealthData>,
    manifest: Option<ServiceManifest>,
    last_heartbeat: Option<Instant>,
}

/// How a service is doing, from its health and last will.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Health ok.
    Ok,
    /// Health not ok (the service says why in `err`).
    Unhealthy,
    /// Stopped gracefully (health `shutdown`).
    Stopped,
    /// Its last will fired: the connection died without a goodbye.
    Lost,
    /// Heartbeats or a manifest, but no health seen.
    Unknown,
}

impl Status {
    /// The word the table prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Unhealthy => "unhealthy",
            Status::Stopped => "stopped",
            Status::Lost => "lost",
            Status::Unknown => "unknown",
        }
    }
}

/// One service, as `tars services --json` and the dashboard show it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceView {
    pub client_id: String,
    pub status: Status,
    /// The health's `ok`, when health was seen.
    pub ok: Option<bool>,
    /// The health's `event`: ready, reconnected, shutdown, lost, ….
    pub event: Option<String>,
    /// The health's `err`.
    pub err: Option<String>,
    /// Seconds since the last heartbeat seen (none seen yet: null).
    pub heartbeat_age_s: Option<f64>,
    /// From the manifest (a tars service); null for a service without one.
    pub name: Option<String>,
    pub version: Option<String>,
    pub handlers: Option<usize>,
    pub mqtt_version: Option<String>,
    /// The broker it is connected to, from its manifest (with a broker list: the node).
    pub broker: Option<String>,
}

/// Everything known about the services on the bus.
#[derive(Debug, Default, Clone)]
pub struct Fleet {
    entries: BTreeMap<String, Entry>,
}

impl Fleet {
    /// Folds in one message of [`FLEET_FILTERS`]; returns whether anything changed. A
    /// payload that does not parse is skipped (with a debug log), never fatal.
    pub fn apply(&mut self, topic: &str, payload: &[u8], at: Instant) -> bool {
        let Some((kind, client_id)) = topic
            .strip_prefix("system/")
            .and_then(|rest| rest.split_once('/'))
        else {
            return false;
        };
        if client_id.is_empty() || client_id.contains('/') {
            return false;
        }
        if !self.entries.contains_key(client_id) {
            if payload.is_empty() || self.entries.len() >= MAX_SERVICES {
                return false;
            }
            self.entries.insert(client_id.to_owned(), Entry::default());
        }
        let entry = self.entries.get_mut(client_id).expect("inserted above");
        let changed = match kind {
            "health" => {
                let health = (!payload.is_empty())
                    .then(|| parse_health(payload))
                    .flatten();
                let changed = entry.health != health;
                entry.health = health;
                changed
            }
            "services" => {
                let manifest = (!payload.is_empty())
                    .then(|| parse_manifest(payload))
                    .flatten();
                let changed = entry.manifest != manifest;
                entry.manifest = manifest;
                changed
            }
            "keepalive" => {
                let first = entry.last_heartbeat.is_none();
                entry.last_heartbeat = Some(at);
                first
            }
            _ => false,
        };
        let entry = &self.entries[client_id];
        if entry.health.is_none() && entry.manifest.is_none() && entry.last_heartbeat.is_none() {
            self.entries.remove(client_id);
            return true;
        }
        changed
    }

    /// Every service, by client id.
    pub fn views(&self, now: Instant) -> Vec<ServiceView> {
        self.entries
            .iter()
            .map(|(client_id, entry)| {
                let health = entry.health.as_ref();
                let status = match health {
                    Some(h) if h.event.as_deref() == Some("lost") => Status::Lost,
                    Some(h) if !h.ok && h.event.as_deref() == Some("shutdown") => Status::Stopped,
                    Some(h) if h.ok => Status::Ok,
                    Some(_) => Status::Unhealthy,
                    None => Status::Unknown,
                };
                let manifest = entry.manifest.as_ref();
                ServiceView {
                    client_id: client_id.clone(),
                    status,
                    ok: health.map(|h| h.ok),
                    event: health.and_then(|h| h.event.clone()),
                    err: health.and_then(|h| h.err.clone()),
                    heartbeat_age_s: entry
                        .last_heartbeat
                        .map(|at| round_tenths(now.saturating_duration_since(at))),
                    name: manifest.map(|m| m.name.clone()),
                    version: manifest.map(|m| m.version.clone()),
                    handlers: manifest.map(|m| m.handlers.len()),
                    mqtt_version: manifest.and_then(|m| m.mqtt_version.clone()),
                    broker: manifest.and_then(|m| m.broker.clone()),
                }
            })
            .collect()
    }

    /// The manifests of the services that announced one, by client id, with the
    /// client id as the name (two instances of one binary stay apart).
    pub fn manifests(&self) -> Vec<ServiceManifest> {
        self.entries
            .iter()
            .filter_map(|(client_id, entry)| {
                let mut manifest = entry.manifest.clone()?;
                manifest.name = client_id.clone();
                Some(manifest)
            })
            .collect()
    }

    /// The client ids of every service known.
    pub fn client_ids(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    /// Whether a service has a manifest (a tars service).
    pub fn has_manifest(&self, client_id: &str) -> bool {
        self.entries
            .get(client_id)
            .is_some_and(|e| e.manifest.is_some())
    }
}

fn round_tenths(age: Duration) -> f64 {
    (age.as_secs_f64() * 10.0).round() / 10.0
}

fn parse_health(payload: &[u8]) -> Option<HealthData> {
    #[derive(Deserialize)]
    struct HealthEnvelope {
        #[serde(rename = "type")]
        event_type: String,
        data: HealthData,
    }
    match serde_json::from_slice::<HealthEnvelope>(payload) {
        Ok(envelope) if envelope.event_type == "health.status" => Some(envelope.data),
        Ok(envelope) => {
            tracing::debug!(
                event_type = envelope.event_type,
                "skipping a health message of another type"
            );
            None
        }
        Err(error) => {
            tracing::debug!(%error, "skipping a health message that is not a health.status envelope");
            None
        }
    }
}

fn parse_manifest(payload: &[u8]) -> Option<ServiceManifest> {
    #[derive(Deserialize)]
    struct ManifestEnvelope {
        #[serde(rename = "type")]
        event_type: String,
        data: ServiceManifest,
    }
    match serde_json::from_slice::<ManifestEnvelope>(payload) {
        Ok(envelope) if envelope.event_type == MANIFEST_EVENT_TYPE => Some(envelope.data),
        Ok(_) => None,
        Err(error) => {
            tracing::debug!(%error, "skipping a manifest that does not parse");
            None
        }
    }
}

/// Reads the fleet's retained state for `wait`, then disconnects.
pub async fn collect(broker: &Broker, wait: Duration) -> Result<Fleet, Failure> {
    let (client, mut received) = broker.subscribe(&FLEET_FILTERS).await?;
    let mut fleet = Fleet::default();
    let deadline = tokio::time::Instant::now() + wait;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, received.recv()).await {
        fleet.apply(message.topic(), message.payload(), Instant::now());
    }
    let _ = client.disconnect().await;
    Ok(fleet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn health(ok: bool, event: &str) -> Vec<u8> {
        json!({"id": "a", "type": "health.status", "ts": 1.0, "source": "svc",
               "data": {"message_id": "m", "ok": ok, "event": event, "timestamp": 1.0}})
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_last_will_shows_as_lost_and_a_python_service_is_listed() {
        let mut fleet = Fleet::default();
        let now = Instant::now();
        assert!(fleet.apply("system/health/tts", &health(true, "ready"), now));
        assert!(fleet.apply(
            "system/keepalive/py-llm",
            br#"{"ok":true,"event":"heartbeat","timestamp":1}"#,
            now
        ));
        assert!(fleet.apply("system/health/py-llm", &health(true, "ready"), now));
        let views = fleet.views(now + Duration::from_secs(2));
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].client_id, "py-llm");
        assert_eq!(views[0].heartbeat_age_s, Some(2.0));
        assert_eq!(views[0].version, None);
        assert_eq!(views[1].status, Status::Ok);

        assert!(fleet.apply("system/health/tts", &health(false, "lost"), now));
        assert_eq!(fleet.views(now)[1].status, Status::Lost);
        assert!(!fleet.apply("system/health/tts", &health(false, "lost"), now));
    }

    #[test]
    fn cleared_retained_messages_remove_a_service() {
        let mut fleet = Fleet::default();
        let now = Instant::now();
        fleet.apply("system/health/a", &health(false, "shutdown"), now);
        assert_eq!(fleet.views(now)[0].status, Status::Stopped);
        assert!(fleet.apply("system/health/a", b"", now));
        assert!(fleet.views(now).is_empty());
    }

    #[test]
    fn malformed_payloads_are_skipped() {
        let mut fleet = Fleet::default();
        let now = Instant::now();
        fleet.apply("system/health/a", b"not json", now);
        fleet.apply(
            "system/services/a",
            br#"{"type":"service.manifest","data":{}}"#,
            now,
        );
        assert!(
            fleet.views(now).is_empty(),
            "nothing readable: nothing listed"
        );
        assert!(!fleet.apply("system/health/a/extra", b"x", now));
    }
}
