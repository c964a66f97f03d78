//! The one adapter over the MQTT library (the rumqttc-next family): its transport
//! plumbing opens the byte stream (TCP, TLS, websockets) and its MQTT 3.1.1 packet codec
//! reads and writes packets. Every other module speaks the types below, so the
//! connection's logic does not depend on the library's client or event loop.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use bytestring::ByteString;
use rumqttc::mqttbytes::v4 as codec;
use rumqttc::mqttbytes::Error as CodecError;
use rumqttc_core::{AsyncReadWrite, NetworkOptions};

use crate::config::Transport;
use crate::{Config, QoS};

/// A connected byte stream to the broker.
pub(crate) type Stream = Box<dyn AsyncReadWrite>;

/// The largest packet MQTT 3.1.1 can express: a remaining length of 268,435,455 bytes
/// plus a fixed header of at most 5. Incoming packets are read up to this size, so that
/// a message over our own limit is read and skipped instead of breaking the connection.
pub(crate) const MQTT_MAX_PACKET_SIZE: usize = 268_435_455 + 5;

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
}

impl PublishPacket {
    /// A publish to send, its packet id still to be assigned.
    pub(crate) fn new(topic: &str, qos: QoS, retain: bool, payload: Bytes) -> Self {
        Self {
            topic: Bytes::copy_from_slice(topic.as_bytes()),
            payload,
            qos,
            retain,
            dup: false,
            pkid: 0,
        }
    }

    /// A publish on a topic known at compile time (an event's): no copy of the topic.
    pub(crate) fn from_static(topic: &'static str, qos: QoS, retain: bool, payload: Bytes) -> Self {
        Self {
            topic: Bytes::from_static(topic.as_bytes()),
            payload,
            qos,
            retain,
            dup: false,
            pkid: 0,
        }
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
}

/// The broker's answer for one filter of a SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SubscribeOutcome {
    Granted(QoS),
    /// MQTT 3.1.1 return code 0x80.
    Refused,
}

/// What the broker said to a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnectCode {
    Accepted,
    RefusedProtocolVersion,
    BadClientId,
    ServiceUnavailable,
    BadUserNamePassword,
    NotAuthorized,
}

/// Packets the broker sends a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Incoming {
    ConnAck {
        session_present: bool,
        code: ConnectCode,
    },
    Publish(ReceivedPublish),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    SubAck {
        pkid: u16,
        outcomes: Vec<SubscribeOutcome>,
    },
    UnsubAck(u16),
    PingResp,
    Disconnect,
}

/// Packets a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outgoing {
    Publish(PublishPacket),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16),
    Subscribe {
        pkid: u16,
        filters: Vec<(String, QoS)>,
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

/// Encodes `packet` at the end of `buffer`; an error if it exceeds `max_size`.
pub(crate) fn encode(
    packet: &Outgoing,
    buffer: &mut BytesMut,
    max_size: usize,
) -> Result<(), String> {
    let packet = match packet {
        Outgoing::Publish(p) => codec::Packet::Publish(to_codec_publish(p)),
        Outgoing::PubAck(pkid) => codec::Packet::PubAck(codec::PubAck::new(*pkid)),
        Outgoing::PubRec(pkid) => codec::Packet::PubRec(codec::PubRec::new(*pkid)),
        Outgoing::PubRel(pkid) => codec::Packet::PubRel(codec::PubRel::new(*pkid)),
        Outgoing::PubComp(pkid) => codec::Packet::PubComp(codec::PubComp::new(*pkid)),
        Outgoing::Subscribe { pkid, filters } => {
            let mut subscribe = codec::Subscribe::new_many(
                filters
                    .iter()
                    .map(|(filter, qos)| codec::SubscribeFilter::new(filter.clone(), *qos)),
            );
            subscribe.pkid = *pkid;
            codec::Packet::Subscribe(subscribe)
        }
        Outgoing::PingReq => codec::Packet::PingReq,
        Outgoing::Disconnect => codec::Packet::Disconnect,
    };
    packet
        .write(buffer, max_size)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Encodes a CONNECT.
pub(crate) fn encode_connect(connect: &ConnectPacket, buffer: &mut BytesMut) -> io::Result<()> {
    let mut packet = codec::Connect::new(connect.client_id.clone());
    packet.keep_alive = u16::try_from(connect.keepalive.as_secs()).unwrap_or(u16::MAX);
    packet.clean_session = connect.clean_session;
    match &connect.credentials {
        Some((user, Some(password))) => {
            packet.set_credentials(user.clone(), Bytes::copy_from_slice(password.as_bytes()));
        }
        Some((user, None)) => {
            packet.set_username(user.clone());
        }
        None => {}
    }
    if let Some((topic, payload, qos, retain)) = &connect.will {
        packet.last_will = Some(codec::LastWill {
            topic: topic.clone(),
            message: payload.clone(),
            qos: *qos,
            retain: *retain,
        });
    }
    codec::Packet::Connect(packet)
        .write(buffer, MQTT_MAX_PACKET_SIZE)
        .map(drop)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))
}

/// Decodes the next whole packet at the front of `buffer`; `None` when more bytes are
/// needed (it reserves room for them).
pub(crate) fn decode(buffer: &mut BytesMut) -> Result<Option<Incoming>, ProtocolError> {
    let packet = match codec::Packet::read(buffer, MQTT_MAX_PACKET_SIZE) {
        Ok(packet) => packet,
        Err(CodecError::InsufficientBytes(more)) => {
            buffer.reserve(more);
            return Ok(None);
        }
        Err(error) => return Err(ProtocolError::Malformed(error.to_string())),
    };
    let incoming = match packet {
        codec::Packet::ConnAck(connack) => Incoming::ConnAck {
            session_present: connack.session_present,
            code: connect_code(connack.code),
        },
        codec::Packet::Publish(p) => {
            let topic = ByteString::try_from(p.topic)
                .map_err(|_| ProtocolError::Malformed("topic is not UTF-8".into()))?;
            Incoming::Publish(ReceivedPublish {
                topic,
                payload: p.payload,
                qos: p.qos,
                retain: p.retain,
                pkid: p.pkid,
            })
        }
        codec::Packet::PubAck(ack) => Incoming::PubAck(ack.pkid),
        codec::Packet::PubRec(ack) => Incoming::PubRec(ack.pkid),
        codec::Packet::PubRel(ack) => Incoming::PubRel(ack.pkid),
        codec::Packet::PubComp(ack) => Incoming::PubComp(ack.pkid),
        codec::Packet::SubAck(suback) => Incoming::SubAck {
            pkid: suback.pkid,
            outcomes: suback
                .return_codes
                .into_iter()
                .map(|code| match code {
                    codec::SubscribeReasonCode::Success(qos) => SubscribeOutcome::Granted(qos),
                    codec::SubscribeReasonCode::Failure => SubscribeOutcome::Refused,
                })
                .collect(),
        },
        codec::Packet::UnsubAck(ack) => Incoming::UnsubAck(ack.pkid),
        codec::Packet::PingResp => Incoming::PingResp,
        codec::Packet::Disconnect => Incoming::Disconnect,
        codec::Packet::Connect(_) => return Err(ProtocolError::Unexpected("CONNECT")),
        codec::Packet::Subscribe(_) => return Err(ProtocolError::Unexpected("SUBSCRIBE")),
        codec::Packet::Unsubscribe(_) => return Err(ProtocolError::Unexpected("UNSUBSCRIBE")),
        codec::Packet::PingReq => return Err(ProtocolError::Unexpected("PINGREQ")),
    };
    Ok(Some(incoming))
}

/// A publish built with the library's own type (the escape hatch).
pub(crate) fn from_library(publish: codec::Publish) -> PublishPacket {
    PublishPacket {
        topic: publish.topic,
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        dup: publish.dup,
        pkid: 0,
    }
}

/// A received publish built with the library's own type (the benchmark's input).
#[cfg(feature = "bench")]
pub(crate) fn received_from_library(publish: codec::Publish) -> ReceivedPublish {
    ReceivedPublish {
        // Moved, not cloned: cloning a `Bytes` made from a `Vec` allocates.
        topic: ByteString::try_from(publish.topic).unwrap_or_default(),
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        pkid: publish.pkid,
    }
}

fn to_codec_publish(p: &PublishPacket) -> codec::Publish {
    codec::Publish {
        dup: p.dup,
        qos: p.qos,
        retain: p.retain,
        topic: p.topic.clone(),
        pkid: p.pkid,
        payload: p.payload.clone(),
    }
}

fn connect_code(code: codec::ConnectReturnCode) -> ConnectCode {
    use codec::ConnectReturnCode as C;
    match code {
        C::Success => ConnectCode::Accepted,
        C::RefusedProtocolVersion => ConnectCode::RefusedProtocolVersion,
        C::BadClientId => ConnectCode::BadClientId,
        C::ServiceUnavailable => ConnectCode::ServiceUnavailable,
        C::BadUserNamePassword => ConnectCode::BadUserNamePassword,
        C::NotAuthorized => ConnectCode::NotAuthorized,
    }
}

/// Why the byte stream could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{0}")]
    Io(#[from] io::Error),
    #[error("TLS handshake failed ({0})")]
    Tls(String),
    #[error("websocket handshake failed: {0}")]
    WebSocket(String),
}

/// Opens the byte stream to the broker of `config`: TCP with `TCP_NODELAY` (MQTT packets
/// are small, and a handler's reply must not wait for Nagle's algorithm), then TLS or a
/// websocket as the URL says.
pub(crate) async fn open(
    config: &Config,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Stream, OpenError> {
    let url = config.broker();
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    let address = format!("{}:{}", url.host, url.port);
    let tcp: Stream = Box::new(rumqttc_core::default_socket_connect(address, network).await?);
    let tls_config = || {
        tls.cloned()
            .map(rumqttc_core::TlsConfiguration::Rustls)
            .ok_or_else(|| OpenError::Tls("no TLS configuration".into()))
    };
    match url.transport {
        Transport::Tcp => Ok(tcp),
        Transport::Tls => rumqttc_core::tls_connect(&url.host, url.port, &tls_config()?, tcp)
            .await
            .map_err(|e| OpenError::Tls(e.to_string())),
        Transport::Ws => websocket(url.websocket_url(), tcp).await,
        Transport::Wss => {
            let secure = rumqttc_core::tls_connect(&url.host, url.port, &tls_config()?, tcp)
                .await
                .map_err(|e| OpenError::Tls(e.to_string()))?;
            websocket(url.websocket_url(), secure).await
        }
    }
}

/// The websocket handshake (subprotocol `mqtt`) over an open stream.
async fn websocket(url: String, stream: Stream) -> Result<Stream, OpenError> {
    use async_tungstenite::tungstenite::client::IntoClientRequest;

    let mut request = url
        .into_client_request()
        .map_err(|e| OpenError::WebSocket(e.to_string()))?;
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        async_tungstenite::tungstenite::http::HeaderValue::from_static("mqtt"),
    );
    let (socket, response) = async_tungstenite::tokio::client_async(request, stream)
        .await
        .map_err(|e| OpenError::WebSocket(e.to_string()))?;
    rumqttc_core::validate_response_headers(&response)
        .map_err(|e| OpenError::WebSocket(e.to_string()))?;
    Ok(Box::new(rumqttc_core::WsAdapter::new(socket)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip_publish(qos: QoS, pkid: u16) -> PublishPacket {
        let mut publish = PublishPacket::new("a/b", qos, true, Bytes::from_static(b"{}"));
        publish.pkid = pkid;
        publish
    }

    #[test]
    fn a_publish_reads_back_as_written() {
        let publish = roundtrip_publish(QoS::AtLeastOnce, 7);
        let mut buffer = BytesMut::new();
        encode(&Outgoing::Publish(publish), &mut buffer, 1024).unwrap();
        let expected = ReceivedPublish {
            topic: "a/b".into(),
            payload: Bytes::from_static(b"{}"),
            qos: QoS::AtLeastOnce,
            retain: true,
            pkid: 7,
        };
        assert_eq!(
            decode(&mut buffer).unwrap(),
            Some(Incoming::Publish(expected))
        );
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_partial_packet_asks_for_more_bytes_and_keeps_them() {
        let mut buffer = BytesMut::new();
        let publish = roundtrip_publish(QoS::AtMostOnce, 0);
        encode(&Outgoing::Publish(publish), &mut buffer, 1024).unwrap();
        let whole = buffer.len();
        buffer.truncate(whole - 1);
        assert_eq!(decode(&mut buffer).unwrap(), None);
        assert_eq!(buffer.len(), whole - 1);
    }

    #[test]
    fn an_outgoing_packet_over_the_limit_is_refused() {
        let mut buffer = BytesMut::new();
        let publish = PublishPacket::new("t", QoS::AtMostOnce, false, vec![0; 100].into());
        assert!(encode(&Outgoing::Publish(publish), &mut buffer, 50).is_err());
    }

    #[test]
    fn a_client_only_packet_from_the_broker_is_a_protocol_error() {
        let mut buffer = BytesMut::from(&[0xC0u8, 0x00][..]); // PINGREQ
        assert!(matches!(
            decode(&mut buffer),
            Err(ProtocolError::Unexpected("PINGREQ"))
        ));
    }

    #[test]
    fn a_refused_filter_reads_as_refused() {
        // SUBACK, pkid 3, return codes: QoS 1 granted, 0x80 failure.
        let mut buffer = BytesMut::from(&[0x90u8, 0x04, 0x00, 0x03, 0x01, 0x80][..]);
        assert_eq!(
            decode(&mut buffer).unwrap(),
            Some(Incoming::SubAck {
                pkid: 3,
                outcomes: vec![
                    SubscribeOutcome::Granted(QoS::AtLeastOnce),
                    SubscribeOutcome::Refused
                ],
            })
        );
    }
}
