//! The records of the durable outbox's log, as bytes on disk.
//!
//! A record is `[length u32][crc32 u32][body]`, little-endian, the checksum over the
//! body. A body is a kind, the record's sequence number, and for a publish its QoS,
//! retain flag, topic, MQTT 5 properties, trace and payload. An ack record names the
//! sequence number of a publish the broker acknowledged (or the outbox gave up).

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::contract::properties::Properties;

/// Bytes before a record's body: its length and checksum.
pub(crate) const HEADER: usize = 8;

/// The largest body a record may have (a publish is at most MQTT's 256 MiB).
pub(crate) const MAX_BODY: usize = 268_435_455 + 64 * 1024;

const PUBLISH: u8 = 1;
const ACK: u8 = 2;

/// A publish as the outbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StoredPublish {
    pub(crate) topic: Bytes,
    pub(crate) payload: Bytes,
    /// 1 or 2.
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    /// Shared with the publish it was kept from (most publishes share one).
    pub(crate) properties: Option<std::sync::Arc<Properties>>,
    /// MQTT 5: `traceparent` and `tracestate`.
    pub(crate) trace: Option<(String, Option<String>)>,
}

/// A record read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Record {
    Publish(u64, Box<StoredPublish>),
    Ack(u64),
}

/// What reading a record at some offset found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// A whole record and its size on disk.
    Record(Record, usize),
    /// The bytes end cleanly here.
    End,
    /// A record whose bytes end early, or whose checksum or contents are wrong (a torn
    /// write): how many bytes to skip to the next record, when its length is believable.
    Torn {
        skip: Option<usize>,
        why: &'static str,
    },
}

fn put_text(out: &mut BytesMut, text: &[u8]) {
    out.put_u32_le(text.len() as u32);
    out.put_slice(text);
}

fn put_opt_text(out: &mut BytesMut, text: Option<&[u8]>) {
    match text {
        Some(text) => {
            out.put_u8(1);
            put_text(out, text);
        }
        None => out.put_u8(0),
    }
}

/// A publish record, header included.
pub(crate) fn encode_publish(seq: u64, publish: &StoredPublish) -> Bytes {
    let mut body = BytesMut::with_capacity(64 + publish.topic.len() + publish.payload.len());
    body.put_u8(PUBLISH);
    body.put_u64_le(seq);
    body.put_u8(publish.qos);
    body.put_u8(u8::from(publish.retain));
    put_text(&mut body, &publish.topic);
    match &publish.properties {
        Some(p) => {
            body.put_u8(1);
            body.put_u32_le(p.user.len() as u32);
            for (name, value) in &p.user {
                put_text(&mut body, name.as_bytes());
                put_text(&mut body, value.as_bytes());
            }
            put_opt_text(&mut body, p.content_type.as_deref().map(str::as_bytes));
            put_opt_text(&mut body, p.response_topic.as_deref().map(str::as_bytes));
            put_opt_text(&mut body, p.correlation_data.as_deref());
            match p.message_expiry {
                Some(expiry) => {
                    body.put_u8(1);
                    body.put_u64_le(expiry.as_millis() as u64);
                }
                None => body.put_u8(0),
            }
        }
        None => body.put_u8(0),
    }
    match &publish.trace {
        Some((parent, state)) => {
            body.put_u8(1);
            put_text(&mut body, parent.as_bytes());
            put_opt_text(&mut body, state.as_deref().map(str::as_bytes));
        }
        None => body.put_u8(0),
    }
    body.put_slice(&publish.payload);
    frame(body)
}

/// The size of [`encode_publish`]'s record, counted without writing it (the outbox's
/// bound is checked before the sequence number is known).
pub(crate) fn publish_len(publish: &StoredPublish) -> usize {
    let text = |len: usize| 4 + len;
    let opt_text = |len: Option<usize>| 1 + len.map_or(0, text);
    let properties = publish.properties.as_ref().map_or(1, |p| {
        let user: usize = p
            .user
            .iter()
            .map(|(k, v)| text(k.len()) + text(v.len()))
            .sum();
        1 + 4
            + user
            + opt_text(p.content_type.as_ref().map(String::len))
            + opt_text(p.response_topic.as_ref().map(String::len))
            + opt_text(p.correlation_data.as_ref().map(Bytes::len))
            + if p.message_expiry.is_some() { 9 } else { 1 }
    });
    let trace = publish.trace.as_ref().map_or(1, |(parent, state)| {
        1 + text(parent.len()) + opt_text(state.as_ref().map(String::len))
    });
    HEADER + 1 + 8 + 1 + 1 + text(publish.topic.len()) + properties + trace + publish.payload.len()
}

/// An ack record, header included.
pub(crate) fn encode_ack(seq: u64) -> Bytes {
    let mut body = BytesMut::with_capacity(9);
    body.put_u8(ACK);
    body.put_u64_le(seq);
    frame(body)
}

fn frame(body: BytesMut) -> Bytes {
    let mut out = BytesMut::with_capacity(HEADER + body.len());
    out.put_u32_le(body.len() as u32);
    out.put_u32_le(crc32fast::hash(&body));
    out.put_slice(&body);
    out.freeze()
}

/// Reads the record that starts at `bytes[0]`.
pub(crate) fn read(bytes: &[u8]) -> Read {
    if bytes.is_empty() {
        return Read::End;
    }
    if bytes.len() < HEADER {
        return Read::Torn {
            skip: None,
            why: "the header is cut short",
        };
    }
    let len = u32::from_le_bytes(bytes[0..4].try_into().unwrap_or_default()) as usize;
    let crc = u32::from_le_bytes(bytes[4..8].try_into().unwrap_or_default());
    if len == 0 || len > MAX_BODY {
        return Read::Torn {
            skip: None,
            why: "the length is not believable",
        };
    }
    let Some(body) = bytes.get(HEADER..HEADER + len) else {
        return Read::Torn {
            skip: None,
            why: "the record is cut short",
        };
    };
    let skip = Some(HEADER + len);
    if crc32fast::hash(body) != crc {
        return Read::Torn {
            skip,
            why: "the checksum does not match",
        };
    }
    match decode_body(body) {
        Some(record) => Read::Record(record, HEADER + len),
        None => Read::Torn {
            skip,
            why: "the contents do not decode",
        },
    }
}

fn take_text(body: &mut &[u8]) -> Option<Bytes> {
    if body.remaining() < 4 {
        return None;
    }
    let len = body.get_u32_le() as usize;
    if body.remaining() < len {
        return None;
    }
    let text = Bytes::copy_from_slice(&body[..len]);
    body.advance(len);
    Some(text)
}

fn take_string(body: &mut &[u8]) -> Option<String> {
    String::from_utf8(take_text(body)?.to_vec()).ok()
}

fn take_flag(body: &mut &[u8]) -> Option<bool> {
    (body.remaining() >= 1).then(|| body.get_u8() == 1)
}

fn take_opt_string(body: &mut &[u8]) -> Option<Option<String>> {
    match take_flag(body)? {
        true => Some(Some(take_string(body)?)),
        false => Some(None),
    }
}

fn decode_body(mut body: &[u8]) -> Option<Record> {
    if body.remaining() < 9 {
        return None;
    }
    let kind = body.get_u8();
    let seq = body.get_u64_le();
    match kind {
        ACK => Some(Record::Ack(seq)),
        PUBLISH => {
            if body.remaining() < 2 {
                return None;
            }
            let qos = body.get_u8();
            let retain = body.get_u8() == 1;
            let topic = take_text(&mut body)?;
            std::str::from_utf8(&topic).ok()?;
            let properties = match take_flag(&mut body)? {
                false => None,
                true => {
                    if body.remaining() < 4 {
                        return None;
                    }
                    let users = body.get_u32_le() as usize;
                    let mut user = Vec::with_capacity(users.min(64));
                    for _ in 0..users {
                        user.push((take_string(&mut body)?, take_string(&mut body)?));
                    }
                    let content_type = take_opt_string(&mut body)?;
                    let response_topic = take_opt_string(&mut body)?;
                    let correlation_data = match take_flag(&mut body)? {
                        true => Some(take_text(&mut body)?),
                        false => None,
                    };
                    let message_expiry = match take_flag(&mut body)? {
                        true if body.remaining() >= 8 => {
                            Some(Duration::from_millis(body.get_u64_le()))
                        }
                        true => return None,
                        false => None,
                    };
                    Some(std::sync::Arc::new(Properties {
                        user,
                        content_type,
                        response_topic,
                        correlation_data,
                        message_expiry,
                    }))
                }
            };
            let trace = match take_flag(&mut body)? {
                true => Some((take_string(&mut body)?, take_opt_string(&mut body)?)),
                false => None,
            };
            Some(Record::Publish(
                seq,
                Box::new(StoredPublish {
                    topic,
                    payload: Bytes::copy_from_slice(body),
                    qos,
                    retain,
                    properties,
                    trace,
                }),
            ))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish() -> StoredPublish {
        StoredPublish {
            topic: Bytes::from_static(b"sensors/kitchen"),
            payload: Bytes::from_static(br#"{"id":"1","type":"t","data":{}}"#),
            qos: 1,
            retain: false,
            properties: Some(std::sync::Arc::new(Properties {
                user: vec![("origin".into(), "kitchen".into())],
                content_type: Some("application/json".into()),
                response_topic: None,
                correlation_data: Some(Bytes::from_static(b"\x00\x01")),
                message_expiry: Some(Duration::from_secs(30)),
            })),
            trace: Some(("00-abc-def-01".into(), None)),
        }
    }

    #[test]
    fn records_read_back_as_written() {
        let mut log = Vec::new();
        log.extend_from_slice(&encode_publish(7, &publish()));
        log.extend_from_slice(&encode_ack(7));
        let Read::Record(first, used) = read(&log) else {
            panic!("a record")
        };
        assert_eq!(first, Record::Publish(7, Box::new(publish())));
        assert_eq!(read(&log[used..]), Read::Record(Record::Ack(7), HEADER + 9));
        assert_eq!(read(&log[used + HEADER + 9..]), Read::End);
    }

    #[test]
    fn a_publish_record_is_as_long_as_counted() {
        let bare = StoredPublish {
            properties: None,
            trace: None,
            ..publish()
        };
        for publish in [publish(), bare] {
            assert_eq!(encode_publish(9, &publish).len(), publish_len(&publish));
        }
    }

    #[test]
    fn a_record_cut_anywhere_or_flipped_is_torn_never_a_panic() {
        let record = encode_publish(1, &publish());
        for cut in 1..record.len() {
            assert!(
                matches!(read(&record[..cut]), Read::Torn { .. }),
                "cut at {cut}"
            );
        }
        for at in 0..record.len() {
            let mut flipped = record.to_vec();
            flipped[at] ^= 0x40;
            assert!(
                matches!(read(&flipped), Read::Torn { .. }),
                "flipped at {at}"
            );
        }
    }
}
