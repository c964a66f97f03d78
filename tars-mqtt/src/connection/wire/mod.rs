//! The one adapter over the MQTT library (the rumqttc-next family): its transport
//! plumbing opens the byte stream (TCP, TLS, websockets; [`transport`]) and its packet
//! codecs, MQTT 3.1.1 ([`v4`]) and MQTT 5 ([`v5`]), read and write packets. Every other
//! module speaks the types below, so the connection's logic depends neither on the
//! library's client nor on the protocol version.

mod transport;
mod v4;
mod v5;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use rumqttc_core::AsyncReadWrite;

use crate::telemetry::trace::TraceContext;
use crate::{MqttVersion, Properties, QoS};

pub(crate) use transport::{open, OpenError};

/// A connected byte stream to the broker.
pub(crate) type Stream = Box<dyn AsyncReadWrite>;

/// The largest packet MQTT can express: a remaining length of 268,435,455 bytes plus a
/// fixed header of at most 5. Incoming packets are read up to this size, so that a
/// message over our own limit is read and skipped instead of breaking the connection.
pub(crate) const MQTT_MAX_PACKET_SIZE: usize = 268_435_455 + 5;

/// What became of a publish whose publisher waits on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// QoS 1/2: the broker acknowledged it (PUBACK, or PUBCOMP).
    Acknowledged,
    /// MQTT 5: acknowledged with 0x10, no subscription matched it.
    NoSubscribers,
    /// MQTT 5: the broker answered with a refusal, named in words ("not authorized").
    Refused(String),
    /// QoS 0: written to the socket.
    Written,
    /// QoS 0: never written (not connected, or the connection failed first).
    NotSent,
}

/// Tells a waiting publisher what the broker did with its publish (on whichever
/// connection that happened: a kept publish carries it along).
#[derive(Debug, Clone, Default)]
pub(crate) struct Receipt(Arc<ReceiptState>);

#[derive(Debug, Default)]
struct ReceiptState {
    outcome: std::sync::OnceLock<Delivery>,
    told: tokio::sync::Notify,
}

impl Receipt {
    /// The publish's fate is known; only the first outcome counts.
    pub(crate) fn deliver(&self, outcome: Delivery) {
        if self.0.outcome.set(outcome).is_ok() {
            self.0.told.notify_waiters();
        }
    }

    /// Waits until the publish's fate is known.
    pub(crate) async fn delivered(&self) -> Delivery {
        loop {
            let told = self.0.told.notified();
            tokio::pin!(told);
            told.as_mut().enable();
            if let Some(outcome) = self.0.outcome.get() {
                return outcome.clone();
            }
            told.await;
        }
    }
}

impl PartialEq for Receipt {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Receipt {}

/// A PUBLISH to send. The topic is kept as bytes (valid UTF-8), so that keeping a copy
/// for a resend costs no allocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublishPacket {
    pub(crate) topic: Bytes,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) dup: bool,
    /// 0 for QoS 0; assigned by the outbox for QoS 1/2.
    pub(crate) pkid: u16,
    /// MQTT 5 properties; not sent under 3.1.1.
    pub(crate) properties: Option<Arc<Properties>>,
    /// MQTT 5: the trace it carries as `traceparent`/`tracestate` user properties
    /// (added at encoding, so that the shared properties stay shared). Boxed: a
    /// 3.1.1 publish carries one pointer for it.
    pub(crate) trace: Option<Box<TraceContext>>,
    /// Told when the broker acknowledged it (QoS 1/2), for a publisher that waits.
    pub(crate) receipt: Option<Receipt>,
    /// Its sequence number in the durable outbox, when it is kept there.
    pub(crate) durable: Option<std::num::NonZeroU64>,
}

impl PublishPacket {
    /// A publish to send, its packet id still to be assigned.
    pub(crate) fn new(topic: &str, qos: QoS, retain: bool, payload: Bytes) -> Self {
        Self::with_topic(
            Bytes::copy_from_slice(topic.as_bytes()),
            qos,
            retain,
            payload,
        )
    }

    /// A publish read back from the durable outbox (its topic checked when kept).
    pub(crate) fn from_stored(topic: Bytes, qos: QoS, retain: bool, payload: Bytes) -> Self {
        Self::with_topic(topic, qos, retain, payload)
    }

    /// A publish on a topic known at compile time (an event's): no copy of the topic.
    pub(crate) fn from_static(topic: &'static str, qos: QoS, retain: bool, payload: Bytes) -> Self {
        Self::with_topic(Bytes::from_static(topic.as_bytes()), qos, retain, payload)
    }

    fn with_topic(topic: Bytes, qos: QoS, retain: bool, payload: Bytes) -> Self {
        Self {
            topic,
            payload,
            qos,
            retain,
            dup: false,
            pkid: 0,
            properties: None,
            trace: None,
            receipt: None,
            durable: None,
        }
    }

    /// The same publish with MQTT 5 properties.
    pub(crate) fn with_properties(mut self, properties: Arc<Properties>) -> Self {
        self.properties = Some(properties);
        self
    }

    /// The topic as text.
    pub(crate) fn topic(&self) -> &str {
        std::str::from_utf8(&self.topic).unwrap_or("")
    }
}

/// A PUBLISH the broker sent. The topic shares the read buffer's memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReceivedPublish {
    pub(crate) topic: ByteString,
    pub(crate) payload: Bytes,
    pub(crate) qos: QoS,
    pub(crate) retain: bool,
    pub(crate) pkid: u16,
    /// MQTT 5 properties, when the message had any.
    pub(crate) properties: Option<Box<Properties>>,
    /// MQTT 5: the identifiers of the subscriptions that sent it (none under 3.1.1, or
    /// when the subscriptions had none).
    pub(crate) subscription_ids: Vec<usize>,
}

/// What a PUBACK or PUBREC says: always `Accepted` under 3.1.1; under MQTT 5 its
/// reason code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PubAnswer {
    Accepted,
    /// MQTT 5, 0x10: accepted, and no subscription matched it.
    NoSubscribers,
    /// MQTT 5, 0x80 or more: refused, the reason code in words.
    Refused(String),
}

/// The broker's answer for one filter of a SUBSCRIBE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SubscribeOutcome {
    Granted(QoS),
    /// Refused, with the broker's reason: "failure (0x80)" under 3.1.1, the reason
    /// code's name under MQTT 5 ("not authorized").
    Refused(String),
}

/// What the broker said to a CONNECT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ConnectCode {
    Accepted,
    RefusedProtocolVersion,
    BadClientId,
    ServiceUnavailable,
    BadUserNamePassword,
    NotAuthorized,
    /// Another MQTT 5 reason, by name.
    Refused(String),
    /// MQTT 5 "use another server" or "server moved", with the Server Reference.
    Redirect {
        reason: String,
        reference: String,
    },
}

/// What the broker granted in its CONNACK (MQTT 5; unlimited under 3.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct ServerLimits {
    /// How many QoS 1/2 publishes may await their acknowledgement at once.
    pub(crate) receive_maximum: Option<u16>,
    /// The largest packet the broker accepts, in bytes.
    pub(crate) max_packet_size: Option<u32>,
    /// How many topic aliases the broker takes from this client.
    pub(crate) topic_alias_max: Option<u16>,
    /// The broker takes subscription identifiers (MQTT 5, unless its CONNACK says not).
    pub(crate) subscription_identifiers: bool,
}

/// Packets the broker sends a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    ConnAck {
        session_present: bool,
        code: ConnectCode,
        limits: ServerLimits,
    },
    Publish(ReceivedPublish),
    /// MQTT 5: a DISCONNECT with "use another server" or "server moved", and the Server
    /// Reference it names.
    Redirect {
        reason: String,
        reference: String,
    },
    /// A PUBACK, with what the broker said of the message.
    PubAck(u16, PubAnswer),
    /// A PUBREC (QoS 2), the same.
    PubRec(u16, PubAnswer),
    PubRel(u16),
    PubComp(u16),
    SubAck {
        pkid: u16,
        outcomes: Vec<SubscribeOutcome>,
    },
    UnsubAck(u16),
    PingResp,
    /// The broker closes the connection; under MQTT 5 with its reason.
    Disconnect(Option<String>),
}

/// Packets a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    Publish(PublishPacket),
    /// MQTT 5: a publish by its topic alias, with the topic only when the alias is new.
    AliasedPublish {
        publish: PublishPacket,
        alias: u16,
        with_topic: bool,
    },
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        pkid: u16,
        filters: Vec<super::Filter>,
        /// MQTT 5: the packet's subscription identifier.
        identifier: Option<u32>,
    },
    PingReq,
    Disconnect,
}

/// The CONNECT packet's contents.
#[derive(Debug, Clone)]
pub(crate) struct ConnectPacket {
    pub(crate) client_id: String,
    pub(crate) keepalive: Duration,
    pub(crate) clean_session: bool,
    /// MQTT 5: how long the broker keeps the session once the connection is gone.
    pub(crate) session_expiry: Duration,
    /// MQTT 5: the largest packet this client accepts.
    pub(crate) max_packet_size: usize,
    /// MQTT 5: the most unacknowledged QoS 1/2 messages the broker may send at once.
    pub(crate) receive_maximum: u16,
    pub(crate) credentials: Option<(String, Option<String>)>,
    /// Topic, payload, QoS, retain.
    pub(crate) will: Option<(String, Bytes, QoS, bool)>,
}

/// Why a packet could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProtocolError {
    #[error("malformed packet from the broker: {0}")]
    Malformed(String),
    #[error("unexpected packet from the broker: {0}")]
    Unexpected(&'static str),
}

/// Why a packet could not be encoded (it exceeds the largest packet size).
#[derive(Debug, thiserror::Error)]
#[error("could not encode a packet: {0}")]
pub(crate) struct EncodeError(pub(crate) String);

/// Encodes `packet` at the end of `buffer`; an error if it exceeds `max_size`.
pub(crate) fn encode(
    version: MqttVersion,
    packet: &Outgoing,
    buffer: &mut BytesMut,
    max_size: usize,
) -> Result<(), EncodeError> {
    match version {
        MqttVersion::V3_1_1 => v4::encode(packet, buffer, max_size),
        MqttVersion::V5 => v5::encode(packet, buffer, max_size),
    }
}

/// Encodes a CONNECT.
pub(crate) fn encode_connect(
    version: MqttVersion,
    connect: &ConnectPacket,
    buffer: &mut BytesMut,
) -> std::io::Result<()> {
    match version {
        MqttVersion::V3_1_1 => v4::encode_connect(connect, buffer),
        MqttVersion::V5 => v5::encode_connect(connect, buffer),
    }
}

/// Decodes the next whole packet at the front of `buffer`; `None` when more bytes are
/// needed (it reserves room for them).
pub(crate) fn decode(
    version: MqttVersion,
    buffer: &mut BytesMut,
) -> Result<Option<Incoming>, ProtocolError> {
    match version {
        MqttVersion::V3_1_1 => v4::decode(buffer),
        MqttVersion::V5 => v5::decode(buffer),
    }
}

/// A publish built with the library's own (3.1.1) type: the escape hatch.
pub(crate) fn from_library(publish: rumqttc::mqttbytes::v4::Publish) -> PublishPacket {
    PublishPacket {
        topic: publish.topic,
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        dup: publish.dup,
        pkid: 0,
        properties: None,
        trace: None,
        receipt: None,
        durable: None,
    }
}

/// A received publish built with the library's own type (the benchmark's input).
#[cfg(feature = "bench")]
pub(crate) fn received_from_library(publish: rumqttc::mqttbytes::v4::Publish) -> ReceivedPublish {
    ReceivedPublish {
        // Moved, not cloned: cloning a `Bytes` made from a `Vec` allocates.
        topic: ByteString::try_from(publish.topic).unwrap_or_default(),
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        pkid: publish.pkid,
        properties: None,
        subscription_ids: Vec::new(),
    }
}

/// The topic of a received publish as text; the codec checked it is UTF-8.
fn topic_text(topic: Bytes) -> Result<ByteString, ProtocolError> {
    ByteString::try_from(topic).map_err(|_| ProtocolError::Malformed("topic is not UTF-8".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_publish(qos: QoS, pkid: u16) -> PublishPacket {
        let mut publish = PublishPacket::new("a/b", qos, true, Bytes::from_static(b"{}"));
        publish.pkid = pkid;
        publish
    }

    const BOTH: [MqttVersion; 2] = [MqttVersion::V3_1_1, MqttVersion::V5];

    #[test]
    fn a_publish_reads_back_as_written() {
        for version in BOTH {
            a_publish_reads_back_as_written_in(version);
        }
    }

    fn a_publish_reads_back_as_written_in(version: MqttVersion) {
        let publish = roundtrip_publish(QoS::AtLeastOnce, 7);
        let mut buffer = BytesMut::new();
        encode(version, &Outgoing::Publish(publish), &mut buffer, 1024).unwrap();
        let expected = ReceivedPublish {
            topic: "a/b".into(),
            payload: Bytes::from_static(b"{}"),
            qos: QoS::AtLeastOnce,
            retain: true,
            pkid: 7,
            properties: None,
            subscription_ids: Vec::new(),
        };
        assert_eq!(
            decode(version, &mut buffer).unwrap(),
            Some(Incoming::Publish(expected))
        );
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_partial_packet_asks_for_more_bytes_and_keeps_them() {
        for version in BOTH {
            a_partial_packet_asks_for_more_bytes_in(version);
        }
    }

    fn a_partial_packet_asks_for_more_bytes_in(version: MqttVersion) {
        let mut buffer = BytesMut::new();
        let publish = roundtrip_publish(QoS::AtMostOnce, 0);
        encode(version, &Outgoing::Publish(publish), &mut buffer, 1024).unwrap();
        let whole = buffer.len();
        buffer.truncate(whole - 1);
        assert_eq!(decode(version, &mut buffer).unwrap(), None);
        assert_eq!(buffer.len(), whole - 1);
    }

    #[test]
    fn an_outgoing_packet_over_the_limit_is_refused() {
        for version in BOTH {
            let mut buffer = BytesMut::new();
            let publish = PublishPacket::new("t", QoS::AtMostOnce, false, vec![0; 100].into());
            assert!(encode(version, &Outgoing::Publish(publish), &mut buffer, 50).is_err());
        }
    }

    #[test]
    fn a_client_only_packet_from_the_broker_is_a_protocol_error() {
        let version = MqttVersion::V3_1_1;
        let mut buffer = BytesMut::from(&[0xC0u8, 0x00][..]); // PINGREQ
        assert!(matches!(
            decode(version, &mut buffer),
            Err(ProtocolError::Unexpected("PINGREQ"))
        ));
    }

    #[test]
    fn a_refused_filter_reads_as_refused() {
        let version = MqttVersion::V3_1_1;
        // SUBACK, pkid 3, return codes: QoS 1 granted, 0x80 failure.
        let mut buffer = BytesMut::from(&[0x90u8, 0x04, 0x00, 0x03, 0x01, 0x80][..]);
        assert_eq!(
            decode(version, &mut buffer).unwrap(),
            Some(Incoming::SubAck {
                pkid: 3,
                outcomes: vec![
                    SubscribeOutcome::Granted(QoS::AtLeastOnce),
                    SubscribeOutcome::Refused("failure (0x80)".into())
                ],
            })
        );
    }
}
