//! MQTT 5 through the rumqttc-v5-next codec: the same packets as 3.1.1 plus message
//! properties, session expiry, the broker's limits and reason codes.

use std::fmt::Debug;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use rumqttc_v5::mqttbytes::v5 as codec;
use rumqttc_v5::mqttbytes::Error as CodecError;

use super::{
    topic_text, ConnectCode, ConnectPacket, EncodeError, Incoming, Outgoing, ProtocolError,
    PubAnswer, PublishPacket, ReceivedPublish, ServerLimits, SubscribeOutcome,
    MQTT_MAX_PACKET_SIZE,
};
use crate::telemetry::trace::{TraceContext, TRACEPARENT, TRACESTATE};
use crate::Properties;

pub(super) fn encode(
    packet: &Outgoing,
    buffer: &mut BytesMut,
    max_size: usize,
) -> Result<(), EncodeError> {
    let packet = match packet {
        Outgoing::Publish(p) => codec::Packet::Publish(publish(p)),
        Outgoing::AliasedPublish {
            publish,
            alias,
            with_topic,
        } => codec::Packet::Publish(aliased_publish(publish, *alias, *with_topic)),
        Outgoing::PubAck(pkid) => codec::Packet::PubAck(codec::PubAck::new(*pkid, None)),
        Outgoing::PubRec(pkid) => codec::Packet::PubRec(codec::PubRec::new(*pkid, None)),
        Outgoing::PubRel(pkid) => codec::Packet::PubRel(codec::PubRel::new(*pkid, None)),
        Outgoing::PubComp(pkid) => codec::Packet::PubComp(codec::PubComp::new(*pkid, None)),
        Outgoing::Subscribe {
            pkid,
            filters,
            identifier,
        } => {
            let properties = identifier.map(|id| codec::SubscribeProperties {
                id: Some(id as usize),
                user_properties: Vec::new(),
            });
            let mut subscribe =
                codec::Subscribe::new_many(filters.iter().map(subscribe_filter), properties);
            subscribe.pkid = *pkid;
            codec::Packet::Subscribe(subscribe)
        }
        Outgoing::PingReq => codec::Packet::PingReq,
        Outgoing::Disconnect => codec::Packet::Disconnect(codec::Disconnect::new(
            codec::DisconnectReasonCode::NormalDisconnection,
        )),
    };
    packet
        .write(buffer, Some(limit(max_size)))
        .map(drop)
        .map_err(|e| EncodeError(e.to_string()))
}

/// A filter with its MQTT 5 subscription options.
fn subscribe_filter(filter: &super::super::Filter) -> codec::SubscribeFilter {
    let options = &filter.options;
    let mut subscribe = codec::SubscribeFilter::new(filter.filter.clone(), filter.qos);
    subscribe.nolocal = options.no_local;
    subscribe.preserve_retain = options.retain_as_published;
    subscribe.retain_forward_rule = match options.retain_handling {
        crate::RetainHandling::OnSubscribe => codec::RetainForwardRule::OnEverySubscribe,
        crate::RetainHandling::OnNewSubscription => codec::RetainForwardRule::OnNewSubscribe,
        crate::RetainHandling::Never => codec::RetainForwardRule::Never,
    };
    subscribe
}

pub(super) fn encode_connect(
    connect: &ConnectPacket,
    buffer: &mut BytesMut,
) -> std::io::Result<()> {
    let mut properties = codec::ConnectProperties::new();
    properties.session_expiry_interval = Some(seconds(connect.session_expiry));
    properties.max_packet_size = Some(limit(connect.max_packet_size));
    properties.receive_maximum = Some(connect.receive_maximum.max(1));
    let packet = codec::Connect {
        keep_alive: u16::try_from(connect.keepalive.as_secs()).unwrap_or(u16::MAX),
        client_id: connect.client_id.clone(),
        clean_start: connect.clean_session,
        properties: Some(properties),
    };
    let auth = match &connect.credentials {
        Some((username, Some(password))) => codec::ConnectAuth::UsernamePassword {
            username: username.clone(),
            password: Bytes::copy_from_slice(password.as_bytes()),
        },
        Some((username, None)) => codec::ConnectAuth::Username {
            username: username.clone(),
        },
        None => codec::ConnectAuth::None,
    };
    let will = connect.will.as_ref().map(|(topic, payload, qos, retain)| {
        let properties = codec::LastWillProperties {
            delay_interval: None,
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: Some(crate::ENVELOPE_CONTENT_TYPE.to_owned()),
            response_topic: None,
            correlation_data: None,
            user_properties: Vec::new(),
        };
        codec::LastWill::new(
            topic.clone(),
            payload.to_vec(),
            *qos,
            *retain,
            Some(properties),
        )
    });
    codec::Packet::Connect(packet, will, auth)
        .write(buffer, Some(limit(MQTT_MAX_PACKET_SIZE)))
        .map(drop)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))
}

pub(super) fn decode(buffer: &mut BytesMut) -> Result<Option<Incoming>, ProtocolError> {
    let packet = match codec::Packet::read(buffer, Some(limit(MQTT_MAX_PACKET_SIZE))) {
        Ok(packet) => packet,
        Err(CodecError::InsufficientBytes(more)) => {
            buffer.reserve(more);
            return Ok(None);
        }
        Err(error) => return Err(ProtocolError::Malformed(error.to_string())),
    };
    let incoming = match packet {
        codec::Packet::ConnAck(connack) => {
            let limits = connack
                .properties
                .as_ref()
                .map(|p| ServerLimits {
                    receive_maximum: p.receive_max,
                    max_packet_size: p.max_packet_size,
                    topic_alias_max: p.topic_alias_max,
                    subscription_identifiers: p.subscription_identifiers_available != Some(0),
                })
                .unwrap_or(ServerLimits {
                    // Available unless the CONNACK says otherwise (MQTT 5, 3.2.2.3.12).
                    subscription_identifiers: true,
                    ..ServerLimits::default()
                });
            let reference = connack
                .properties
                .as_ref()
                .and_then(|p| p.server_reference.clone());
            Incoming::ConnAck {
                session_present: connack.session_present,
                code: connect_code(connack.code, reference),
                limits,
            }
        }
        codec::Packet::Publish(mut p) => {
            let subscription_ids = p
                .properties
                .as_mut()
                .map(|p| std::mem::take(&mut p.subscription_identifiers))
                .unwrap_or_default();
            Incoming::Publish(ReceivedPublish {
                topic: topic_text(p.topic)?,
                payload: p.payload,
                qos: p.qos,
                retain: p.retain,
                pkid: p.pkid,
                properties: p.properties.and_then(received_properties),
                subscription_ids,
            })
        }
        codec::Packet::PubAck(ack) => Incoming::PubAck(
            ack.pkid,
            match ack.reason {
                codec::PubAckReason::Success => PubAnswer::Accepted,
                codec::PubAckReason::NoMatchingSubscribers => PubAnswer::NoSubscribers,
                refused => PubAnswer::Refused(reason_name(refused)),
            },
        ),
        codec::Packet::PubRec(ack) => Incoming::PubRec(
            ack.pkid,
            match ack.reason {
                codec::PubRecReason::Success => PubAnswer::Accepted,
                codec::PubRecReason::NoMatchingSubscribers => PubAnswer::NoSubscribers,
                refused => PubAnswer::Refused(reason_name(refused)),
            },
        ),
        codec::Packet::PubRel(ack) => Incoming::PubRel(ack.pkid),
        codec::Packet::PubComp(ack) => Incoming::PubComp(ack.pkid),
        codec::Packet::SubAck(suback) => Incoming::SubAck {
            pkid: suback.pkid,
            outcomes: suback
                .return_codes
                .into_iter()
                .map(|code| match code {
                    codec::SubscribeReasonCode::Success(qos) => SubscribeOutcome::Granted(qos),
                    refused => SubscribeOutcome::Refused(reason_name(refused)),
                })
                .collect(),
        },
        codec::Packet::UnsubAck(ack) => Incoming::UnsubAck(ack.pkid),
        codec::Packet::PingResp => Incoming::PingResp,
        codec::Packet::Disconnect(disconnect) => {
            use codec::DisconnectReasonCode as D;
            let reference = disconnect
                .properties
                .as_ref()
                .and_then(|p| p.server_reference.clone());
            if let (D::UseAnotherServer | D::ServerMoved, Some(reference)) =
                (disconnect.reason_code, reference)
            {
                return Ok(Some(Incoming::Redirect {
                    reason: reason_name(disconnect.reason_code),
                    reference,
                }));
            }
            let mut reason = reason_name(disconnect.reason_code);
            if let Some(text) = disconnect.properties.and_then(|p| p.reason_string) {
                reason = format!("{reason}: {text}");
            }
            Incoming::Disconnect(Some(reason))
        }
        codec::Packet::Auth(_) => return Err(ProtocolError::Unexpected("AUTH")),
        codec::Packet::Connect(..) => return Err(ProtocolError::Unexpected("CONNECT")),
        codec::Packet::Subscribe(_) => return Err(ProtocolError::Unexpected("SUBSCRIBE")),
        codec::Packet::Unsubscribe(_) => return Err(ProtocolError::Unexpected("UNSUBSCRIBE")),
        codec::Packet::PingReq => return Err(ProtocolError::Unexpected("PINGREQ")),
    };
    Ok(Some(incoming))
}

/// A publish by its alias: the topic only when the alias is new to the broker.
fn aliased_publish(p: &PublishPacket, alias: u16, with_topic: bool) -> codec::Publish {
    let mut encoded = publish(p);
    if !with_topic {
        encoded.topic = Bytes::new();
    }
    encoded
        .properties
        .get_or_insert_with(codec::PublishProperties::default)
        .topic_alias = Some(alias);
    encoded
}

fn publish(p: &PublishPacket) -> codec::Publish {
    codec::Publish {
        dup: p.dup,
        qos: p.qos,
        retain: p.retain,
        topic: p.topic.clone(),
        pkid: p.pkid,
        payload: p.payload.clone(),
        properties: publish_properties(p.properties.as_deref(), p.trace.as_deref()),
    }
}

fn publish_properties(
    properties: Option<&Properties>,
    trace: Option<&TraceContext>,
) -> Option<codec::PublishProperties> {
    if properties.is_none() && trace.is_none() {
        return None;
    }
    let mut encoded = match properties {
        Some(properties) => codec::PublishProperties {
            message_expiry_interval: properties.message_expiry.map(seconds),
            response_topic: properties.response_topic.clone(),
            correlation_data: properties.correlation_data.clone(),
            user_properties: properties.user.clone(),
            content_type: properties.content_type.clone(),
            ..Default::default()
        },
        None => codec::PublishProperties::default(),
    };
    if let Some(trace) = trace {
        let user = &mut encoded.user_properties;
        user.push((TRACEPARENT.to_owned(), trace.traceparent()));
        if let Some(state) = trace.tracestate() {
            user.push((TRACESTATE.to_owned(), state.to_owned()));
        }
    }
    Some(encoded)
}

/// The properties a handler sees; none when the message carried only its subscription
/// identifiers (taken before), so that routing by them costs no allocation.
fn received_properties(properties: codec::PublishProperties) -> Option<Box<Properties>> {
    if properties == codec::PublishProperties::default() {
        return None;
    }
    Some(Box::new(Properties {
        user: properties.user_properties,
        content_type: properties.content_type,
        response_topic: properties.response_topic,
        correlation_data: properties.correlation_data,
        message_expiry: properties
            .message_expiry_interval
            .map(|secs| Duration::from_secs(secs.into())),
    }))
}

/// A size limit as the codec takes it.
fn limit(size: usize) -> u32 {
    u32::try_from(size).unwrap_or(u32::MAX)
}

/// Whole seconds, as MQTT 5 intervals count them (a fraction rounds up: an expiry never
/// comes early, and a non-zero one never reads as "none").
fn seconds(duration: Duration) -> u32 {
    let secs = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    u32::try_from(secs).unwrap_or(u32::MAX)
}

fn connect_code(code: codec::ConnectReturnCode, reference: Option<String>) -> ConnectCode {
    use codec::ConnectReturnCode as C;
    match code {
        C::UseAnotherServer | C::ServerMoved if reference.is_some() => ConnectCode::Redirect {
            reason: reason_name(code),
            reference: reference.unwrap_or_default(),
        },
        C::Success => ConnectCode::Accepted,
        C::RefusedProtocolVersion | C::UnsupportedProtocolVersion => {
            ConnectCode::RefusedProtocolVersion
        }
        C::BadClientId | C::ClientIdentifierNotValid => ConnectCode::BadClientId,
        C::ServiceUnavailable | C::ServerUnavailable => ConnectCode::ServiceUnavailable,
        C::BadUserNamePassword => ConnectCode::BadUserNamePassword,
        C::NotAuthorized => ConnectCode::NotAuthorized,
        other => ConnectCode::Refused(reason_name(other)),
    }
}

/// A reason code's name in words: `QuotaExceeded` reads "quota exceeded".
fn reason_name(reason: impl Debug) -> String {
    let name = format!("{reason:?}").replace("QoS", "Qos");
    let mut words = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            words.push(' ');
        }
        words.extend(c.to_lowercase());
    }
    words.replace("qos", "QoS")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use crate::QoS;

    #[test]
    fn reason_codes_read_as_words() {
        assert_eq!(
            reason_name(codec::PubAckReason::QuotaExceeded),
            "quota exceeded"
        );
        assert_eq!(
            reason_name(codec::SubscribeReasonCode::NotAuthorized),
            "not authorized"
        );
        assert_eq!(
            reason_name(codec::ConnectReturnCode::QoSNotSupported),
            "QoS not supported"
        );
    }

    #[test]
    fn properties_survive_the_wire() {
        let properties = Properties {
            user: vec![("traceparent".into(), "00-abc-def-01".into())],
            content_type: Some("application/json".into()),
            response_topic: Some("reply/here".into()),
            correlation_data: Some(Bytes::from_static(b"\x01\x02")),
            message_expiry: Some(Duration::from_millis(1500)),
        };
        let mut packet =
            PublishPacket::new("a/b", QoS::AtLeastOnce, false, Bytes::from_static(b"{}"))
                .with_properties(Arc::new(properties.clone()));
        packet.pkid = 9;
        let mut buffer = BytesMut::new();
        encode(&Outgoing::Publish(packet), &mut buffer, 1024).unwrap();
        let Some(Incoming::Publish(received)) = decode(&mut buffer).unwrap() else {
            panic!("not a publish");
        };
        let expected = Properties {
            message_expiry: Some(Duration::from_secs(2)),
            ..properties
        };
        assert_eq!(received.properties.as_deref(), Some(&expected));
        assert_eq!(received.pkid, 9);
        assert_eq!(&*received.topic, "a/b");
    }

    #[test]
    fn the_trace_goes_out_as_user_properties_after_the_given_ones() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let trace = TraceContext::parse(parent, Some("vendor=1")).unwrap();
        let given = Properties::default().with_user_property("room", "hall");
        let mut packet = PublishPacket::new("a/b", QoS::AtMostOnce, false, Bytes::new())
            .with_properties(Arc::new(given));
        packet.trace = Some(Box::new(trace));
        let mut buffer = BytesMut::new();
        encode(&Outgoing::Publish(packet), &mut buffer, 1024).unwrap();
        let Some(Incoming::Publish(received)) = decode(&mut buffer).unwrap() else {
            panic!("not a publish");
        };
        let user = received.properties.unwrap().user;
        assert_eq!(
            user,
            [
                ("room".to_owned(), "hall".to_owned()),
                ("traceparent".to_owned(), parent.to_owned()),
                ("tracestate".to_owned(), "vendor=1".to_owned()),
            ]
        );
    }

    #[test]
    fn no_matching_subscribers_is_success_and_quota_is_not() {
        let mut buffer = BytesMut::new();
        for reason in [
            codec::PubAckReason::NoMatchingSubscribers,
            codec::PubAckReason::QuotaExceeded,
        ] {
            let mut ack = codec::PubAck::new(4, None);
            ack.reason = reason;
            codec::Packet::PubAck(ack).write(&mut buffer, None).unwrap();
        }
        assert_eq!(
            decode(&mut buffer).unwrap(),
            Some(Incoming::PubAck(4, PubAnswer::NoSubscribers))
        );
        assert_eq!(
            decode(&mut buffer).unwrap(),
            Some(Incoming::PubAck(
                4,
                PubAnswer::Refused("quota exceeded".into())
            ))
        );
    }

    #[test]
    fn a_server_disconnect_keeps_its_reason() {
        let mut buffer = BytesMut::new();
        let disconnect = codec::Disconnect::new(codec::DisconnectReasonCode::ServerShuttingDown);
        codec::Packet::Disconnect(disconnect)
            .write(&mut buffer, None)
            .unwrap();
        assert_eq!(
            decode(&mut buffer).unwrap(),
            Some(Incoming::Disconnect(Some("server shutting down".into())))
        );
    }

    #[test]
    fn a_disconnect_that_moves_the_client_names_the_server() {
        let mut buffer = BytesMut::new();
        let disconnect = codec::Disconnect {
            reason_code: codec::DisconnectReasonCode::ServerMoved,
            properties: Some(codec::DisconnectProperties {
                session_expiry_interval: None,
                reason_string: None,
                user_properties: Vec::new(),
                server_reference: Some("broker2.lan:1883".into()),
            }),
        };
        codec::Packet::Disconnect(disconnect)
            .write(&mut buffer, None)
            .unwrap();
        assert_eq!(
            decode(&mut buffer).unwrap(),
            Some(Incoming::Redirect {
                reason: "server moved".into(),
                reference: "broker2.lan:1883".into(),
            })
        );
    }
}
