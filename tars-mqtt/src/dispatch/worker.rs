//! The task that runs one subscription's handler over its queue.

use std::any::Any;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use tracing::{Instrument, Span};

use super::bound::BoundHandler;
use super::call_clock::CallClock;
use super::failures::FailedAttempt;
use super::group::WorkerPolicy;
use super::queue::{HandlerQueue, Work};
use super::retry;
use crate::connection::Connection;
use crate::telemetry::span::{message_span, record_trace};
use crate::telemetry::trace::{TraceContext, TRACEPARENT, TRACESTATE};
use crate::{HandlerError, Message, MqttVersion};

/// Handles queued messages one at a time until the queue is closed and empty (a
/// handler with `concurrency = N` has N of these on one queue). A failed attempt goes
/// to the handler's failure policy (`retry.rs`): parked for another attempt, or
/// settled with a dead letter or a log line; the worker goes on with the next message.
pub(crate) async fn run<B: BoundHandler>(
    handler: Arc<B>,
    queue: Arc<HandlerQueue>,
    connection: Arc<Connection>,
    worker: usize,
    policies: WorkerPolicy,
) {
    let counters = &queue.counters;
    // This worker's own histogram (see `DurationHistogram::observe_exclusive`).
    let durations = &counters.durations[worker % counters.durations.len()];
    let traced = connection.config.mqtt_version() == MqttVersion::V5;
    let mut clock = CallClock::new(connection.config.metrics_on());
    while let Some(work) = queue.pop_or_wait(|| clock.idle()).await {
        let (message, earlier) = match work {
            Work::Fresh(message) => (message, None),
            Work::Retry(message, earlier) => {
                counters.retries.fetch_add(1, Ordering::Relaxed);
                (message, Some(earlier))
            }
            Work::Abandoned(message, earlier) => {
                if let Some(failures) = policies.for_message(&message) {
                    retry::abandon(&failures, &queue, &connection, message, earlier).await;
                }
                clock.idle();
                continue;
            }
        };
        let started = clock.start();
        let span = message_span(message.topic());
        // MQTT 5: the handler runs in the message's trace (see `crate::trace`), settled
        // before the span is first entered (an exported span's parent is fixed then).
        let trace = traced.then(|| {
            let trace = exported_trace(&span, &message).unwrap_or_else(|| {
                TraceContext::for_message(
                    message.user_property(TRACEPARENT),
                    message.user_property(TRACESTATE),
                )
            });
            record_trace(&span, &trace);
            trace
        });
        let call = || AssertUnwindSafe(handler.call(&message)).catch_unwind();
        let call = if span.is_disabled() {
            call()
        } else {
            span.in_scope(call)
        };
        let outcome = match trace {
            Some(trace) => trace.scope(in_span(&span, call)).await,
            None => in_span(&span, call).await,
        };
        clock.finish(started, durations);
        let failure = match outcome {
            Ok(Ok(())) => {
                counters.handled.fetch_add(1, Ordering::Relaxed);
                message.mark_handled();
                continue;
            }
            Ok(Err(error)) => FailedAttempt {
                error,
                panicked: false,
            },
            Err(panic) => FailedAttempt {
                error: HandlerError::failed(format!("handler panicked: {}", panic_reason(&*panic))),
                panicked: true,
            },
        };
        let Some(failures) = policies.for_message(&message) else {
            continue;
        };
        let settled = retry::on_failure(&failures, &queue, &connection, message, earlier, failure);
        in_span(&span, settled).await;
        clock.idle(); // the failure's handling is nobody's time
    }
}

/// The trace of an exported message span (feature `otel`), parented on the message.
fn exported_trace(span: &Span, message: &Message) -> Option<TraceContext> {
    #[cfg(feature = "otel")]
    return crate::telemetry::otel::adopt(
        span,
        message.user_property(TRACEPARENT),
        message.user_property(TRACESTATE),
    );
    #[cfg(not(feature = "otel"))]
    {
        let _ = (span, message);
        None
    }
}

/// Runs `future` in `span`; a disabled span (the default level) adds nothing.
async fn in_span<F: Future>(span: &Span, future: F) -> F::Output {
    if span.is_disabled() {
        future.await
    } else {
        future.instrument(span.clone()).await
    }
}

pub(crate) fn panic_reason(panic: &(dyn Any + Send)) -> &str {
    if let Some(s) = panic.downcast_ref::<&str>() {
        s
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s
    } else {
        "non-string panic payload"
    }
}
