//! The service manifest: a retained description of a running service on
//! `system/services/{client_id}` (published after every connection, cleared on graceful
//! shutdown), so that a fleet can discover itself: what each service subscribes, which
//! events it takes, which it publishes and on which topics. The `tars` command builds
//! its fleet view, topology graph and AsyncAPI document from these.
//!
//! Fields added after the first version (`segments`, `event_type`, `reply`, `failure`,
//! `events`, `mqtt_version`, `batch`) are optional on input, so that older manifests still read.

use serde::{Deserialize, Serialize};

use crate::EffectivePolicy;

/// The envelope `type` of manifests.
pub const MANIFEST_EVENT_TYPE: &str = "service.manifest";

/// The retained manifest topic of a client: `system/services/{client_id}`.
pub fn manifest_topic(client_id: &str) -> String {
    format!("system/services/{client_id}")
}

/// A topic and the event type sent on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicEvent {
    /// The topic.
    pub topic: String,
    /// The envelope type.
    pub event_type: String,
}

/// How a batch handler gathers its messages (`batch = N`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchInfo {
    /// The most messages in a batch.
    pub size: usize,
    /// How long a batch that is not full waits after its first message, in ms.
    pub window_ms: u64,
    /// The topic level whose value keeps batches apart (0-based), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_level: Option<usize>,
}

impl From<crate::BatchOptions> for BatchInfo {
    fn from(options: crate::BatchOptions) -> Self {
        Self {
            size: options.size,
            window_ms: u64::try_from(options.window.as_millis()).unwrap_or(u64::MAX),
            key_level: options.key_level,
        }
    }
}

/// One handler of a service, as announced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HandlerInfo {
    /// The handler function's name.
    pub name: String,
    /// The filter it subscribes (without share; template segments as `+`).
    pub filter: String,
    /// Its QoS.
    pub qos: u8,
    /// Its share group, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<String>,
    /// The names of the filter's template segments, in level order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub segments: Vec<String>,
    /// The envelope type it takes, when it takes a typed event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    /// The event it publishes in reply, when it returns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<TopicEvent>,
    /// Its failure policy (retries, backoff, dead-letter topic), when a failure does
    /// more than log and skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<EffectivePolicy>,
    /// The ordered group it shares a queue with, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// Its batches, when it is a batch handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchInfo>,
}

impl HandlerInfo {
    /// The filter sent to the broker: `$share/{group}/{filter}` when shared.
    pub fn subscription(&self) -> String {
        match &self.share {
            Some(group) => format!("$share/{group}/{}", self.filter),
            None => self.filter.clone(),
        }
    }

    /// Whether this handler takes `event_type` on `topic`.
    pub fn takes(&self, topic: &str, event_type: &str) -> bool {
        crate::topic::matches(&self.filter, topic)
            && self.event_type.as_deref().is_none_or(|t| t == event_type)
    }
}

/// An event type linked into a service.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventInfo {
    /// The Rust type's name.
    pub type_name: String,
    /// Its topic.
    pub topic: String,
    /// Its envelope type.
    pub event_type: String,
    /// Its QoS.
    pub qos: u8,
    /// Whether it is retained.
    #[serde(default)]
    pub retain: bool,
    /// The envelope type of the request it answers, when it is a reply.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    /// The JSON schema of its data, when the service was built with the `schemars`
    /// feature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
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
    /// The events linked into it, with their topics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventInfo>,
    /// The MQTT version it speaks (`3.1.1` or `5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mqtt_version: Option<String>,
    /// The broker it is connected to (password masked), set each time it connects: with
    /// a broker list, which node it is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub broker: Option<String>,
    /// Its metrics endpoint (`TARS_METRICS_ADDR`), when it serves one on a fixed port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_addr: Option<String>,
    /// When it started, in seconds since the Unix epoch.
    pub started_at: f64,
}

impl ServiceManifest {
    /// The same, saying which MQTT version the service speaks.
    pub fn with_mqtt_version(mut self, version: crate::MqttVersion) -> Self {
        self.mqtt_version = Some(version.as_str().to_owned());
        self
    }

    /// The same, naming its metrics endpoint (not when its port is chosen by the system).
    pub fn with_metrics_addr(mut self, addr: Option<std::net::SocketAddr>) -> Self {
        self.metrics_addr = addr.filter(|a| a.port() != 0).map(|a| a.to_string());
        self
    }

    /// The dead-letter topics of its handlers, each once.
    pub fn dead_letter_topics(&self) -> Vec<&str> {
        let mut topics: Vec<&str> = self
            .handlers
            .iter()
            .filter_map(|h| h.failure.as_ref()?.dead_letter.as_deref())
            .collect();
        topics.sort_unstable();
        topics.dedup();
        topics
    }

    /// What the service publishes: its handlers' replies and dead letters, and the events
    /// linked into it
    /// that none of its handlers takes or returns (a service links an event type to
    /// receive it or to send it).
    pub fn publishes(&self) -> Vec<TopicEvent> {
        let mut sent: Vec<TopicEvent> = self
            .handlers
            .iter()
            .filter_map(|h| h.reply.clone())
            .collect();
        for topic in self.dead_letter_topics() {
            sent.push(TopicEvent {
                topic: topic.to_owned(),
                event_type: crate::DEAD_LETTER_TYPE.to_owned(),
            });
        }
        for event in &self.events {
            let received = self
                .handlers
                .iter()
                .any(|h| h.event_type.as_deref() == Some(&event.event_type))
                || self.awaits_as_reply(event);
            let listed = sent.iter().any(|s| s.event_type == event.event_type);
            if !received && !listed {
                sent.push(TopicEvent {
                    topic: event.topic.clone(),
                    event_type: event.event_type.clone(),
                });
            }
        }
        sent
    }

    /// Whether the service receives `event` as the reply to its own requests: a reply
    /// type (`reply_to`) whose request none of its handlers answers.
    pub fn awaits_as_reply(&self, event: &EventInfo) -> bool {
        event.reply_to.as_deref().is_some_and(|request| {
            !self
                .handlers
                .iter()
                .any(|h| h.event_type.as_deref() == Some(request))
        })
    }

    /// The linked event of `event_type`, if any.
    pub fn event(&self, event_type: &str) -> Option<&EventInfo> {
        self.events.iter().find(|e| e.event_type == event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn handler(name: &str, filter: &str, takes: Option<&str>) -> HandlerInfo {
        HandlerInfo {
            name: name.into(),
            filter: filter.into(),
            qos: 1,
            share: None,
            segments: Vec::new(),
            event_type: takes.map(Into::into),
            reply: None,
            failure: None,
            group: None,
            batch: None,
        }
    }

    fn event(event_type: &str, topic: &str) -> EventInfo {
        EventInfo {
            type_name: "T".into(),
            topic: topic.into(),
            event_type: event_type.into(),
            qos: 1,
            retain: false,
            reply_to: None,
            schema: None,
        }
    }

    #[test]
    fn a_service_publishes_its_replies_and_the_events_it_does_not_take() {
        let mut reply_handler = handler("answer", "llm/request", Some("llm.request"));
        reply_handler.reply = Some(TopicEvent {
            topic: "llm/response".into(),
            event_type: "llm.response".into(),
        });
        let manifest = ServiceManifest {
            name: "llm".into(),
            version: "1".into(),
            handlers: vec![reply_handler],
            event_types: vec![],
            events: vec![
                event("llm.request", "llm/request"),
                event("llm.response", "llm/response"),
                event("tts.say", "tts/say"),
            ],
            mqtt_version: None,
            broker: None,
            metrics_addr: None,
            started_at: 0.0,
        };
        let topics: Vec<_> = manifest.publishes().into_iter().map(|p| p.topic).collect();
        assert_eq!(topics, ["llm/response", "tts/say"]);
    }

    #[test]
    fn a_requester_receives_the_replies_it_asks_for_and_sends_the_requests() {
        let mut response = event("llm.response", "llm/response");
        response.reply_to = Some("llm.request".into());
        let requester = ServiceManifest {
            name: "pipeline".into(),
            version: "1".into(),
            handlers: vec![handler("understand", "stt/final", Some("stt.final"))],
            event_types: vec![],
            events: vec![
                event("llm.request", "llm/request"),
                response.clone(),
                event("stt.final", "stt/final"),
            ],
            mqtt_version: None,
            broker: None,
            metrics_addr: None,
            started_at: 0.0,
        };
        assert!(requester.awaits_as_reply(&response));
        let topics: Vec<_> = requester.publishes().into_iter().map(|p| p.topic).collect();
        assert_eq!(topics, ["llm/request"], "the reply is received, not sent");

        // The answering service sends it.
        let mut answer = handler("answer", "llm/request", Some("llm.request"));
        answer.reply = Some(TopicEvent {
            topic: "llm/response".into(),
            event_type: "llm.response".into(),
        });
        let answerer = ServiceManifest {
            handlers: vec![answer],
            ..requester
        };
        assert!(!answerer.awaits_as_reply(&response));
    }

    #[test]
    fn a_handler_takes_matching_topics_of_its_type_or_of_any_type() {
        let typed = handler("h", "sensors/+/temp", Some("sensor.temp"));
        assert!(typed.takes("sensors/kitchen/temp", "sensor.temp"));
        assert!(!typed.takes("sensors/kitchen/temp", "other"));
        assert!(!typed.takes("sensors/kitchen/humidity", "sensor.temp"));
        assert!(handler("raw", "#", None).takes("any/thing", "x"));
    }

    #[test]
    fn a_manifest_of_the_first_version_still_reads() {
        let old = r#"{"name":"a","version":"1","handlers":[{"name":"h","filter":"x","qos":0}],
            "event_types":["x.y"],"started_at":1.5}"#;
        let manifest: ServiceManifest = serde_json::from_str(old).unwrap();
        assert!(manifest.events.is_empty());
        assert_eq!(manifest.handlers[0].event_type, None);
    }
}
