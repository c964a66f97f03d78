//! What `#[tars::handler]` and `#[derive(Event)]` register through `inventory`: const
//! records of `&'static str`s and a fn pointer, collected at link time.

use crate::manifest::{BatchInfo, EventInfo, HandlerInfo, ServiceManifest, TopicEvent};
use crate::{ClientBuilder, EffectivePolicy, FailurePolicy, QoS};

/// A handler declared with `#[tars::handler]`.
#[derive(Debug)]
pub struct HandlerRegistration {
    /// The handler function's name.
    pub name: &'static str,
    /// The module it is declared in.
    pub module: &'static str,
    /// The topic as written: a filter, a template like `sensors/{room}/temp`, or the
    /// topic of the handler's event when none was written.
    pub topic: &'static str,
    /// The filter subscribed to (templates with their segments as `+`), without share.
    pub filter: &'static str,
    /// The names of the template segments, in level order.
    pub segments: &'static [&'static str],
    /// The subscription's QoS.
    pub qos: QoS,
    /// The shared-subscription group, if any.
    pub share: Option<&'static str>,
    /// Flow control: concurrency, queue capacity, overflow policy.
    pub options: crate::HandlerOptions,
    /// Its batches, when it is a batch handler (`batch = N`).
    pub batch: Option<crate::BatchOptions>,
    /// The envelope type the handler takes, when it takes a typed event.
    pub event_type: Option<&'static str>,
    /// The topic and event type of its reply, when it returns an event.
    pub reply: Option<(&'static str, &'static str)>,
    /// The state types it takes (`State<T>` arguments).
    pub states: &'static [crate::model::state::StateNeed],
    /// Adds the handler to a client being built.
    pub install: fn(ClientBuilder, &'static HandlerRegistration) -> ClientBuilder,
}

impl HandlerRegistration {
    /// The filter sent to the broker: `$share/{group}/{filter}` when shared.
    pub fn subscription(&self) -> String {
        match self.share {
            Some(group) => format!("$share/{group}/{}", self.filter),
            None => self.filter.to_owned(),
        }
    }
}

inventory::collect!(HandlerRegistration);

/// An event type declared with `#[derive(Event)]`.
#[derive(Debug)]
pub struct EventRegistration {
    /// The Rust type's name.
    pub type_name: &'static str,
    /// Its topic.
    pub topic: &'static str,
    /// Its envelope type.
    pub event_type: &'static str,
    /// Its QoS.
    pub qos: QoS,
    /// Whether it is retained.
    pub retain: bool,
    /// The envelope type of the request it answers (`#[event(reply_to = Request)]`).
    pub reply_to: Option<&'static str>,
    /// The JSON schema of its data, when known (feature `schemars`).
    pub schema: Option<fn() -> serde_json::Value>,
}

inventory::collect!(EventRegistration);

/// Every handler linked into the binary, in a stable order (module, then name).
pub fn handlers() -> Vec<&'static HandlerRegistration> {
    let mut all: Vec<_> = inventory::iter::<HandlerRegistration>.into_iter().collect();
    all.sort_by_key(|h| (h.module, h.name));
    all
}

/// Every event type linked into the binary, sorted by event type.
pub fn events() -> Vec<&'static EventRegistration> {
    let mut all: Vec<_> = inventory::iter::<EventRegistration>.into_iter().collect();
    all.sort_by_key(|e| (e.event_type, e.type_name));
    all
}

/// A manifest built from what the macros registered (see [`handlers`] and [`events`]).
impl ServiceManifest {
    /// The manifest of the handlers and events linked into this binary, with their own
    /// failure policies.
    pub fn from_registry(name: &str, version: &str) -> Self {
        Self::from_registry_with(name, version, &FailurePolicy::default())
    }

    /// The same, with `failure_defaults` filling what each handler's failure policy
    /// leaves out (the service's `TARS_RETRIES`, `TARS_BACKOFF`, `TARS_DEAD_LETTER_TOPIC`).
    pub fn from_registry_with(name: &str, version: &str, failure_defaults: &FailurePolicy) -> Self {
        let events: Vec<EventInfo> = events()
            .into_iter()
            .map(|e| EventInfo {
                type_name: e.type_name.to_owned(),
                topic: e.topic.to_owned(),
                event_type: e.event_type.to_owned(),
                qos: e.qos as u8,
                retain: e.retain,
                reply_to: e.reply_to.map(str::to_owned),
                schema: e.schema.map(|schema| schema()),
            })
            .collect();
        Self {
            name: name.to_owned(),
            version: version.to_owned(),
            handlers: handlers()
                .into_iter()
                .map(|h| HandlerInfo {
                    name: h.name.to_owned(),
                    filter: h.filter.to_owned(),
                    qos: h.qos as u8,
                    share: h.share.map(str::to_owned),
                    segments: h.segments.iter().map(|s| (*s).to_owned()).collect(),
                    event_type: h.event_type.map(str::to_owned),
                    reply: h.reply.map(|(topic, event_type)| TopicEvent {
                        topic: topic.to_owned(),
                        event_type: event_type.to_owned(),
                    }),
                    failure: Some(h.options.failure.or(failure_defaults).effective())
                        .filter(EffectivePolicy::is_active),
                    group: h.options.group.as_deref().map(str::to_owned),
                    batch: h.batch.map(BatchInfo::from),
                })
                .collect(),
            event_types: events.iter().map(|e| e.event_type.clone()).collect(),
            events,
            mqtt_version: None,
            broker: None,
            metrics_addr: None,
            started_at: crate::now_ts(),
        }
    }
}
