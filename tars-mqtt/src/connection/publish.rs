//! The outbound half of the session: checks a publish (topic, size, state of the
//! connection) and hands it to the writer, on the data lane or, for health, ahead of it.
//! The API (`Client`, `Context`) publishes through it.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::mpsc;

use super::wire::{Delivery, PublishPacket, Receipt};
use super::{Connection, Counters};
use crate::contract::envelope::{self, new_id, new_id_in};
use crate::telemetry::trace::{self, TraceContext};
use crate::topic::validate_topic_name;
use crate::{Error, Event, MqttVersion, Properties, QoS, Result};

/// The log target of publishing (`RUST_LOG=info,tars::publish=debug` logs every
/// publish), kept whatever module the code lives in.
const LOG_TARGET: &str = "tars::publish";

/// How an envelope is published: correlation, QoS, retain, and under MQTT 5 user
/// properties and message expiry.
///
/// ```
/// use tars::{PublishOptions, QoS};
///
/// let reply = PublishOptions::new().qos(QoS::AtLeastOnce).correlation_id("4f1c…");
/// assert_eq!(reply.qos, QoS::AtLeastOnce);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublishOptions {
    /// Used as the envelope `id` (the Python stack's `correlate`), so that a reply
    /// carries the id of the request it answers. A fresh id when `None`.
    pub correlation_id: Option<String>,
    /// QoS of the publish (default 0).
    pub qos: QoS,
    /// Whether the broker retains it (default false).
    pub retain: bool,
    /// MQTT 5 user properties (not sent under 3.1.1).
    pub user_properties: Vec<(String, String)>,
    /// MQTT 5 message expiry: the broker drops the message for a subscriber that has not
    /// received it by then (not sent under 3.1.1).
    pub message_expiry: Option<Duration>,
    /// MQTT 5 response topic: where a request's answer should go (not sent under 3.1.1).
    pub response_topic: Option<String>,
    /// MQTT 5 correlation data, sent back with the answer (not sent under 3.1.1).
    pub correlation_data: Option<Bytes>,
    /// The envelope's `source`; `None`: the client's (`MQTT_SOURCE_NAME`).
    pub source: Option<String>,
}

impl Default for PublishOptions {
    fn default() -> Self {
        Self {
            correlation_id: None,
            qos: QoS::AtMostOnce,
            retain: false,
            user_properties: Vec::new(),
            message_expiry: None,
            response_topic: None,
            correlation_data: None,
            source: None,
        }
    }
}

impl PublishOptions {
    /// QoS 0, not retained, fresh id.
    pub fn new() -> Self {
        Self::default()
    }
    /// Sets the correlation id (the envelope id of the request being answered).
    pub fn correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }
    /// Sets the QoS.
    pub fn qos(mut self, qos: QoS) -> Self {
        self.qos = qos;
        self
    }
    /// Sets the retain flag.
    pub fn retain(mut self, retain: bool) -> Self {
        self.retain = retain;
        self
    }
    /// Adds an MQTT 5 user property.
    pub fn user_property(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.user_properties.push((name.into(), value.into()));
        self
    }
    /// Sets the MQTT 5 message expiry (whole seconds on the wire, rounded up).
    pub fn message_expiry(mut self, expiry: Duration) -> Self {
        self.message_expiry = Some(expiry);
        self
    }

    /// Sets the envelope's `source` for this publish: a py-tars port speaks as the
    /// Python service did (its router's events say `router`, its health the client id).
    pub fn source(mut self, source: impl Into<String>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Sets the MQTT 5 response topic and correlation data of a request.
    pub fn response_topic(mut self, topic: impl Into<String>, correlation_data: Bytes) -> Self {
        self.response_topic = Some(topic.into());
        self.correlation_data = Some(correlation_data);
        self
    }

    /// The MQTT 5 properties of an envelope published with these options.
    fn envelope_properties(self) -> Arc<Properties> {
        let plain = self.user_properties.is_empty()
            && self.message_expiry.is_none()
            && self.response_topic.is_none()
            && self.correlation_data.is_none();
        if plain {
            return Properties::envelope();
        }
        Arc::new(Properties {
            user: self.user_properties,
            response_topic: self.response_topic,
            correlation_data: self.correlation_data,
            message_expiry: self.message_expiry,
            ..Properties::json()
        })
    }
}

/// Where a reply goes, and what it carries, when its MQTT 5 request named a response
/// topic.
pub(crate) struct ResponseTo<'a> {
    pub(crate) topic: &'a str,
    pub(crate) correlation_data: Option<&'a Bytes>,
}

/// The MQTT "remaining length" of a PUBLISH, which the max packet size bounds.
fn publish_len(topic_len: usize, payload_len: usize, qos: QoS) -> usize {
    let packet_id = if qos == QoS::AtMostOnce { 0 } else { 2 };
    2 + topic_len + packet_id + payload_len
}

pub(crate) async fn publish_bytes(
    connection: &Connection,
    topic: &str,
    qos: QoS,
    retain: bool,
    payload: Vec<u8>,
) -> Result<()> {
    publish_payload(connection, topic, qos, retain, Bytes::from(payload)).await
}

/// Checks the topic, then hands the PUBLISH to the writer's data lane.
async fn publish_payload(
    connection: &Connection,
    topic: &str,
    qos: QoS,
    retain: bool,
    payload: Bytes,
) -> Result<()> {
    send(connection, checked_packet(topic, qos, retain, payload)?).await?;
    if connection.config.metrics_on() {
        connection.events.published("");
    }
    Ok(())
}

/// A PUBLISH on a topic given at run time, once the topic is checked.
fn checked_packet(topic: &str, qos: QoS, retain: bool, payload: Bytes) -> Result<PublishPacket> {
    validate_topic_name(topic).map_err(|source| Error::InvalidTopic {
        topic: topic.to_owned(),
        source,
    })?;
    Ok(PublishPacket::new(topic, qos, retain, payload))
}

/// Hands a PUBLISH to the data lane: waits while the lane is full, drops a QoS 0 one
/// while disconnected (QoS 1/2 wait for the connection).
pub(crate) async fn send(connection: &Connection, mut publish: PublishPacket) -> Result<()> {
    if v5(connection) {
        publish.trace = trace_for(publish.properties.as_deref());
    }
    let properties_len = publish
        .properties
        .as_deref()
        .map_or(0, Properties::wire_len)
        + publish.trace.as_deref().map_or(0, TraceContext::wire_len);
    let size =
        publish_len(publish.topic.len(), publish.payload.len(), publish.qos) + properties_len;
    let status = connection.status();
    let broker_max = status
        .broker_max_packet
        .map_or(usize::MAX, |max| max as usize);
    // The broker counts the fixed header too (at most 5 bytes).
    let max = connection
        .config
        .max_packet_size()
        .min(broker_max.saturating_sub(5));
    if size > max {
        return Err(Error::PacketTooLarge { size, max });
    }
    if status.stopped {
        return Err(Error::Closed);
    }
    if publish.qos == QoS::AtMostOnce && !status.connected {
        // At most once: nothing waits for a connection (QoS 1/2 do, in the outbox).
        Counters::bump(&connection.counters.dropped_offline);
        if let Some(receipt) = &publish.receipt {
            receipt.deliver(Delivery::NotSent);
        }
        tracing::debug!(
            target: LOG_TARGET,
            topic = publish.topic(),
            "not connected: QoS 0 publish dropped"
        );
        return Ok(());
    }
    if let Some(durable) = &connection.durable {
        if publish.qos != QoS::AtMostOnce {
            // Kept on disk; the outbox's feeder hands it to the lane in order.
            return durable.keep(publish).await;
        }
    }
    // Room in the lane is the common case: no waiting machinery then.
    match connection.data.try_send(publish) {
        Ok(()) => Ok(()),
        Err(mpsc::error::TrySendError::Full(publish)) => connection
            .data
            .send(publish)
            .await
            .map_err(|_| Error::Closed),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::Closed),
    }
}

/// Where an envelope goes.
#[derive(Clone, Copy)]
enum TopicName<'a> {
    /// An event's topic: checked at compile time by `#[derive(Event)]`, never copied.
    Event(&'static str),
    /// A topic given at run time: checked now.
    Given(&'a str),
}

impl TopicName<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Event(topic) => topic,
            Self::Given(topic) => topic,
        }
    }
}

/// Publishes `data` in an envelope; returns the envelope id (fresh, or the correlation
/// id of `options`).
pub(crate) async fn publish_envelope<D: Serialize + ?Sized>(
    connection: &Connection,
    topic: &str,
    event_type: &str,
    data: &D,
    mut options: PublishOptions,
) -> Result<String> {
    let (qos, retain) = (options.qos, options.retain);
    let id = options.correlation_id.take().unwrap_or_else(new_id);
    let source = options.source.take();
    let properties = v5(connection).then(|| options.envelope_properties());
    let target = Target {
        topic: TopicName::Given(topic),
        qos,
        retain,
        properties,
        receipt: None,
        source: source.as_deref(),
    };
    send_envelope(connection, target, event_type, data, &id).await?;
    Ok(id)
}

/// Publishes `data` in a fresh envelope at QoS 1; returns its id and the receipt the
/// broker's acknowledgement delivers (across reconnects).
pub(crate) async fn publish_envelope_tracked<D: Serialize + ?Sized>(
    connection: &Connection,
    topic: &str,
    event_type: &str,
    data: &D,
) -> Result<(String, Receipt)> {
    let id = new_id();
    let receipt = Receipt::default();
    let target = Target {
        topic: TopicName::Given(topic),
        qos: QoS::AtLeastOnce,
        retain: false,
        properties: v5(connection).then(Properties::envelope),
        receipt: Some(receipt.clone()),
        source: None,
    };
    send_envelope(connection, target, event_type, data, &id).await?;
    Ok((id, receipt))
}

/// Publishes a typed event with a fresh id, or with `correlation_id` (a reply).
pub(crate) async fn publish_event<E: Event + Serialize>(
    connection: &Connection,
    event: &E,
    correlation_id: Option<&str>,
) -> Result<()> {
    let mut fresh = [0u8; uuid::fmt::Simple::LENGTH];
    let id = match correlation_id {
        Some(id) => id,
        None => new_id_in(&mut fresh),
    };
    let target = Target {
        topic: TopicName::Event(E::TOPIC),
        qos: E::QOS,
        retain: E::RETAIN,
        properties: v5(connection).then(event_properties::<E>),
        receipt: None,
        source: None,
    };
    send_envelope(connection, target, E::EVENT_TYPE, event, id).await
}

/// What [`Client::publish_confirmed`](crate::Client::publish_confirmed) learned of a
/// publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Confirmation {
    /// QoS 1/2: the broker acknowledged it (PUBACK, or PUBCOMP for QoS 2).
    Acknowledged,
    /// MQTT 5: acknowledged with reason code 0x10, "no matching subscribers": the broker
    /// took it and nobody subscribes to its topic now.
    NoSubscribers,
    /// QoS 0: written to the socket; the broker answers nothing at QoS 0.
    Written,
}

/// Publishes a typed event and waits until the broker answered it (QoS 1/2) or it was
/// written to the socket (QoS 0). A refusal (MQTT 5 reason code) is an error naming it.
pub(crate) async fn publish_event_confirmed<E: Event + Serialize>(
    connection: &Connection,
    event: &E,
) -> Result<Confirmation> {
    let mut fresh = [0u8; uuid::fmt::Simple::LENGTH];
    let receipt = Receipt::default();
    let target = Target {
        topic: TopicName::Event(E::TOPIC),
        qos: E::QOS,
        retain: E::RETAIN,
        properties: v5(connection).then(event_properties::<E>),
        receipt: Some(receipt.clone()),
        source: None,
    };
    send_envelope(
        connection,
        target,
        E::EVENT_TYPE,
        event,
        new_id_in(&mut fresh),
    )
    .await?;
    let delivery = tokio::select! {
        delivery = receipt.delivered() => delivery,
        () = connection.stopped() => return Err(Error::Closed),
    };
    match delivery {
        Delivery::Acknowledged => Ok(Confirmation::Acknowledged),
        Delivery::NoSubscribers => Ok(Confirmation::NoSubscribers),
        Delivery::Written => Ok(Confirmation::Written),
        Delivery::Refused(reason) => Err(Error::PublishRefused {
            topic: E::TOPIC.to_owned(),
            reason,
        }),
        Delivery::NotSent => Err(Error::NotSent {
            topic: E::TOPIC.to_owned(),
        }),
    }
}

/// Publishes a typed event as the answer to an MQTT 5 request: on the request's
/// response topic, with its correlation data, the envelope id being the request's.
pub(crate) async fn publish_response<E: Event + Serialize>(
    connection: &Connection,
    event: &E,
    request_id: &str,
    to: ResponseTo<'_>,
) -> Result<()> {
    let properties = Properties {
        correlation_data: to.correlation_data.cloned(),
        message_expiry: E::EXPIRY,
        ..Properties::json()
    };
    let target = Target {
        topic: TopicName::Given(to.topic),
        qos: E::QOS,
        retain: false,
        properties: Some(Arc::new(properties)),
        receipt: None,
        source: None,
    };
    send_envelope(connection, target, E::EVENT_TYPE, event, request_id).await
}

/// The trace an MQTT 5 publish carries: the running handler's, or a new one; none when
/// the caller set a `traceparent` of its own.
fn trace_for(properties: Option<&Properties>) -> Option<Box<TraceContext>> {
    let given = properties.is_some_and(|p| p.user_property(trace::TRACEPARENT).is_some());
    (!given).then(|| Box::new(TraceContext::for_publish()))
}

/// The MQTT 5 properties of a typed event's envelope: its content type, and its
/// expiry when the event declares one.
fn event_properties<E: Event>() -> Arc<Properties> {
    match E::EXPIRY {
        None => Properties::envelope(),
        Some(expiry) => Arc::new(Properties {
            message_expiry: Some(expiry),
            ..Properties::json()
        }),
    }
}

/// Whether the connection speaks MQTT 5 (and publishes carry properties).
fn v5(connection: &Connection) -> bool {
    connection.config.mqtt_version() == MqttVersion::V5
}

/// Where and how an envelope is published.
struct Target<'a> {
    topic: TopicName<'a>,
    qos: QoS,
    retain: bool,
    properties: Option<Arc<Properties>>,
    /// Told when the broker has it.
    receipt: Option<Receipt>,
    /// The envelope's `source`, when not the client's.
    source: Option<&'a str>,
}

async fn send_envelope<D: Serialize + ?Sized>(
    connection: &Connection,
    target: Target<'_>,
    event_type: &str,
    data: &D,
    id: &str,
) -> Result<()> {
    let Target {
        topic,
        qos,
        retain,
        properties,
        receipt,
        source,
    } = target;
    let source = source.unwrap_or(connection.config.source_name());
    let payload = envelope::encode_bytes(id, event_type, source, data)?;
    let mut packet = match topic {
        TopicName::Event(topic) => PublishPacket::from_static(topic, qos, retain, payload),
        TopicName::Given(topic) => checked_packet(topic, qos, retain, payload)?,
    };
    if let Some(properties) = properties {
        packet = packet.with_properties(properties);
    }
    packet.receipt = receipt;
    send(connection, packet).await?;
    if connection.config.metrics_on() {
        connection.events.published(event_type);
    }
    tracing::debug!(
        target: LOG_TARGET,
        topic = topic.as_str(),
        event_type,
        envelope_id = id,
        "published"
    );
    Ok(())
}

/// Publishes a retained QoS 1 health status, ahead of data; does nothing when health is
/// off.
pub(crate) async fn publish_health(
    connection: &Connection,
    ok: bool,
    event: Option<&str>,
    err: Option<&str>,
) -> Result<()> {
    if !connection.presence.health_on() {
        tracing::debug!(
            target: LOG_TARGET,
            ok,
            event,
            "health is off (MQTT_ENABLE_HEALTH); not publishing"
        );
        return Ok(());
    }
    if connection.status().stopped {
        return Err(Error::Closed);
    }
    let status = connection.presence.status(ok, event, err)?;
    if !connection.send_urgent(status) {
        return Err(Error::Closed);
    }
    tracing::info!(target: LOG_TARGET, ok, event, err, "published health");
    Ok(())
}
