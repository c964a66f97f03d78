//! W3C trace context over MQTT 5 user properties (`traceparent`, `tracestate`).
//!
//! A handler runs in the trace of the message it handles: a child of the message's
//! `traceparent` (the same trace id, a new span id), or a new trace when the message has
//! none. Everything published while it runs, by its context or any client, carries a
//! `traceparent` of that trace with a new span id, and the `tracestate` it came with.
//! Publishing outside a handler starts a new trace. Under MQTT 3.1.1 none of this is on
//! the wire: the Python envelope has no room for it.
//!
//! When the handler's span is exported (feature `otel`, see `crate::otel`), the trace is
//! that span's: its ids come from OpenTelemetry, and publishes name the span itself as
//! their parent, so that the next service's span is its child.

use std::fmt;

/// The user property of the W3C `traceparent` header.
pub const TRACEPARENT: &str = "traceparent";
/// The user property of the W3C `tracestate` header.
pub const TRACESTATE: &str = "tracestate";

tokio::task_local! {
    /// The trace of the handler running in this task.
    static CURRENT: TraceContext;
}

/// A position in a trace: its id, the current span's id, the sampling flags, and the
/// vendors' `tracestate`, passed on unchanged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceContext {
    trace_id: u128,
    span_id: u64,
    flags: u8,
    state: Option<String>,
    /// Its span is exported (OpenTelemetry): publishes name it as their parent rather
    /// than a span of their own, which no exporter would know.
    exported: bool,
}

impl TraceContext {
    /// A new trace, sampled.
    pub(crate) fn root() -> Self {
        Self {
            trace_id: non_zero(|| fastrand::u128(..)),
            span_id: new_span_id(),
            flags: 1,
            state: None,
            exported: false,
        }
    }

    /// The context of an exported span (OpenTelemetry's ids for it).
    #[cfg(feature = "otel")]
    pub(crate) fn exported(trace_id: u128, span_id: u64, flags: u8, state: Option<String>) -> Self {
        Self {
            trace_id,
            span_id,
            flags,
            state,
            exported: true,
        }
    }

    /// The trace id, span id and flags.
    #[cfg(feature = "otel")]
    pub(crate) fn ids(&self) -> (u128, u64, u8) {
        (self.trace_id, self.span_id, self.flags)
    }

    /// A `traceparent` header of version 00 (or a later version read as 00, as the W3C
    /// specification asks); `None` when it is malformed.
    pub(crate) fn parse(traceparent: &str, tracestate: Option<&str>) -> Option<Self> {
        let mut parts = traceparent.trim().split('-');
        let version = parts.next().filter(|v| is_hex(v, 2) && *v != "ff")?;
        let trace_id = parts.next().filter(|v| is_hex(v, 32))?;
        let span_id = parts.next().filter(|v| is_hex(v, 16))?;
        let flags = parts.next().filter(|v| is_hex(v, 2))?;
        if version == "00" && parts.next().is_some() {
            return None;
        }
        let trace_id = u128::from_str_radix(trace_id, 16)
            .ok()
            .filter(|id| *id != 0)?;
        let span_id = u64::from_str_radix(span_id, 16)
            .ok()
            .filter(|id| *id != 0)?;
        Some(Self {
            trace_id,
            span_id,
            flags: u8::from_str_radix(flags, 16).ok()?,
            state: tracestate.map(str::to_owned),
            exported: false,
        })
    }

    /// The next span of the same trace.
    pub(crate) fn child(&self) -> Self {
        Self {
            span_id: new_span_id(),
            exported: false,
            ..self.clone()
        }
    }

    /// The trace of a handler handling a message that carries `traceparent` and
    /// `tracestate` (MQTT 5 user properties): a child of its parent, or a new trace.
    pub(crate) fn for_message(traceparent: Option<&str>, tracestate: Option<&str>) -> Self {
        traceparent
            .and_then(|parent| Self::parse(parent, tracestate))
            .map(|parent| parent.child())
            .unwrap_or_else(Self::root)
    }

    /// The trace a publish carries: a child of the running handler's (its span itself
    /// when exported), or a new trace.
    pub(crate) fn for_publish() -> Self {
        CURRENT
            .try_with(|current| {
                if current.exported {
                    current.clone()
                } else {
                    current.child()
                }
            })
            .unwrap_or_else(|_| Self::root())
    }

    /// Runs `future` (a handler) in this trace.
    pub(crate) async fn scope<F: std::future::Future>(self, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// The trace id, 32 lowercase hex digits.
    pub(crate) fn trace_id(&self) -> String {
        format!("{:032x}", self.trace_id)
    }

    /// The `traceparent` header of this span.
    pub(crate) fn traceparent(&self) -> String {
        let mut out = String::with_capacity(55);
        out.push_str("00-");
        push_hex(&mut out, self.trace_id, 32);
        out.push('-');
        push_hex(&mut out, self.span_id.into(), 16);
        out.push('-');
        push_hex(&mut out, self.flags.into(), 2);
        out
    }

    /// At most how many bytes its user properties take in a PUBLISH.
    pub(crate) fn wire_len(&self) -> usize {
        let pair = |name: &str, value: usize| 5 + name.len() + value;
        pair(TRACEPARENT, 55) + self.state.as_ref().map_or(0, |s| pair(TRACESTATE, s.len()))
    }

    /// The `tracestate` it carries on.
    pub(crate) fn tracestate(&self) -> Option<&str> {
        self.state.as_deref()
    }
}

impl fmt::Display for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// Appends the low `digits` hex digits of `value`, lowercase, zero-padded.
fn push_hex(out: &mut String, value: u128, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for digit in (0..digits).rev() {
        out.push(char::from(HEX[((value >> (digit * 4)) & 0xf) as usize]));
    }
}

fn new_span_id() -> u64 {
    non_zero(|| fastrand::u64(..))
}

fn non_zero<T: PartialEq + Default>(mut draw: impl FnMut() -> T) -> T {
    loop {
        let id = draw();
        if id != T::default() {
            return id;
        }
    }
}

fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_traceparent_reads_back_as_written() {
        let trace = TraceContext::parse(PARENT, Some("congo=t61rcWkgMzE")).unwrap();
        assert_eq!(trace.traceparent(), PARENT);
        assert_eq!(trace.tracestate(), Some("congo=t61rcWkgMzE"));
    }

    #[test]
    fn a_child_keeps_the_trace_and_gets_a_new_span() {
        let parent = TraceContext::parse(PARENT, None).unwrap();
        let child = parent.child();
        assert_eq!(child.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_ne!(child.span_id, parent.span_id);
        assert!(child
            .traceparent()
            .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(child.traceparent().ends_with("-01"));
    }

    #[test]
    fn malformed_traceparents_are_ignored() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceContext::parse(bad, None), None, "{bad:?}");
        }
        // A later version may append fields.
        assert!(TraceContext::parse(
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later",
            None
        )
        .is_some());
    }

    #[tokio::test]
    async fn publishes_in_a_handler_share_its_trace_and_outside_start_new_ones() {
        let handler = TraceContext::parse(PARENT, None).unwrap().child();
        let (first, second) = handler
            .clone()
            .scope(async { (TraceContext::for_publish(), TraceContext::for_publish()) })
            .await;
        assert_eq!(first.trace_id(), handler.trace_id());
        assert_eq!(second.trace_id(), handler.trace_id());
        assert_ne!(first.span_id, second.span_id);
        assert_ne!(TraceContext::for_publish().trace_id(), handler.trace_id());
    }
}
