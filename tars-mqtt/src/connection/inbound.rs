//! Routing received messages to the handler queues.
//!
//! Queue policy (see `docs/architecture.md` and `docs/flow-control.md`): every handler
//! has a bounded queue with an overflow policy ([`Overflow`](crate::Overflow)).
//! - Under `Block` (the default), a message that finds its handler's queue full is
//!   handed to the overflow task, which waits for room. Its acknowledgement waits too
//!   (`acks.rs`), so for QoS 1/2 the broker stops sending once its in-flight window is
//!   full. Later messages for that handler queue behind it (its order is kept); other
//!   handlers get theirs at once.
//! - Once the overflow holds [`OVERFLOW_LIMIT`] messages, a QoS 0 message that finds
//!   its handler's queue full is dropped for that handler and counted (at most once);
//!   QoS 1/2 messages still wait, bounded by the broker's in-flight window. So the
//!   reader keeps reading, and the broker's acknowledgements of what handlers publish
//!   keep arriving: a handler waiting for room to publish is never stuck behind a
//!   paused reader. Only if a broker sends QoS 1/2 beyond its window, and the overflow
//!   reaches [`OVERFLOW_HARD_LIMIT`], does the reader stop reading until it shrinks.
//!   Only reading ever pauses: the writer goes on.
//! - Under `DropOldest`/`DropNewest`, a full queue drops a message (the oldest queued,
//!   or the arriving one), whatever its QoS, and counts it.
//!
//! Workers are woken once per read from the socket, not once per message.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::acks::{AckGuard, AckTracker, InboundAck};
use super::queue::{HandlerQueue, Offered};
use super::wire::ReceivedPublish;
use super::{Counters, RouteTable, Shared};
use crate::dedup::Deduplicator;
use crate::{Message, QoS};

/// The most messages the overflow holds before QoS 0 messages for full queues are
/// dropped. For QoS 1/2 the broker's in-flight window (unacknowledged messages, e.g.
/// mosquitto's `max_inflight_messages`, 20 by default) keeps their number small.
pub(crate) const OVERFLOW_LIMIT: usize = 1_024;
/// The most messages the overflow holds before the reader stops reading from the
/// broker: reached only with a broker that ignores its in-flight window.
pub(crate) const OVERFLOW_HARD_LIMIT: usize = 4 * OVERFLOW_LIMIT;
const WARNING_EVERY: Duration = Duration::from_secs(5);

/// Whether reading is paused by backpressure, for the writer's keepalive check.
#[derive(Debug, Default)]
pub(crate) struct Intake {
    paused: AtomicBool,
    pauses: AtomicU64,
}

impl Intake {
    pub(crate) fn pause(&self) {
        self.pauses.fetch_add(1, Ordering::AcqRel);
        self.paused.store(true, Ordering::Release);
    }

    pub(crate) fn resume(&self) {
        self.paused.store(false, Ordering::Release);
    }

    /// Whether the reader is waiting for the handlers now.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// How many times the reader has paused.
    pub(crate) fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Acquire)
    }
}

/// A message waiting for room in handler queues.
#[derive(Debug)]
struct Overflowed {
    message: Message,
    /// The full queues, with the group member each copy is for.
    queues: Vec<(Arc<HandlerQueue>, u16)>,
    /// Clean session: settles the acknowledgement once the message is queued.
    ack: Option<Arc<AckGuard>>,
}

/// How many messages the overflow holds; shared with the overflow task.
#[derive(Debug, Default)]
struct Backlog {
    len: AtomicUsize,
    drained: Notify,
}

/// The routes matching the last topic routed: a service's messages mostly come on the
/// same few topics, and a repeated topic skips the trie walk.
#[derive(Debug, Default)]
struct MatchCache {
    topic: String,
    generation: Option<u64>,
    routes: Vec<usize>,
}

impl MatchCache {
    /// The ids of the routes matching `topic`, walking the trie only for a topic other
    /// than the last one or after the table changed.
    fn routes_for(&mut self, table: &RouteTable, topic: &str) -> &[usize] {
        let generation = Some(table.generation());
        if self.generation != generation || self.topic != topic {
            self.routes.clear();
            table.matches(topic, &mut self.routes);
            self.topic.clear();
            self.topic.push_str(topic);
            self.generation = generation;
        }
        &self.routes
    }
}

/// Where a message went.
enum Dispatched {
    /// Queued for every matching handler (or dropped by their policies).
    Done,
    /// Some handler's queue is full under `Block`.
    Overflow(Overflowed),
}

/// The reader's side of dispatch.
pub(crate) struct Inbound {
    shared: Arc<Shared>,
    dedup: Option<Deduplicator>,
    acks: Arc<AckTracker>,
    /// Persistent session: acknowledgements wait for the handlers.
    after_handlers: bool,
    overflow: mpsc::UnboundedSender<Overflowed>,
    backlog: Arc<Backlog>,
    matched: MatchCache,
    /// Queues that were empty when given a message since the last wake-up.
    to_wake: Vec<Arc<HandlerQueue>>,
    drop_warning: Warning,
    shed_warning: Warning,
    last_pause_warning: Option<Instant>,
}

/// A warning about something that happens many times: said at most every
/// [`WARNING_EVERY`], with how many times it happened since.
#[derive(Debug, Default)]
struct Warning {
    since: u64,
    last: Option<Instant>,
}

impl Warning {
    /// Counts one more; returns the count to report when the warning is due.
    fn count(&mut self) -> Option<u64> {
        self.since += 1;
        let now = Instant::now();
        if self
            .last
            .is_some_and(|at| now.duration_since(at) < WARNING_EVERY)
        {
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.since))
    }
}

impl Inbound {
    /// The dispatcher, and the overflow task to spawn next to it.
    pub(crate) fn new(
        shared: Arc<Shared>,
        acks: Arc<AckTracker>,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let config = &shared.config;
        let dedup = config
            .dedupe_enabled()
            .then(|| Deduplicator::new(config.dedupe_ttl(), config.dedupe_max_entries()));
        let (overflow, overflow_rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let task = run_overflow(overflow_rx, backlog.clone());
        let inbound = Self {
            after_handlers: !config.clean_session(),
            shared,
            dedup,
            acks,
            overflow,
            backlog,
            matched: MatchCache::default(),
            to_wake: Vec::new(),
            drop_warning: Warning::default(),
            shed_warning: Warning::default(),
            last_pause_warning: None,
        };
        (inbound, task)
    }

    /// A new connection: acknowledgements owed on the previous one are void.
    pub(crate) fn on_connected(&mut self, epoch: u64) {
        self.acks.on_connected(epoch);
    }

    /// Routes one received message. Awaits only when the overflow is at its limit.
    pub(crate) async fn on_publish(&mut self, publish: ReceivedPublish, epoch: u64) {
        let counters = &self.shared.counters;
        Counters::bump(&counters.received);
        if self.shared.is_closing() {
            // Neither handled nor acknowledged: a persistent session gets it again.
            return;
        }
        let ack = (publish.qos != QoS::AtMostOnce).then_some(InboundAck {
            pkid: publish.pkid,
            qos: publish.qos,
            epoch,
        });
        // Persistent session: the guard, shared by the message's copies, settles it.
        let guard = match ack {
            Some(ack) if self.after_handlers => Some(self.acks.register(ack)),
            _ => None,
        };
        let size = publish.topic.len() + publish.payload.len();
        let max = self.shared.config.max_packet_size();
        if size > max {
            // Acknowledged and skipped: delivering it again would not make it fit.
            Counters::bump(&counters.oversized);
            tracing::warn!(
                topic = &*publish.topic,
                size,
                max,
                "skipping a message larger than MQTT_MAX_PACKET_SIZE"
            );
            self.settle_now(guard, ack);
            return;
        }
        if let Some(dedup) = &mut self.dedup {
            if dedup.is_duplicate(&publish.payload) {
                Counters::bump(&counters.duplicates);
                tracing::debug!(topic = &*publish.topic, "skipping duplicate message");
                self.settle_now(guard, ack);
                return;
            }
        }
        let message = Message::received(
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            publish.properties,
            guard,
        );
        match self.dispatch(message) {
            Dispatched::Done => {
                if let (Some(ack), false) = (ack, self.after_handlers) {
                    self.acks.settled(ack);
                }
            }
            Dispatched::Overflow(item)
                if item.message.qos() == QoS::AtMostOnce
                    && self.backlog.len.load(Ordering::Acquire) >= OVERFLOW_LIMIT =>
            {
                self.shed(&item);
            }
            Dispatched::Overflow(mut item) => {
                if let (Some(ack), false) = (ack, self.after_handlers) {
                    let guard = self.acks.register(ack);
                    guard.mark_handled();
                    item.ack = Some(guard);
                }
                self.push_overflow(item).await;
            }
        }
    }

    /// Settles a message that goes no further (skipped, deduplicated).
    fn settle_now(&self, guard: Option<Arc<AckGuard>>, ack: Option<InboundAck>) {
        match (guard, ack) {
            (Some(guard), _) => guard.mark_handled(),
            (None, Some(ack)) => self.acks.settled(ack),
            (None, None) => {}
        }
    }

    /// Wakes the workers of every queue given messages since the last call.
    pub(crate) fn end_of_read(&mut self) {
        if self.to_wake.is_empty() {
            return;
        }
        for queue in self.to_wake.drain(..) {
            queue.wake();
        }
    }

    /// Offers the message to every matching handler queue.
    fn dispatch(&mut self, message: Message) -> Dispatched {
        // Borrow the fields apart: the route table stays read-locked while `matched` fills.
        let Self {
            shared,
            matched,
            to_wake,
            ..
        } = self;
        let routes = shared.routes_read();
        let matched = matched.routes_for(&routes, message.topic());
        if matched.is_empty() {
            message.mark_handled();
            Counters::bump(&shared.counters.unrouted);
            tracing::debug!(topic = message.topic(), "no handler for message");
            return Dispatched::Done;
        }
        let mut waiting = Vec::new();
        let mut held = None;
        let mut dropped = Vec::new();
        let mut message = Some(message);
        let last = matched.len() - 1;
        for (i, &id) in matched.iter().enumerate() {
            let Some(route) = routes.route(id) else {
                continue;
            };
            let copy = if i == last {
                message.take()
            } else {
                message.clone()
            };
            let Some(mut copy) = copy else { continue };
            if route.member != 0 {
                copy.set_member(route.member);
            }
            // A handler with messages in the overflow gets later ones behind them.
            let outcome = if route.queue.is_overflowing() {
                Offered::Full(copy)
            } else {
                route.queue.offer(copy)
            };
            match outcome {
                Offered::Queued { first: true } => to_wake.push(route.queue.clone()),
                Offered::Queued { first: false } => {}
                Offered::Dropped(lost) => dropped.push((route.filter.clone(), lost)),
                Offered::Full(back) => {
                    waiting.push((route.queue.clone(), route.member));
                    held = Some(back);
                }
            }
        }
        drop(routes);
        for (filter, lost) in dropped {
            self.count_drop(&filter, &lost);
        }
        match held {
            Some(message) => Dispatched::Overflow(Overflowed {
                message,
                queues: waiting,
                ack: None,
            }),
            None => Dispatched::Done,
        }
    }

    fn count_drop(&mut self, filter: &str, dropped: &Message) {
        dropped.mark_handled(); // dropped by the handler's own policy: settled
        Counters::bump(&self.shared.counters.dropped);
        if let Some(count) = self.drop_warning.count() {
            tracing::warn!(
                topic = dropped.topic(),
                filter,
                dropped = count,
                "handler queue full: dropping messages (the handler is slower than the inbound rate)"
            );
        }
    }

    /// Drops a QoS 0 message for the full queues it was waiting for, the overflow being
    /// full: the reader goes on reading (see the module docs).
    fn shed(&mut self, item: &Overflowed) {
        for (queue, _) in &item.queues {
            queue.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Counters::bump(&self.shared.counters.dropped);
        if let Some(count) = self.shed_warning.count() {
            tracing::warn!(
                topic = item.message.topic(),
                dropped = count,
                "overflow full: dropping QoS 0 messages for handlers whose queue is full (they are slower than the inbound rate)"
            );
        }
    }

    async fn push_overflow(&mut self, item: Overflowed) {
        for (queue, _) in &item.queues {
            queue.enter_overflow();
        }
        let len = self.backlog.len.fetch_add(1, Ordering::AcqRel) + 1;
        let _ = self.overflow.send(item);
        if len < OVERFLOW_HARD_LIMIT {
            return;
        }
        // Workers must run to make room: wake them before waiting.
        self.end_of_read();
        let now = Instant::now();
        if self
            .last_pause_warning
            .is_none_or(|at| now.duration_since(at) >= WARNING_EVERY)
        {
            tracing::warn!(
                len,
                "overflow at its hard limit (the broker sends QoS 1/2 beyond its in-flight window): pausing reads from the broker until handlers catch up (writes go on)"
            );
            self.last_pause_warning = Some(now);
        }
        self.shared.intake.pause();
        loop {
            let drained = self.backlog.drained.notified();
            if self.backlog.len.load(Ordering::Acquire) < OVERFLOW_HARD_LIMIT {
                break;
            }
            drained.await;
        }
        self.shared.intake.resume();
    }
}

/// Delivers overflowed messages as queues make room; dropping each item afterwards
/// settles its acknowledgement (clean session).
async fn run_overflow(mut items: mpsc::UnboundedReceiver<Overflowed>, backlog: Arc<Backlog>) {
    while let Some(item) = items.recv().await {
        for (queue, member) in &item.queues {
            // A closed queue (shutdown) takes nothing and does not wait.
            queue
                .push_waiting(item.message.clone().for_member(*member))
                .await;
            queue.leave_overflow();
        }
        drop(item);
        backlog.len.fetch_sub(1, Ordering::AcqRel);
        backlog.drained.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::Route;
    use crate::Overflow;

    fn route(filter: &str) -> Route {
        Route {
            handler: filter.to_owned(),
            filter: filter.to_owned(),
            qos: QoS::AtMostOnce,
            queue: Arc::new(HandlerQueue::new(8, Overflow::Block, 1)),
            member: 0,
        }
    }

    #[test]
    fn a_cached_match_is_walked_again_after_the_routes_change() {
        let mut table = RouteTable::default();
        let sensors = table.insert(route("sensors/+"));
        let mut cache = MatchCache::default();
        assert_eq!(cache.routes_for(&table, "sensors/kitchen"), [sensors]);
        assert_eq!(cache.routes_for(&table, "sensors/kitchen"), [sensors]);
        assert_eq!(cache.routes_for(&table, "other"), [] as [usize; 0]);

        let all = table.insert(route("#"));
        assert_eq!(cache.routes_for(&table, "other"), [all]);
        table.remove(all);
        assert_eq!(cache.routes_for(&table, "other"), [] as [usize; 0]);
        table.clear();
        assert_eq!(
            cache.routes_for(&table, "sensors/kitchen"),
            [] as [usize; 0]
        );
    }
}
