//! The rules of `#[event(...)]`, every broken one reported.

use syn::LitStr;

use super::parse::{EventInput, Shape};
use crate::attr::{check_keys, lit_bool, lit_str, qos, Errors};
use crate::duration::duration;
use crate::topic::{topic_error, validate_topic_name};

const KEYS: &[&str] = &["topic", "event_type", "qos", "retain", "expiry"];

pub(crate) struct EventSpec {
    pub(crate) topic: LitStr,
    pub(crate) event_type: LitStr,
    pub(crate) qos: u8,
    pub(crate) retain: bool,
    /// MQTT 5 message expiry of every publish, in milliseconds.
    pub(crate) expiry_ms: Option<u64>,
}

pub(crate) fn validate(input: &EventInput) -> syn::Result<EventSpec> {
    let mut errors = Errors::default();
    if let Shape::Other { what, span } = input.shape {
        errors.at(
            span,
            format!(
                "`Event` can only be derived for a struct with named fields, not {what}: \
                 an event's `data` must be a JSON object, e.g. `struct SttFinal {{ text: String }}`"
            ),
        );
    }
    let (mut topic, mut event_type, mut qos_value, mut retain) = (None, None, 0, false);
    let mut expiry_ms = None;
    for pair in check_keys(&input.args, KEYS, &mut errors) {
        match pair.key.to_string().as_str() {
            "topic" => topic = errors.take(lit_str(pair)),
            "event_type" => event_type = errors.take(lit_str(pair)),
            "qos" => qos_value = errors.take(qos(pair)).unwrap_or(0),
            "retain" => retain = errors.take(lit_bool(pair)).is_some_and(|b| b.value),
            "expiry" => expiry_ms = errors.take(duration(pair)),
            // Not a key of KEYS: `check_keys` reported it already.
            _ => {}
        }
    }
    if let Some(lit) = &topic {
        if let Err(error) = validate_topic_name(&lit.value()) {
            errors.push(topic_error(lit, &lit.value(), &error));
        }
    } else {
        let span = input.attr_span.unwrap_or_else(|| input.ident.span());
        errors.at(span, "missing `topic`: add `#[event(topic = \"a/b\")]` with the topic this event is published on");
    }
    if let Some(lit) = &event_type {
        if lit.value().trim().is_empty() {
            errors.at(
                lit.span(),
                "`event_type` must not be empty; omit it to use the topic with `/` replaced by `.`",
            );
        }
    }
    errors.finish()?;
    let topic = topic.expect("checked above");
    let event_type =
        event_type.unwrap_or_else(|| LitStr::new(&topic.value().replace('/', "."), topic.span()));
    Ok(EventSpec {
        topic,
        event_type,
        qos: qos_value,
        retain,
        expiry_ms,
    })
}
