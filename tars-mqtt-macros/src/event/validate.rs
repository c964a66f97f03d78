//! The rules of `#[event(...)]`: every broken one reported.

use super::parse::{EventInput, Shape};
use crate::attr::Errors;
use crate::topic::{topic_error, validate_topic_name};

pub(crate) fn validate(input: &EventInput, errors: &mut Errors) {
    if let Shape::Other { what, span } = input.shape {
        errors.at(
            span,
            format!(
                "`Event` can only be derived for a struct with named fields, not {what}: \
                 an event's `data` must be a JSON object, e.g. `struct SttFinal {{ text: String }}`"
            ),
        );
    }
    let attrs = &input.attrs;
    match &attrs.topic {
        Some(lit) => {
            if let Err(error) = validate_topic_name(&lit.value()) {
                errors.push(topic_error(lit, &lit.value(), &error));
            }
        }
        None if input.unreadable => {}
        None => {
            let span = input.attr_span.unwrap_or_else(|| input.ident.span());
            errors.at(span, "missing `topic`: add `#[event(topic = \"a/b\")]` with the topic this event is published on");
        }
    }
    if let Some(lit) = &attrs.event_type {
        if lit.value().trim().is_empty() {
            errors.at(
                lit.span(),
                "`event_type` must not be empty; omit it to use the topic with `/` replaced by `.`",
            );
        }
    }
}
