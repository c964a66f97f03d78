//! Counters of a client's traffic and of its handlers, readable at any time.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::runtime::Shared;

/// Counters of a client's traffic, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received from the broker.
    pub received: u64,
    /// Messages dropped because a handler's queue was full: by its overflow policy
    /// (`drop_oldest`, `drop_newest`), whatever their QoS, or, under `block`, QoS 0 ones
    /// past the handler's intake bound while the connection had to read on for an
    /// acknowledgement or a reply (see `docs/flow-control.md`).
    pub dropped: u64,
    /// Times reading from the broker paused because a handler's queue and intake bound
    /// were full (TCP backpressure; the broker holds the rest).
    pub intake_pauses: u64,
    /// Messages skipped by dedup.
    pub duplicates: u64,
    /// Messages no handler matched.
    pub unrouted: u64,
    /// Messages skipped because they exceed `MQTT_MAX_PACKET_SIZE`.
    pub oversized: u64,
    /// QoS 0 publishes dropped because the connection was down (QoS 1/2 ones wait in
    /// the outbox for the next connection).
    pub dropped_offline: u64,
    /// PUBLISH packets written to the broker.
    pub publishes_written: u64,
    /// QoS 1/2 publishes the broker acknowledged.
    pub publishes_acknowledged: u64,
    /// MQTT 5: QoS 1/2 publishes the broker refused with a reason code.
    pub publishes_refused: u64,
    /// Successful connections (1 + reconnects).
    pub connections: u64,
    /// Requests waiting for their reply.
    pub pending_requests: usize,
}

/// Counters of one subscription's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerStats {
    /// The subscription's filter.
    pub filter: String,
    /// Messages waiting in its queue.
    pub queued: usize,
    /// The queue's capacity.
    pub capacity: usize,
    /// The queue's overflow policy.
    pub overflow: crate::Overflow,
    /// Messages handled to their final outcome (successfully or not; a retried message
    /// counts once).
    pub handled: u64,
    /// Messages whose handler failed, panicked or could not decode them, in the end
    /// (dead letters included).
    pub failed: u64,
    /// Of those, the messages published as dead letters.
    pub dead_lettered: u64,
    /// Attempts after the first (the failure policy's retries).
    pub retries: u64,
    /// Messages dropped because its queue was full (see [`Stats::dropped`]).
    pub dropped: u64,
    /// Bytes of messages held for it while its queue is full (see
    /// [`intake_bytes`](Self::intake_bytes)).
    pub held_bytes: usize,
    /// Its intake bound: the most bytes held for it before reading pauses.
    pub intake_bytes: usize,
}

/// The client's counters now.
pub(crate) fn stats(shared: &Shared) -> Stats {
    let session = &shared.connection.counters;
    let dispatch = &shared.dispatch.counters;
    let load = |v: &AtomicU64| v.load(Ordering::Relaxed);
    Stats {
        received: load(&dispatch.received),
        dropped: load(&dispatch.dropped),
        intake_pauses: shared.connection.intake.pauses(),
        duplicates: load(&dispatch.duplicates),
        unrouted: load(&dispatch.unrouted),
        oversized: load(&dispatch.oversized),
        dropped_offline: load(&session.dropped_offline),
        publishes_written: load(&session.publishes_written),
        publishes_acknowledged: load(&session.publishes_acknowledged),
        publishes_refused: load(&session.publishes_refused),
        connections: load(&session.connections),
        pending_requests: shared.requests.len(),
    }
}

/// Each subscription's counters now.
pub(crate) fn handler_stats(shared: &Shared) -> Vec<HandlerStats> {
    shared
        .dispatch
        .routes_read()
        .iter()
        .map(|route| {
            let counters = &route.queue.counters;
            HandlerStats {
                filter: route.filter.clone(),
                queued: route.queue.len(),
                capacity: route.queue.capacity(),
                overflow: route.queue.policy(),
                handled: counters.handled.load(Ordering::Relaxed),
                failed: counters.failed(),
                dead_lettered: counters.dead_lettered.load(Ordering::Relaxed),
                retries: counters.retries.load(Ordering::Relaxed),
                dropped: counters.dropped.load(Ordering::Relaxed),
                held_bytes: route.queue.overflow_bytes(),
                intake_bytes: route.queue.intake_limit(),
            }
        })
        .collect()
}
