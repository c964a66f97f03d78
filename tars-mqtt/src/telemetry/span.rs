//! The tracing span every handled message runs in.
//!
//! It is a `debug` span with the target `tars::message`: at the default `info` level it
//! is disabled and costs next to nothing (enabled at `info`, a span costs a service
//! several allocations and about 10,000 instructions per message, more than decoding
//! the message). Turn it on with `RUST_LOG=info,tars::message=debug` to see the
//! topic, event type and envelope id on every line a handler logs. Failures are logged
//! with the topic and envelope id whatever the level.

use tracing::field::Empty;
use tracing::Span;

/// A span carrying the message's topic; the envelope's type and id are recorded into
/// it once known (see [`record_envelope`]).
pub(crate) fn message_span(topic: &str) -> Span {
    // No subscriber wants `debug` at all (the default `info`): no span, and no callsite
    // lookup either (one load of the global level hint).
    if !tracing::level_enabled!(tracing::Level::DEBUG) {
        return Span::none();
    }
    tracing::debug_span!(
        target: "tars::message",
        "message",
        otel.kind = "consumer",
        topic,
        event_type = Empty,
        envelope_id = Empty,
        trace_id = Empty
    )
}

/// Records the trace (MQTT 5) the handler runs in into its message span.
pub(crate) fn record_trace(span: &Span, trace: &crate::telemetry::trace::TraceContext) {
    if !span.is_disabled() {
        span.record("trace_id", trace.trace_id());
    }
}

/// Records the envelope's id and type into the current message span.
pub(crate) fn record_envelope(id: &str, event_type: &str) {
    // Message spans are off at the default level: then there is nothing to look up.
    if !tracing::level_enabled!(tracing::Level::DEBUG)
        || !tracing::enabled!(target: "tars::message", tracing::Level::DEBUG)
    {
        return;
    }
    let span = Span::current();
    if !span.is_disabled() {
        span.record("event_type", event_type);
        span.record("envelope_id", id);
    }
}
