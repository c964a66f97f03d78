//! How a client shows itself on the bus: its health status, its last will, its manifest
//! and its heartbeat. One envelope builder serves health and the last will; one
//! announce sequence follows every connection and one withdraw sequence ends a graceful
//! shutdown.

use bytes::Bytes;

use super::wire::PublishPacket;
use crate::contract::envelope::{self, new_id};
use crate::contract::health::HEALTH_EVENT_TYPE;
use crate::contract::health::{events, health_topic, keepalive_topic, HealthStatus, Heartbeat};
use crate::contract::manifest::{manifest_topic, MANIFEST_EVENT_TYPE};
use crate::{Config, QoS, Result};

/// A client's presence: what it announces, and where.
#[derive(Debug)]
pub(crate) struct Presence {
    source: String,
    health_on: bool,
    pub(crate) health_topic: String,
    pub(crate) keepalive_topic: String,
    manifest_topic: String,
    /// The manifest, announced after each connection (naming the broker), if any.
    manifest: Option<crate::contract::manifest::ServiceManifest>,
    /// The service's version, from its manifest (empty without one), for metrics.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) version: String,
}

impl Presence {
    pub(crate) fn new(
        config: &Config,
        manifest: Option<&crate::contract::manifest::ServiceManifest>,
    ) -> Result<Self> {
        let version = manifest.map(|m| m.version.clone()).unwrap_or_default();
        Ok(Self {
            source: config.source_name().to_owned(),
            health_on: config.enable_health(),
            health_topic: health_topic(config.client_id()),
            keepalive_topic: keepalive_topic(config.client_id()),
            manifest_topic: manifest_topic(config.client_id()),
            manifest: manifest.cloned(),
            version,
        })
    }

    /// Whether health statuses are published (`MQTT_ENABLE_HEALTH`).
    pub(crate) fn health_on(&self) -> bool {
        self.health_on
    }

    /// A `health.status` envelope stamped now.
    pub(crate) fn status_envelope(
        &self,
        ok: bool,
        event: Option<&str>,
        err: Option<&str>,
    ) -> Result<Bytes> {
        let status = HealthStatus::new(ok, event, err);
        envelope::encode(&new_id(), HEALTH_EVENT_TYPE, &self.source, &status).map(Bytes::from)
    }

    /// A retained QoS 1 health status, ready to send.
    pub(crate) fn status(
        &self,
        ok: bool,
        event: Option<&str>,
        err: Option<&str>,
    ) -> Result<PublishPacket> {
        let payload = self.status_envelope(ok, event, err)?;
        Ok(PublishPacket::new(
            &self.health_topic,
            QoS::AtLeastOnce,
            true,
            payload,
        ))
    }

    /// The last will for the next CONNECT (topic, payload, QoS, retain): a retained
    /// `lost` status stamped now, so that a crashed service never stays healthy.
    pub(crate) fn will(&self) -> Result<Option<(String, Bytes, QoS, bool)>> {
        if !self.health_on {
            return Ok(None);
        }
        let payload = self.status_envelope(false, Some(events::LOST), None)?;
        Ok(Some((
            self.health_topic.clone(),
            payload,
            QoS::AtLeastOnce,
            true,
        )))
    }

    /// What follows a connection to `broker` (its URL, password masked) once
    /// subscribed: the manifest naming the broker, then health `ready` (the first time)
    /// or `reconnected`; or, when the broker refused a subscription, health not ok
    /// naming it.
    pub(crate) fn announce(
        &self,
        first: bool,
        refused: &[String],
        broker: &str,
    ) -> Result<Vec<PublishPacket>> {
        let mut packets = Vec::new();
        if let Some(manifest) = &self.manifest {
            let mut manifest = manifest.clone();
            manifest.broker = Some(broker.to_owned());
            let payload =
                envelope::encode(&new_id(), MANIFEST_EVENT_TYPE, &self.source, &manifest)?;
            packets.push(PublishPacket::new(
                &self.manifest_topic,
                QoS::AtLeastOnce,
                true,
                Bytes::from(payload),
            ));
        }
        if self.health_on {
            let event = if first {
                events::READY
            } else {
                events::RECONNECTED
            };
            let status = if refused.is_empty() {
                self.status(true, Some(event), None)?
            } else {
                let err = format!(
                    "the broker refused the subscription to {} (check the broker's ACL for this client)",
                    refused.join(", ")
                );
                self.status(false, Some(event), Some(&err))?
            };
            packets.push(status);
        }
        Ok(packets)
    }

    /// The last words of a graceful shutdown: the manifest cleared, then health
    /// `shutdown` (ok=false).
    pub(crate) fn withdraw(&self) -> Result<Vec<PublishPacket>> {
        let mut packets = Vec::new();
        if self.manifest.is_some() {
            packets.push(PublishPacket::new(
                &self.manifest_topic,
                QoS::AtLeastOnce,
                true,
                Bytes::new(),
            ));
        }
        if self.health_on {
            packets.push(self.status(false, Some(events::SHUTDOWN), None)?);
        }
        Ok(packets)
    }

    /// A heartbeat stamped now: plain JSON, QoS 0, not retained.
    pub(crate) fn heartbeat(&self) -> Result<PublishPacket> {
        let payload = serde_json::to_vec(&Heartbeat::now()).map_err(crate::Error::Encode)?;
        Ok(PublishPacket::new(
            &self.keepalive_topic,
            QoS::AtMostOnce,
            false,
            payload.into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::manifest::ServiceManifest;

    fn presence(health: bool, manifest: bool) -> Presence {
        let config = Config::builder("mqtt://localhost", "svc")
            .enable_health(health)
            .build()
            .unwrap();
        let manifest = manifest.then(|| ServiceManifest::from_registry("svc", "1.0"));
        Presence::new(&config, manifest.as_ref()).unwrap()
    }

    fn status_of(packet: &PublishPacket) -> serde_json::Value {
        let envelope: serde_json::Value = serde_json::from_slice(&packet.payload).unwrap();
        assert_eq!(envelope["type"], "health.status");
        envelope["data"].clone()
    }

    #[test]
    fn the_will_is_a_retained_lost_status_on_the_health_topic() {
        let (topic, payload, qos, retain) = presence(true, false).will().unwrap().unwrap();
        assert_eq!(topic, "system/health/svc");
        assert_eq!((qos, retain), (QoS::AtLeastOnce, true));
        let envelope: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(envelope["data"]["ok"], false);
        assert_eq!(envelope["data"]["event"], "lost");
    }

    #[test]
    fn without_health_there_is_no_will_and_no_status() {
        let presence = presence(false, false);
        assert!(presence.will().unwrap().is_none());
        assert!(presence
            .announce(true, &[], "mqtt://b:1883")
            .unwrap()
            .is_empty());
        assert!(presence.withdraw().unwrap().is_empty());
    }

    #[test]
    fn announce_sends_the_manifest_then_ready_then_reconnected() {
        let presence = presence(true, true);
        let first = presence.announce(true, &[], "mqtt://b:1883").unwrap();
        assert_eq!(first[0].topic(), "system/services/svc");
        assert_eq!(status_of(&first[1])["event"], "ready");
        assert_eq!(status_of(&first[1])["ok"], true);
        let again = presence.announce(false, &[], "mqtt://b:1883").unwrap();
        assert_eq!(status_of(&again[1])["event"], "reconnected");
    }

    #[test]
    fn a_refused_subscription_makes_health_not_ok_and_names_the_filter() {
        let packets = presence(true, false)
            .announce(false, &["acc/ping".to_owned()], "mqtt://b:1883")
            .unwrap();
        let status = status_of(&packets[0]);
        assert_eq!(status["ok"], false);
        assert!(status["err"].as_str().unwrap().contains("acc/ping"));
    }

    #[test]
    fn withdraw_clears_the_manifest_and_says_shutdown() {
        let packets = presence(true, true).withdraw().unwrap();
        assert!(packets[0].payload.is_empty() && packets[0].retain);
        assert_eq!(status_of(&packets[1])["event"], "shutdown");
        assert_eq!(status_of(&packets[1])["ok"], false);
    }

    #[test]
    fn the_heartbeat_is_plain_json_at_qos_0() {
        let heartbeat = presence(false, false).heartbeat().unwrap();
        assert_eq!(heartbeat.topic(), "system/keepalive/svc");
        assert_eq!(heartbeat.qos, QoS::AtMostOnce);
        let json: serde_json::Value = serde_json::from_slice(&heartbeat.payload).unwrap();
        assert_eq!(json["event"], "heartbeat");
    }
}
