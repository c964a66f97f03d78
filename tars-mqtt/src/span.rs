//! The tracing span every handled message runs in.

use tracing::field::Empty;
use tracing::Span;

/// A span carrying the message's topic; the envelope's type and id are recorded into
/// it once known (see [`record_envelope`]).
pub(crate) fn message_span(topic: &str) -> Span {
    tracing::info_span!("message", topic, event_type = Empty, envelope_id = Empty)
}

/// Records the envelope's id and type into the current message span.
pub(crate) fn record_envelope(id: &str, event_type: &str) {
    let span = Span::current();
    if !span.is_disabled() {
        span.record("event_type", event_type);
        span.record("envelope_id", id);
    }
}
