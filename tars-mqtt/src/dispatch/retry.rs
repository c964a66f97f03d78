//! What a worker does when a handler fails: another attempt after a backoff, or the
//! final outcome (a dead letter, or a log line), and when the message is acknowledged.
//!
//! - An error or a panic is tried again while the policy has retries left. The message
//!   waits out its backoff parked in the handler's queue (`queue.rs`), not in a worker.
//! - A payload that does not decode is never tried again: it goes to the dead letter at
//!   once, or is logged and skipped.
//! - The final outcome settles the message: with a persistent session its QoS 1/2
//!   acknowledgement goes only then, after a dead letter was acknowledged by the broker
//!   (the worker does not wait for that: see `acks::settle_once_delivered`).
//! - At shutdown a parked message is not tried again. If the broker will deliver it
//!   again (persistent session, QoS 1/2) it is left unacknowledged; otherwise it is
//!   dead-lettered now with an error that says "shutdown" (or logged as lost).

use std::sync::atomic::Ordering;

use base64::Engine as _;
use serde_json::value::RawValue;
use tokio::time::Instant;

use super::failures::{FailedAttempt, FailedAttempts};
use super::queue::HandlerQueue;
use crate::connection::publish::publish_envelope_tracked;
use crate::connection::Connection;
use crate::model::failure::{epoch_seconds, DeadLetter, EffectivePolicy, DEAD_LETTER_TYPE};
use crate::telemetry::span::record_envelope;
use crate::{Error, FailureKind, Message};

/// One handler's failure policy, as its workers apply it.
#[derive(Debug)]
pub(crate) struct HandlerPolicy {
    /// The handler's name (its metrics label).
    pub(crate) handler: String,
    pub(crate) policy: EffectivePolicy,
}

/// Why a message reached its final outcome without success.
enum Ending {
    /// The last attempt failed (or the payload did not decode).
    Failed,
    /// Shutdown came during its backoff.
    Shutdown,
}

/// Handles a failed attempt: parks the message for another, or settles it.
pub(crate) async fn on_failure(
    handling: &HandlerPolicy,
    queue: &HandlerQueue,
    connection: &Connection,
    message: Message,
    earlier: Option<Box<FailedAttempts>>,
    failure: FailedAttempt,
) {
    let retryable = failure.error.kind() != FailureKind::Malformed;
    let failures = match earlier {
        Some(mut failures) => {
            failures.again(failure);
            failures
        }
        None => FailedAttempts::first(failure),
    };
    let policy = &handling.policy;
    if !retryable || failures.attempts > policy.retries {
        return settle(
            handling,
            queue,
            connection,
            message,
            failures,
            Ending::Failed,
        )
        .await;
    }
    let delay = policy.delay(failures.attempts);
    let (envelope_id, _) = identify(&message);
    tracing::warn!(
        topic = message.topic(),
        envelope_id,
        handler = handling.handler,
        attempt = failures.attempts,
        attempts = policy.retries + 1,
        retry_in_ms = delay.as_millis() as u64,
        reason = %failures.last.error,
        "handler failed, will retry"
    );
    if let Err((message, failures)) = queue.park(message, failures, Instant::now() + delay) {
        abandon(handling, queue, connection, message, failures).await;
    }
}

/// A message that was waiting out its backoff when shutdown came.
pub(crate) async fn abandon(
    handling: &HandlerPolicy,
    queue: &HandlerQueue,
    connection: &Connection,
    message: Message,
    failures: Box<FailedAttempts>,
) {
    if message.awaits_handling() {
        let (envelope_id, _) = identify(&message);
        tracing::info!(
            topic = message.topic(),
            envelope_id,
            handler = handling.handler,
            attempts = failures.attempts,
            "shutdown during the retry backoff: left unacknowledged, the broker delivers it again"
        );
        return; // dropped unhandled: not acknowledged
    }
    settle(
        handling,
        queue,
        connection,
        message,
        failures,
        Ending::Shutdown,
    )
    .await;
}

/// The final outcome of a failed message: a dead letter, or a log line. Then it is
/// acknowledged, unless the dead letter could not be published because the client
/// stopped (a persistent session then gets it again).
async fn settle(
    handling: &HandlerPolicy,
    queue: &HandlerQueue,
    connection: &Connection,
    message: Message,
    failures: Box<FailedAttempts>,
    ending: Ending,
) {
    let counters = &queue.counters;
    let (envelope_id, event_type) = identify(&message);
    if let (Some(id), Some(event_type)) = (&envelope_id, &event_type) {
        record_envelope(id, event_type);
    }
    let envelope_id = envelope_id.as_deref().unwrap_or("-");
    let error = match ending {
        Ending::Failed => failures.last.error.to_string(),
        Ending::Shutdown => format!(
            "shutdown: the service stopped before attempt {}; last error: {}",
            failures.attempts + 1,
            failures.last.error
        ),
    };
    if let Some(topic) = &handling.policy.dead_letter {
        let letter = dead_letter(&handling.handler, &message, &failures, error.clone());
        match publish_envelope_tracked(connection, topic, DEAD_LETTER_TYPE, &letter).await {
            Ok((dead_letter_id, receipt)) => {
                tracing::error!(
                    topic = message.topic(),
                    envelope_id,
                    handler = handling.handler,
                    attempts = failures.attempts,
                    dead_letter = topic.as_str(),
                    dead_letter_id,
                    reason = error,
                    "handler failed: dead-lettered"
                );
                counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
                counters.handled.fetch_add(1, Ordering::Relaxed);
                message.settle_once_delivered(receipt, connection.status.subscribe());
                return;
            }
            Err(Error::Closed) => {
                tracing::error!(
                    topic = message.topic(),
                    envelope_id,
                    handler = handling.handler,
                    dead_letter = topic.as_str(),
                    reason = error,
                    "the client stopped before the dead letter was published: the message is not acknowledged either"
                );
                return;
            }
            Err(publish_error) => tracing::error!(
                topic = message.topic(),
                envelope_id,
                handler = handling.handler,
                dead_letter = topic.as_str(),
                %publish_error,
                "could not publish the dead letter"
            ),
        }
    }
    let counter = match (&ending, failures.last.error.kind(), failures.last.panicked) {
        (Ending::Failed, FailureKind::Malformed, _) => &counters.undecodable,
        (Ending::Failed, _, true) => &counters.panics,
        _ => &counters.errors,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    counters.handled.fetch_add(1, Ordering::Relaxed);
    message.mark_handled();
    let attempts = failures.attempts;
    match (ending, failures.last.error.kind()) {
        (Ending::Shutdown, _) => tracing::error!(
            topic = message.topic(),
            envelope_id,
            handler = handling.handler,
            attempts,
            reason = error,
            "shutdown during the retry backoff: the message is lost (clean session, no dead letter)"
        ),
        (Ending::Failed, FailureKind::Malformed) => tracing::warn!(
            topic = message.topic(),
            envelope_id,
            reason = error,
            "skipping malformed message"
        ),
        (Ending::Failed, FailureKind::Failed) => tracing::error!(
            topic = message.topic(),
            envelope_id,
            attempts,
            reason = error,
            "handler failed"
        ),
    }
}

/// The envelope id and type of a message, when it is an envelope.
fn identify(message: &Message) -> (Option<String>, Option<String>) {
    match message.header() {
        Some(header) => (
            Some(header.id.into_owned()),
            Some(header.event_type.into_owned()),
        ),
        None => (None, None),
    }
}

/// The dead letter of a message: the original as JSON when it is JSON, else base64.
fn dead_letter(
    handler: &str,
    message: &Message,
    failures: &FailedAttempts,
    error: String,
) -> DeadLetter {
    let envelope = serde_json::from_slice::<Box<RawValue>>(message.payload()).ok();
    let payload_base64 = envelope
        .is_none()
        .then(|| base64::engine::general_purpose::STANDARD.encode(message.payload()));
    DeadLetter {
        topic: message.topic().to_owned(),
        handler: handler.to_owned(),
        error,
        attempts: failures.attempts,
        envelope,
        payload_base64,
        first_failed_at: epoch_seconds(failures.first_failed_at),
        last_failed_at: epoch_seconds(failures.last_failed_at),
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::{HandlerError, QoS};

    fn failures(attempts: u32) -> FailedAttempts {
        let mut all = FailedAttempts::first(FailedAttempt {
            error: HandlerError::failed("first"),
            panicked: false,
        });
        for n in 1..attempts {
            all.again(FailedAttempt {
                error: HandlerError::failed(format!("attempt {}", n + 1)),
                panicked: false,
            });
        }
        *all
    }

    #[test]
    fn a_json_payload_is_kept_as_json_and_anything_else_as_base64() {
        let json = Message::new(
            "tts/say",
            Bytes::from_static(br#"{"id":"1","type":"tts.say","data":{"n":-1}}"#),
            QoS::AtLeastOnce,
            false,
        );
        let letter = dead_letter("speak", &json, &failures(3), "boom".into());
        assert_eq!(letter.attempts, 3);
        assert_eq!(
            letter.envelope.as_ref().unwrap().get(),
            std::str::from_utf8(json.payload()).unwrap()
        );
        assert!(letter.payload_base64.is_none());
        assert!(letter.first_failed_at <= letter.last_failed_at);

        let binary = Message::new(
            "tts/say",
            Bytes::from_static(&[0xff, 0x00, 0x7b]),
            QoS::AtLeastOnce,
            false,
        );
        let letter = dead_letter("speak", &binary, &failures(1), "bad".into());
        assert!(letter.envelope.is_none());
        assert_eq!(letter.payload_base64.as_deref(), Some("/wB7"));
        let text = serde_json::to_value(&letter).unwrap();
        assert!(text.get("envelope").is_none(), "{text}");
    }
}
