//! MQTT 3.1.1 through the rumqttc-v4-next codec. There are no properties on this wire:
//! those of a publish are left out.

use bytes::{Bytes, BytesMut};
use rumqttc::mqttbytes::v4 as codec;
use rumqttc::mqttbytes::Error as CodecError;

use super::{
    topic_text, ConnectCode, ConnectPacket, EncodeError, Incoming, Outgoing, ProtocolError,
    PubAnswer, PublishPacket, ReceivedPublish, ServerLimits, SubscribeOutcome,
    MQTT_MAX_PACKET_SIZE,
};

pub(super) fn encode(
    packet: &Outgoing,
    buffer: &mut BytesMut,
    max_size: usize,
) -> Result<(), EncodeError> {
    let packet = match packet {
        // 3.1.1 has no aliases: the writer never asks for one.
        Outgoing::Publish(p) | Outgoing::AliasedPublish { publish: p, .. } => {
            codec::Packet::Publish(publish(p))
        }
        Outgoing::PubAck(pkid) => codec::Packet::PubAck(codec::PubAck::new(*pkid)),
        Outgoing::PubRec(pkid) => codec::Packet::PubRec(codec::PubRec::new(*pkid)),
        Outgoing::PubRel(pkid) => codec::Packet::PubRel(codec::PubRel::new(*pkid)),
        Outgoing::PubComp(pkid) => codec::Packet::PubComp(codec::PubComp::new(*pkid)),
        // 3.1.1 has no subscription options and no identifiers.
        Outgoing::Subscribe { pkid, filters, .. } => {
            let mut subscribe = codec::Subscribe::new_many(
                filters
                    .iter()
                    .map(|f| codec::SubscribeFilter::new(f.filter.clone(), f.qos)),
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
        .map_err(|e| EncodeError(e.to_string()))
}

pub(super) fn encode_connect(
    connect: &ConnectPacket,
    buffer: &mut BytesMut,
) -> std::io::Result<()> {
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
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
}

pub(super) fn decode(buffer: &mut BytesMut) -> Result<Option<Incoming>, ProtocolError> {
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
            limits: ServerLimits::default(),
        },
        codec::Packet::Publish(p) => Incoming::Publish(ReceivedPublish {
            topic: topic_text(p.topic)?,
            payload: p.payload,
            qos: p.qos,
            retain: p.retain,
            pkid: p.pkid,
            properties: None,
            subscription_ids: Vec::new(),
        }),
        codec::Packet::PubAck(ack) => Incoming::PubAck(ack.pkid, PubAnswer::Accepted),
        codec::Packet::PubRec(ack) => Incoming::PubRec(ack.pkid, PubAnswer::Accepted),
        codec::Packet::PubRel(ack) => Incoming::PubRel(ack.pkid),
        codec::Packet::PubComp(ack) => Incoming::PubComp(ack.pkid),
        codec::Packet::SubAck(suback) => Incoming::SubAck {
            pkid: suback.pkid,
            outcomes: suback
                .return_codes
                .into_iter()
                .map(|code| match code {
                    codec::SubscribeReasonCode::Success(qos) => SubscribeOutcome::Granted(qos),
                    codec::SubscribeReasonCode::Failure => {
                        SubscribeOutcome::Refused("failure (0x80)".into())
                    }
                })
                .collect(),
        },
        codec::Packet::UnsubAck(ack) => Incoming::UnsubAck(ack.pkid),
        codec::Packet::PingResp => Incoming::PingResp,
        codec::Packet::Disconnect => Incoming::Disconnect(None),
        codec::Packet::Connect(_) => return Err(ProtocolError::Unexpected("CONNECT")),
        codec::Packet::Subscribe(_) => return Err(ProtocolError::Unexpected("SUBSCRIBE")),
        codec::Packet::Unsubscribe(_) => return Err(ProtocolError::Unexpected("UNSUBSCRIBE")),
        codec::Packet::PingReq => return Err(ProtocolError::Unexpected("PINGREQ")),
    };
    Ok(Some(incoming))
}

fn publish(p: &PublishPacket) -> codec::Publish {
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
