//! How `#[tars::handler]` turns a message into the handler's arguments.

use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::contract::envelope;
use crate::model::failure::HandlerError;
use crate::telemetry::span::record_envelope;
use crate::{Envelope, Message};

/// A type a handler can take as its payload argument: implemented by
/// `#[derive(Event)]` for every event type. `Name` is the argument's name, so that the
/// error for an argument nothing can supply names it.
#[diagnostic::on_unimplemented(
    message = "handler argument `{Name}: {Self}` cannot be supplied",
    label = "nothing supplies a `{Self}`",
    note = "a handler takes: one event (a type with `#[derive(Event)]`) or `Envelope<T>`, `Context`, `Message`, and one argument named after each `{{segment}}` of a topic template",
    note = "`Context`, `Message` and `Envelope` are recognised by name: write them as such, not through a type alias"
)]
pub trait Payload<Name> {
    /// The event's topic (`Event::TOPIC`), for the compile-time topic check.
    const TOPIC: &'static str;
    /// The event's envelope type (`Event::EVENT_TYPE`), for the service's description.
    const EVENT_TYPE: &'static str;
    /// Whether this is the stand-in a failed `#[derive(Event)]` leaves, so that the
    /// compile-time topic check stays quiet about it: the derive reported the mistake.
    const FALLBACK: bool = false;
}

/// Decodes the payload as an envelope of `T`, recording its id and type in the message
/// span; a payload that does not decode, or an envelope whose type is not
/// `expected_type` (when given), is a malformed-message error.
pub fn decode_envelope<T: DeserializeOwned>(
    message: &Message,
    expected_type: Option<&str>,
) -> Result<Envelope<T>, HandlerError> {
    let decoded = envelope::decode::<T>(message.payload()).map_err(HandlerError::malformed)?;
    record_envelope(&decoded.id, &decoded.event_type);
    check_type(&decoded.event_type, expected_type)?;
    Ok(decoded)
}

/// An envelope of another type than the handler takes is skipped like an undecodable
/// one: a peer sent the wrong event on this topic.
#[inline]
fn check_type(actual: &str, expected: Option<&str>) -> Result<(), HandlerError> {
    match expected {
        Some(expected) if expected.as_bytes() != actual.as_bytes() => {
            Err(type_mismatch(actual, expected))
        }
        _ => Ok(()),
    }
}

#[cold]
#[inline(never)]
fn type_mismatch(actual: &str, expected: &str) -> HandlerError {
    HandlerError::malformed(format!(
        "the envelope's type is `{actual}`, not `{expected}`, the event this handler takes \
         (`any_type = true` on the handler accepts any type)"
    ))
}

/// The topic and envelope type of `T` when it is an event, `None` otherwise: the
/// compile-time topic check and the type check of an `Envelope<T>` argument, whose
/// `T` may be any data type. (An inherent constant whose bound does not hold gives way
/// to the trait's: [`NotAnEvent`].)
pub struct EventOf<T>(std::marker::PhantomData<T>);

impl<T: Payload<()>> EventOf<T> {
    /// `T`'s topic.
    pub const TOPIC: Option<&'static str> = if T::FALLBACK { None } else { Some(T::TOPIC) };
    /// `T`'s envelope type.
    pub const EVENT_TYPE: Option<&'static str> = if T::FALLBACK {
        None
    } else {
        Some(T::EVENT_TYPE)
    };
}

/// What [`EventOf`] says of a type that is not an event: nothing.
pub trait NotAnEvent {
    /// No topic.
    const TOPIC: Option<&'static str> = None;
    /// No envelope type.
    const EVENT_TYPE: Option<&'static str> = None;
}

impl<T> NotAnEvent for EventOf<T> {}

/// An envelope as a handler that takes only its event reads it: the same fields are
/// required as for [`Envelope`], but the strings are borrowed from the payload (no
/// allocation unless they contain escapes).
#[derive(Debug, Deserialize)]
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct EventEnvelope<'a, T> {
    /// The envelope id (the correlation id of a reply).
    #[serde(borrow)]
    pub id: Cow<'a, str>,
    /// The event type.
    #[serde(rename = "type", borrow)]
    pub event_type: Cow<'a, str>,
    /// Creation time (checked like [`Envelope::ts`], otherwise unused).
    #[serde(default)]
    pub ts: f64,
    /// The sender (checked like [`Envelope::source`], otherwise unused).
    #[serde(default, borrow)]
    pub source: Cow<'a, str>,
    /// The event.
    pub data: T,
}

/// Decodes the payload for a handler taking an event, recording the envelope's id and
/// type in the message span; a payload that does not decode, or an envelope whose type
/// is not `expected_type` (when given), is a malformed-message error.
pub fn decode_event<'m, T: DeserializeOwned>(
    message: &'m Message,
    expected_type: Option<&str>,
) -> Result<EventEnvelope<'m, T>, HandlerError> {
    let decoded: EventEnvelope<'_, T> = serde_json::from_slice(message.payload())
        .map_err(|e| HandlerError::malformed(crate::DecodeError::new::<T>(e)))?;
    record_envelope(&decoded.id, &decoded.event_type);
    check_type(&decoded.event_type, expected_type)?;
    Ok(decoded)
}

/// Parses level `level` of the message's topic (a template segment) into `T`.
pub fn segment<T>(message: &Message, level: usize, name: &str) -> Result<T, HandlerError>
where
    T: FromStr,
    T::Err: Display,
{
    let value = message.topic().split('/').nth(level).unwrap_or("");
    value.parse().map_err(|e| {
        HandlerError::malformed(format!(
            "topic segment `{name}` = {value:?} is not a valid `{}`: {e}",
            std::any::type_name::<T>()
        ))
    })
}

/// The envelope id of a message, if it is an envelope.
pub(crate) fn envelope_id(message: &Message) -> Option<String> {
    message.header().map(|h| h.id.into_owned())
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{FailureKind, QoS};

    fn message(topic: &str, payload: &'static [u8]) -> Message {
        Message::new(
            topic.to_owned(),
            Bytes::from_static(payload),
            QoS::AtMostOnce,
            false,
        )
    }

    #[test]
    fn segments_parse_or_explain_why_not() {
        let m = message("sensors/kitchen/42", b"{}");
        assert_eq!(segment::<String>(&m, 1, "room").unwrap(), "kitchen");
        assert_eq!(segment::<u32>(&m, 2, "id").unwrap(), 42);
        let err = segment::<u32>(&m, 1, "id").unwrap_err();
        assert_eq!(err.kind(), FailureKind::Malformed);
        assert!(
            err.to_string()
                .contains("topic segment `id` = \"kitchen\" is not a valid `u32`"),
            "{err}"
        );
    }

    #[test]
    fn envelopes_decode_or_are_malformed() {
        let ok = message("a", br#"{"id":"x","type":"t","data":{"n":1}}"#);
        let env = decode_envelope::<serde_json::Value>(&ok, None).unwrap();
        assert_eq!(env.data["n"], 1);
        assert_eq!(envelope_id(&ok).as_deref(), Some("x"));
        let bad = message("a", b"nope");
        assert_eq!(
            decode_envelope::<serde_json::Value>(&bad, None)
                .unwrap_err()
                .kind(),
            FailureKind::Malformed
        );
        assert_eq!(envelope_id(&bad), None);
    }

    #[test]
    fn an_envelope_of_another_type_is_malformed_unless_any_type_is_accepted() {
        let wrong = message("tts/say", br#"{"id":"x","type":"tts.wrong","data":{}}"#);
        let err = decode_event::<serde_json::Value>(&wrong, Some("tts.say")).unwrap_err();
        assert_eq!(err.kind(), FailureKind::Malformed);
        assert!(
            err.to_string().contains("`tts.wrong`, not `tts.say`"),
            "{err}"
        );
        assert!(decode_envelope::<serde_json::Value>(&wrong, Some("tts.say")).is_err());
        assert!(decode_event::<serde_json::Value>(&wrong, None).is_ok());
        assert!(decode_event::<serde_json::Value>(&wrong, Some("tts.wrong")).is_ok());
    }

    struct Said;
    impl Payload<()> for Said {
        const TOPIC: &'static str = "tts/say";
        const EVENT_TYPE: &'static str = "tts.say";
    }

    #[test]
    fn only_events_have_a_topic_and_type_to_check() {
        assert_eq!(EventOf::<Said>::TOPIC, Some("tts/say"));
        assert_eq!(EventOf::<Said>::EVENT_TYPE, Some("tts.say"));
        assert_eq!(EventOf::<serde_json::Value>::TOPIC, None);
        assert_eq!(EventOf::<String>::EVENT_TYPE, None);
    }
}
