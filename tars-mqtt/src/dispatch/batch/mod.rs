//! The task that runs a batch handler over its queue: messages gathered into batches
//! (by key, when asked), each handed over when full or when its window has passed.
//!
//! - Every message of a batch is settled only after the handler returned for the
//!   batch: with a persistent session, its QoS 1/2 acknowledgement goes then.
//! - A failed batch goes to the failure policy message by message (`retry.rs`): each
//!   failed message waits out the same backoff, parked in the queue, and the retried
//!   messages come back together as a batch of their own. When the handler names the
//!   items that failed, only those are tried again or dead-lettered.
//! - At shutdown the queue closes: what is gathered is handed over at once, before the
//!   drain ends.

mod gather;

use std::panic::AssertUnwindSafe;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::FutureExt;
use tokio::time::Instant;

use self::gather::Gatherer;
use super::bound::BoundBatchHandler;
use super::failures::{FailedAttempt, FailedAttempts};
use super::queue::{HandlerQueue, Work};
use super::retry::{self, HandlerPolicy};
use crate::connection::Connection;
use crate::{BatchOptions, HandlerError, Message};

/// A gathered message, with its failed attempts when it is being retried.
struct Item {
    message: Message,
    earlier: Option<Box<FailedAttempts>>,
}

/// What batches are gathered apart: retried messages from fresh ones, and, with a
/// `batch_key`, each value of the key's topic level.
type Key = (bool, Option<String>);

/// The topic level `level` of `topic` (0-based), when it has one.
fn level(topic: &str, level: usize) -> Option<String> {
    topic.split('/').nth(level).map(str::to_owned)
}

/// Handles batches until the queue is closed and empty.
pub(crate) async fn run<B: BoundBatchHandler>(
    handler: Arc<B>,
    queue: Arc<HandlerQueue>,
    connection: Arc<Connection>,
    policy: Arc<HandlerPolicy>,
    options: BatchOptions,
) {
    let mut gatherer: Gatherer<Key, Item> =
        Gatherer::new(options.size, options.window, queue.capacity());
    let key_of = |message: &Message| options.key_level.and_then(|l| level(message.topic(), l));
    queue.counters.batch_sizes.mark_in_use();
    let timed = connection.config.metrics_on();
    loop {
        // Once closing, nothing waits for its window: what is gathered goes now.
        let now = if queue.is_closed() {
            Instant::now() + options.window
        } else {
            Instant::now()
        };
        if let Some(batch) = gatherer.take_due(now) {
            handle(&*handler, &queue, &connection, &policy, batch, timed).await;
            continue;
        }
        let work = match gatherer.next_due() {
            Some(due) => tokio::select! {
                work = queue.pop_or_wait(|| {}) => work,
                () = tokio::time::sleep_until(due) => continue,
            },
            None => queue.pop_or_wait(|| {}).await,
        };
        let (key, item) = match work {
            None => break,
            Some(Work::Fresh(message)) => {
                let key = (false, key_of(&message));
                (
                    key,
                    Item {
                        message,
                        earlier: None,
                    },
                )
            }
            Some(Work::Retry(message, earlier)) => {
                queue.counters.retries.fetch_add(1, Ordering::Relaxed);
                let key = (true, key_of(&message));
                (
                    key,
                    Item {
                        message,
                        earlier: Some(earlier),
                    },
                )
            }
            Some(Work::Abandoned(message, earlier)) => {
                retry::abandon(&policy, &queue, &connection, message, earlier).await;
                continue;
            }
        };
        if let Some(batch) = gatherer.add(key, item, Instant::now()) {
            handle(&*handler, &queue, &connection, &policy, batch, timed).await;
        }
    }
    for batch in gatherer.take_all() {
        handle(&*handler, &queue, &connection, &policy, batch, timed).await;
    }
}

/// Runs the handler on one batch and settles each of its messages.
async fn handle<B: BoundBatchHandler>(
    handler: &B,
    queue: &HandlerQueue,
    connection: &Connection,
    policy: &HandlerPolicy,
    batch: Vec<Item>,
    timed: bool,
) {
    let messages: Vec<Message> = batch.iter().map(|item| item.message.clone()).collect();
    let counters = &queue.counters;
    counters.batch_sizes.observe(messages.len());
    let started = timed.then(std::time::Instant::now);
    let outcome = AssertUnwindSafe(handler.call(&messages))
        .catch_unwind()
        .await;
    if let Some(started) = started {
        // One observation per call: the handler's duration is the batch's.
        counters.durations[0].observe(started.elapsed());
    }
    drop(messages);
    let mut failed: Vec<Option<FailedAttempt>> = (0..batch.len()).map(|_| None).collect();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(failures)) => {
            for (index, error) in failures {
                if let Some(slot) = failed.get_mut(index) {
                    *slot = Some(FailedAttempt {
                        error,
                        panicked: false,
                    });
                }
            }
        }
        Err(panic) => {
            let reason = super::worker::panic_reason(&*panic).to_owned();
            for slot in &mut failed {
                *slot = Some(FailedAttempt {
                    error: HandlerError::failed(format!("handler panicked: {reason}")),
                    panicked: true,
                });
            }
        }
    }
    for (item, failure) in batch.into_iter().zip(failed) {
        match failure {
            None => {
                queue.counters.handled.fetch_add(1, Ordering::Relaxed);
                item.message.mark_handled();
            }
            Some(failure) => {
                retry::on_failure(
                    policy,
                    queue,
                    connection,
                    item.message,
                    item.earlier,
                    failure,
                )
                .await;
            }
        }
    }
}
