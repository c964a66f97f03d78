//! The envelope every event travels in, exactly as the Python stack defines it.
//!
//! On the wire: `{"id", "type", "ts", "source", "data"}` and nothing else (Python
//! consumers validate with `extra="forbid"`). On input, unknown fields are ignored and a
//! missing `ts` or `source` is accepted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::model::error::DecodeError;
use crate::{Error, Result};

/// An event with its metadata. `T` is the `data`: a struct with named fields, or
/// `serde_json::Value` for any object.
///
/// ```
/// let env: tars::Envelope<serde_json::Value> = serde_json::from_str(
///     r#"{"id":"abc","type":"stt.final","data":{"text":"hi"},"extra":1}"#,
/// )?;
/// assert_eq!(env.event_type, "stt.final");
/// assert_eq!(env.source, "");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T = serde_json::Value> {
    /// 32 lowercase hex characters (a uuid4). A reply carries its request's id.
    pub id: String,
    /// The event type, e.g. `stt.final`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Seconds since the Unix epoch when it was created (0.0 when the sender omitted it).
    #[serde(default)]
    pub ts: f64,
    /// The sending service's source name (empty when the sender omitted it).
    #[serde(default)]
    pub source: String,
    /// The event itself.
    pub data: T,
}

impl<T> Envelope<T> {
    /// A new envelope with a fresh id and the current time.
    pub fn new(event_type: impl Into<String>, source: impl Into<String>, data: T) -> Self {
        Self {
            id: new_id(),
            event_type: event_type.into(),
            ts: now_ts(),
            source: source.into(),
            data,
        }
    }
}

/// Just the `id` and `type` of an envelope, read without decoding its data.
#[derive(Debug, Deserialize)]
pub(crate) struct EnvelopeHeader<'a> {
    #[serde(borrow)]
    pub(crate) id: std::borrow::Cow<'a, str>,
    #[serde(rename = "type", borrow)]
    pub(crate) event_type: std::borrow::Cow<'a, str>,
}

/// Decodes an envelope with `T` data from a payload.
pub(crate) fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<Envelope<T>, DecodeError> {
    serde_json::from_slice(payload).map_err(DecodeError::new::<T>)
}

/// A fresh envelope id: a uuid4 as 32 lowercase hex characters.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// A fresh envelope id written into `buffer` (no allocation).
pub(crate) fn new_id_in(buffer: &mut [u8; uuid::fmt::Simple::LENGTH]) -> &str {
    uuid::Uuid::new_v4().simple().encode_lower(buffer)
}

/// The current time as float seconds since the Unix epoch, like Python's `time.time()`.
pub fn now_ts() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Writes the envelope `{"id","type","ts","source","data"}` for `data` into a new buffer,
/// checking that `data` is a JSON object.
pub(crate) fn encode<D: Serialize + ?Sized>(
    id: &str,
    event_type: &str,
    source: &str,
    data: &D,
) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(128 + id.len() + event_type.len() + source.len());
    encode_into(&mut buf, id, event_type, source, data)?;
    Ok(buf)
}

/// Writes `s` as a JSON string: copied as is when nothing in it needs escaping (ids,
/// event types and source names always), through serde_json otherwise.
fn write_str(buf: &mut Vec<u8>, s: &str) -> Result<()> {
    // A fold without early exit, so that the check is vectorized.
    let escapes = s.bytes().fold(false, |found, b| {
        found | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if !escapes {
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
        Ok(())
    } else {
        serde_json::to_writer(&mut *buf, s).map_err(Error::Encode)
    }
}

/// Writes a time since the epoch as float seconds with microseconds, e.g.
/// `1763802345.123456` (what Python's `time.time()` gives, to the microsecond).
fn write_ts(buf: &mut Vec<u8>, since_epoch: Duration) {
    // u64 seconds (at most 20 digits), the point, six digits of microseconds.
    let mut text = [0u8; 27];
    let mut micros = since_epoch.subsec_micros();
    for at in (21..27).rev() {
        text[at] = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    text[20] = b'.';
    let mut secs = since_epoch.as_secs();
    let mut start = 20;
    loop {
        start -= 1;
        text[start] = b'0' + (secs % 10) as u8;
        secs /= 10;
        if secs == 0 {
            break;
        }
    }
    buf.extend_from_slice(&text[start..]);
}

/// Largest scratch buffer a thread keeps between two [`encode_bytes`] calls.
const SCRATCH_KEPT: usize = 64 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// [`encode`] into shared bytes of exactly the envelope's size: written into a
/// per-thread scratch buffer, then copied once (one allocation; a `Vec` turned into
/// `Bytes` costs a second one whenever its capacity exceeds its length).
pub(crate) fn encode_bytes<D: Serialize + ?Sized>(
    id: &str,
    event_type: &str,
    source: &str,
    data: &D,
) -> Result<bytes::Bytes> {
    SCRATCH.with(|scratch| {
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            // Re-entered from `data`'s own `Serialize`: do without the scratch buffer.
            return encode(id, event_type, source, data).map(bytes::Bytes::from);
        };
        buf.clear();
        let encoded = encode_into(&mut buf, id, event_type, source, data)
            .map(|()| bytes::Bytes::copy_from_slice(&buf));
        if buf.capacity() > SCRATCH_KEPT {
            *buf = Vec::new();
        }
        encoded
    })
}

fn encode_into<D: Serialize + ?Sized>(
    buf: &mut Vec<u8>,
    id: &str,
    event_type: &str,
    source: &str,
    data: &D,
) -> Result<()> {
    buf.extend_from_slice(b"{\"id\":");
    write_str(buf, id)?;
    buf.extend_from_slice(b",\"type\":");
    write_str(buf, event_type)?;
    buf.extend_from_slice(b",\"ts\":");
    write_ts(
        buf,
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
    );
    buf.extend_from_slice(b",\"source\":");
    write_str(buf, source)?;
    buf.extend_from_slice(b",\"data\":");
    let data_start = buf.len();
    serde_json::to_writer(&mut *buf, data).map_err(Error::Encode)?;
    let found = match buf[data_start] {
        b'{' => None,
        b'[' => Some("an array"),
        b'"' => Some("a string"),
        b'n' => Some("null"),
        b't' | b'f' => Some("a boolean"),
        _ => Some("a number"),
    };
    if let Some(found) = found {
        return Err(Error::DataNotObject { found });
    }
    buf.push(b'}');
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    #[test]
    fn encoded_envelopes_have_exactly_the_five_fields() {
        let bytes = encode("abc", "stt.final", "stt", &json!({"text": "hi"})).unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["data", "id", "source", "ts", "type"]);
        assert_eq!(value["id"], "abc");
        assert_eq!(value["type"], "stt.final");
        assert_eq!(value["source"], "stt");
        assert_eq!(value["data"], json!({"text": "hi"}));
        let ts = value["ts"].as_f64().unwrap();
        assert!((ts - now_ts()).abs() < 5.0);
    }

    #[test]
    fn strings_are_escaped() {
        let bytes = encode("a\"b", "t\\y", "s\nrc", &json!({})).unwrap();
        let env: Envelope = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(
            (
                env.id.as_str(),
                env.event_type.as_str(),
                env.source.as_str()
            ),
            ("a\"b", "t\\y", "s\nrc")
        );
    }

    #[test]
    fn timestamps_are_float_seconds_to_the_microsecond() {
        let mut buf = Vec::new();
        write_ts(&mut buf, Duration::new(1_763_802_345, 7_000));
        assert_eq!(buf, b"1763802345.000007");
        buf.clear();
        write_ts(&mut buf, Duration::new(0, 999_999_999));
        assert_eq!(buf, b"0.999999");
        let value: f64 = serde_json::from_slice(b"1763802345.123456").unwrap();
        assert!((value - 1_763_802_345.123_456).abs() < 1e-6);
    }

    #[test]
    fn strings_that_need_no_escaping_are_copied_and_others_escaped() {
        for s in [
            "plain",
            "",
            "ünïcødé",
            "a\"b",
            "back\\slash",
            "tab\there",
            "\u{1}",
        ] {
            let mut buf = Vec::new();
            write_str(&mut buf, s).unwrap();
            assert_eq!(buf, serde_json::to_vec(s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn non_object_data_is_refused() {
        for (data, found) in [
            (json!([1]), "an array"),
            (json!("x"), "a string"),
            (json!(null), "null"),
            (json!(true), "a boolean"),
            (json!(1.5), "a number"),
        ] {
            match encode("i", "t", "s", &data) {
                Err(Error::DataNotObject { found: f }) => assert_eq!(f, found),
                other => panic!("{data}: {other:?}"),
            }
        }
    }

    #[test]
    fn ids_are_32_lowercase_hex_and_unique() {
        let a = new_id();
        assert_eq!(a.len(), 32);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_ne!(a, new_id());
    }

    #[test]
    fn decoding_is_tolerant_of_extra_and_missing_fields() {
        let env: Envelope<Value> =
            decode(br#"{"id":"1","type":"x","data":{},"correlate":"z","extra":[1]}"#).unwrap();
        assert_eq!((env.ts, env.source.as_str()), (0.0, ""));
        assert!(decode::<Value>(br#"{"type":"x","data":{}}"#).is_err());
        assert!(decode::<Value>(b"not json").is_err());
        assert!(decode::<Value>(b"\xff\xfe").is_err());
    }

    #[test]
    fn decode_errors_name_the_expected_type() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct SttFinal {
            text: String,
        }
        let err = decode::<SttFinal>(br#"{"id":"1","type":"x","data":{"txt":1}}"#).unwrap_err();
        assert!(err.to_string().contains("with `SttFinal` data"), "{err}");
        assert!(err.to_string().contains("missing field `text`"), "{err}");
    }
}
