//! Routing received messages to the handler queues.
//!
//! Queue policy (see `docs/architecture.md` and `docs/flow-control.md`): every handler
//! has a bounded queue with an overflow policy ([`Overflow`](crate::Overflow)).
//! - Under `Block` (the default), a message that finds its handler's queue full is
//!   handed to the overflow task, which waits for room. Its acknowledgement waits too
//!   (`acks.rs`). Later messages for that handler queue behind it (its order is kept);
//!   other handlers get theirs at once.
//! - The overflow holds, for each handler, at most its intake bound in bytes
//!   (`intake_bytes`, `TARS_INTAKE_BYTES`). A message that would go past it makes the
//!   reader stop reading until there is room again: TCP backpressure reaches the
//!   broker, which holds the rest. Nothing is dropped.
//! - Except while the connection waits for an answer that only reading brings (the
//!   acknowledgement of a QoS 1/2 publish, a SUBACK, a request's reply): a handler
//!   waiting for it must not wait for ever behind a paused reader. Then reading goes
//!   on, and past the bound a QoS 0 message is dropped for the handlers it does not fit
//!   (counted and logged); QoS 1/2 messages are still held, bounded by the broker's
//!   in-flight window, and only at [`HARD_LIMIT_FACTOR`] times the bound (a broker
//!   that ignores its window) does reading pause anyway.
//! - Under `DropOldest`/`DropNewest`, a full queue drops a message (the oldest queued,
//!   or the arriving one), whatever its QoS, and counts it.
//!
//! Workers are woken once per read from the socket, not once per message, and a read
//! that leaves a queue half full lets its workers run before the next one: on a
//! one-thread runtime the reader never runs far ahead of the handlers.

use std::pin::pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, Notify};

use super::acks::{AckGuard, AckTracker};
use super::queue::{intake_size, HandlerQueue, Offered};
use super::routes::RouteTable;
use super::{Counters, Dispatch};
use crate::connection::wire::ReceivedPublish;
use crate::connection::{Connection, Dispatcher, InboundAck};
use crate::dispatch::dedup::Deduplicator;
use crate::{Message, QoS};

/// How many times its intake bound the overflow may hold for a handler, in QoS 1/2
/// messages, while the connection waits for an answer, before reading pauses anyway.
pub(crate) const HARD_LIMIT_FACTOR: usize = 4;
const WARNING_EVERY: Duration = Duration::from_secs(5);

/// A message waiting for room in handler queues.
#[derive(Debug)]
struct Overflowed {
    message: Message,
    /// What it weighs against the intake bounds ([`intake_size`]).
    size: usize,
    /// The full queues, with the group member each copy is for.
    queues: Vec<(Arc<HandlerQueue>, u16)>,
    /// Clean session: settles the acknowledgement once the message is queued.
    ack: Option<Arc<AckGuard>>,
}

/// What became of a message held for full queues.
enum Held {
    /// In the overflow, or dropped for the queues past their bound.
    Done,
    /// Past a bound while reading may pause: wait for room, then try again.
    Wait(Overflowed),
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

/// The routes a message's subscription identifiers name; `None` when it carries none,
/// or one the table cannot resolve (the topic is matched then). Identifiers are of
/// distinct filters, so their routes are distinct.
fn routes_identified<'a>(
    table: &'a RouteTable,
    subscription_ids: &[usize],
    several: &'a mut Vec<usize>,
) -> Option<&'a [usize]> {
    match subscription_ids {
        [] => None,
        [one] => table.identified(*one),
        many => {
            several.clear();
            for &identifier in many {
                several.extend_from_slice(table.identified(identifier)?);
            }
            Some(several)
        }
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
    connection: Arc<Connection>,
    dispatch: Arc<Dispatch>,
    dedup: Option<Deduplicator>,
    acks: Arc<AckTracker>,
    overflow: mpsc::UnboundedSender<Overflowed>,
    /// Told by the overflow task each time a message leaves it.
    drained: Arc<Notify>,
    matched: MatchCache,
    /// The routes of a message that came through several identified subscriptions.
    identified: Vec<usize>,
    /// Queues that were empty when given a message since the last wake-up.
    to_wake: Vec<Arc<HandlerQueue>>,
    /// A queue given a message since the last read is half full or more.
    crowded: bool,
    drop_warning: Warning,
    shed_warning: Warning,
    pause_warning: Warning,
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
        connection: Arc<Connection>,
        dispatch: Arc<Dispatch>,
        acks: Arc<AckTracker>,
    ) -> (Self, impl std::future::Future<Output = ()>) {
        let config = &connection.config;
        let dedup = config
            .dedupe_enabled()
            .then(|| Deduplicator::new(config.dedupe_ttl(), config.dedupe_max_entries()));
        let (overflow, overflow_rx) = mpsc::unbounded_channel();
        let drained = Arc::new(Notify::new());
        let task = run_overflow(overflow_rx, drained.clone());
        let inbound = Self {
            connection,
            dispatch,
            dedup,
            acks,
            overflow,
            drained,
            matched: MatchCache::default(),
            identified: Vec::new(),
            to_wake: Vec::new(),
            crowded: false,
            drop_warning: Warning::default(),
            shed_warning: Warning::default(),
            pause_warning: Warning::default(),
        };
        (inbound, task)
    }

    /// Routes one received message. Awaits only when the overflow is at its limit.
    pub(crate) async fn route(&mut self, publish: ReceivedPublish, epoch: u64) {
        let counters = &self.dispatch.counters;
        Counters::bump(&counters.received);
        if self.connection.is_closing() {
            // Neither handled nor acknowledged: a persistent session gets it again.
            return;
        }
        let ack = (publish.qos != QoS::AtMostOnce).then_some(InboundAck {
            pkid: publish.pkid,
            qos: publish.qos,
            epoch,
        });
        if publish.qos == QoS::ExactlyOnce && !self.connection.qos2.received(publish.pkid) {
            // Handed over before and not yet released: answered again, not handled twice.
            Counters::bump(&counters.duplicates);
            tracing::debug!(
                topic = &*publish.topic,
                pkid = publish.pkid,
                "QoS 2 message sent again before its PUBREL: not handled twice"
            );
            self.acks.on_skipped(self.acks.on_received(ack));
            return;
        }
        let mut owed = self.acks.on_received(ack);
        let size = publish.topic.len() + publish.payload.len();
        let max = self.connection.config.max_packet_size();
        if size > max {
            // Acknowledged and skipped: delivering it again would not make it fit.
            Counters::bump(&counters.oversized);
            tracing::warn!(
                topic = &*publish.topic,
                size,
                max,
                "skipping a message larger than MQTT_MAX_PACKET_SIZE"
            );
            self.acks.on_skipped(owed);
            return;
        }
        if let Some(dedup) = &mut self.dedup {
            if dedup.is_duplicate(&publish.payload) {
                Counters::bump(&counters.duplicates);
                tracing::debug!(topic = &*publish.topic, "skipping duplicate message");
                self.acks.on_skipped(owed);
                return;
            }
        }
        let message = Message::received(
            publish.topic,
            publish.payload,
            publish.qos,
            publish.retain,
            publish.properties,
            owed.take_guard(),
        );
        match self.dispatch(message, &publish.subscription_ids) {
            Dispatched::Done => self.acks.on_queued(&owed),
            Dispatched::Overflow(mut item) => {
                item.ack = self.acks.on_overflowed(&owed);
                // The cold path, boxed: its state does not weigh on every message's future.
                Box::pin(self.hold(item)).await;
            }
        }
    }

    /// Wakes the workers of every queue given messages since the last call. True when
    /// one of those queues is half full or more: its workers should run before the
    /// reader reads again.
    fn wake_workers(&mut self) -> bool {
        if self.to_wake.is_empty() {
            return std::mem::take(&mut self.crowded);
        }
        for queue in self.to_wake.drain(..) {
            queue.wake();
        }
        std::mem::take(&mut self.crowded)
    }

    /// Offers the message to the handler queues of the subscriptions it came through:
    /// those its subscription identifiers name (MQTT 5), else those whose filter
    /// matches its topic.
    fn dispatch(&mut self, message: Message, subscription_ids: &[usize]) -> Dispatched {
        // Borrow the fields apart: the route table stays read-locked while `matched` fills.
        let Self {
            dispatch,
            matched,
            identified,
            to_wake,
            crowded: crowded_flag,
            ..
        } = self;
        let routes = dispatch.routes_read();
        let matched = match routes_identified(&routes, subscription_ids, identified) {
            Some(identified) => identified,
            None => matched.routes_for(&routes, message.topic()),
        };
        if matched.is_empty() {
            message.mark_handled();
            Counters::bump(&dispatch.counters.unrouted);
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
                Offered::Queued { first, crowded } => {
                    if first {
                        to_wake.push(route.queue.clone());
                    }
                    *crowded_flag |= crowded;
                }
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
                size: intake_size(&message),
                message,
                queues: waiting,
                ack: None,
            }),
            None => Dispatched::Done,
        }
    }

    fn count_drop(&mut self, filter: &str, dropped: &Message) {
        dropped.mark_handled(); // dropped by the handler's own policy: settled
        Counters::bump(&self.dispatch.counters.dropped);
        if let Some(count) = self.drop_warning.count() {
            tracing::warn!(
                topic = dropped.topic(),
                filter,
                dropped = count,
                "handler queue full: dropping messages (the handler is slower than the inbound rate)"
            );
        }
    }

    /// Holds a message for the full queues it waits for (see the module docs): in the
    /// overflow within their intake bounds; past them, reading pauses until there is
    /// room, unless the connection waits for an answer of the broker.
    async fn hold(&mut self, mut item: Overflowed) {
        let drained = self.drained.clone();
        let connection = self.connection.clone();
        let mut paused = false;
        loop {
            // Registered before looking, so that room made meanwhile is not missed.
            let mut room = pin!(drained.notified());
            let mut answer = pin!(connection.intake.awaiting.notified());
            room.as_mut().enable();
            answer.as_mut().enable();
            item = match self.place(item, paused) {
                Held::Done => break,
                Held::Wait(item) => item,
            };
            // Workers must run to make room: wake them before waiting.
            self.wake_workers();
            if !paused {
                self.warn_paused(&item);
                connection.intake.pause();
                paused = true;
            }
            tokio::select! {
                () = room => {}
                () = answer => {}
            }
        }
        if paused {
            connection.intake.resume();
        }
    }

    /// Puts a held message in the overflow, drops it for the queues past their bound,
    /// or says to wait.
    fn place(&mut self, mut item: Overflowed, resuming: bool) -> Held {
        let size = item.size;
        if item
            .queues
            .iter()
            .all(|(queue, _)| queue.intake_has_room(size, resuming))
        {
            self.push_overflow(item);
            return Held::Done;
        }
        if !self.must_read() {
            return Held::Wait(item);
        }
        if item.message.qos() == QoS::AtMostOnce {
            let (fits, past): (Vec<_>, Vec<_>) = std::mem::take(&mut item.queues)
                .into_iter()
                .partition(|(queue, _)| queue.intake_has_room(size, false));
            if !past.is_empty() {
                self.shed(&item.message, &past);
            }
            if !fits.is_empty() {
                item.queues = fits;
                self.push_overflow(item);
            }
            return Held::Done;
        }
        if item
            .queues
            .iter()
            .any(|(queue, _)| queue.intake_beyond(HARD_LIMIT_FACTOR))
        {
            return Held::Wait(item);
        }
        self.push_overflow(item);
        Held::Done
    }

    /// Whether the connection waits for something only reading brings: a handler
    /// waiting for it must not wait behind a paused reader.
    fn must_read(&self) -> bool {
        self.connection.intake.must_read()
    }

    /// Drops a QoS 0 message for the full queues past their intake bound, the
    /// connection having to read on (see the module docs).
    fn shed(&mut self, message: &Message, past: &[(Arc<HandlerQueue>, u16)]) {
        for (queue, _) in past {
            queue.counters.dropped.fetch_add(1, Ordering::Relaxed);
        }
        Counters::bump(&self.dispatch.counters.dropped);
        if let Some(count) = self.shed_warning.count() {
            tracing::warn!(
                topic = message.topic(),
                dropped = count,
                "intake bound reached while the connection waits for the broker (an acknowledgement or a reply, which only reading brings): dropping QoS 0 messages for handlers whose queue is full (they are slower than the inbound rate; see intake_bytes)"
            );
        }
    }

    fn warn_paused(&mut self, item: &Overflowed) {
        if let Some(count) = self.pause_warning.count() {
            let (queue, _) = &item.queues[0];
            tracing::warn!(
                topic = item.message.topic(),
                held_bytes = queue.overflow_bytes(),
                intake_bytes = queue.intake_limit(),
                pauses = count,
                "a handler is slower than its input: reading from the broker paused until its queue has room (the broker holds the rest; writes go on)"
            );
        }
    }

    fn push_overflow(&mut self, item: Overflowed) {
        for (queue, _) in &item.queues {
            queue.enter_overflow(item.size);
        }
        let _ = self.overflow.send(item);
    }
}

impl Dispatcher for Inbound {
    fn on_connected(&mut self, epoch: u64) {
        self.acks.on_connected(epoch);
    }

    fn on_publish(
        &mut self,
        publish: ReceivedPublish,
        epoch: u64,
    ) -> impl std::future::Future<Output = ()> + Send {
        self.route(publish, epoch)
    }

    fn end_of_read(&mut self) -> bool {
        self.wake_workers()
    }
}

/// Delivers overflowed messages as queues make room; dropping each item afterwards
/// settles its acknowledgement (clean session).
async fn run_overflow(mut items: mpsc::UnboundedReceiver<Overflowed>, drained: Arc<Notify>) {
    while let Some(item) = items.recv().await {
        for (queue, member) in &item.queues {
            // A closed queue (shutdown) takes nothing and does not wait.
            queue
                .push_waiting(item.message.clone().for_member(*member))
                .await;
            queue.leave_overflow(item.size);
            drained.notify_waiters();
        }
        drop(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::routes::Route;
    use crate::Overflow;

    fn route(filter: &str) -> Route {
        Route {
            handler: filter.to_owned(),
            filter: filter.to_owned(),
            qos: QoS::AtMostOnce,
            queue: Arc::new(HandlerQueue::new(8, Overflow::Block, 1, 1 << 20)),
            member: 0,
            subscribe: crate::SubscribeOptions::default(),
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

    fn identifier(filter: &str) -> usize {
        crate::connection::filter::identifier_of(filter) as usize
    }

    #[test]
    fn subscription_identifiers_name_their_routes_and_unknown_ones_leave_it_to_matching() {
        let mut table = RouteTable::default();
        let exact = table.insert(route("a/b"));
        let all = table.insert(route("a/#"));
        let also_all = table.insert(route("a/#"));
        let shared = table.insert(route("$share/g/a/b"));
        let mut several = Vec::new();
        let mut routes =
            |ids: &[usize]| routes_identified(&table, ids, &mut several).map(<[usize]>::to_vec);
        assert_eq!(routes(&[]), None, "no identifiers: matched");
        assert_eq!(routes(&[identifier("a/b")]), Some(vec![exact]));
        assert_eq!(routes(&[identifier("$share/g/a/b")]), Some(vec![shared]));
        assert_eq!(
            routes(&[identifier("a/b"), identifier("a/#")]),
            Some(vec![exact, all, also_all])
        );
        assert_eq!(routes(&[identifier("x/y")]), None, "not ours: matched");
        assert_eq!(routes(&[identifier("a/b"), 0]), None);

        table.remove(all);
        let ids = [identifier("a/#")];
        assert_eq!(
            routes_identified(&table, &ids, &mut several),
            Some(&[also_all][..])
        );
        table.remove(also_all);
        assert_eq!(routes_identified(&table, &ids, &mut several), None);
    }

    #[test]
    fn filters_whose_identifiers_collide_are_matched() {
        // Two different filters with one FNV-1a hash, found by search.
        let (first, second) = colliding_filters();
        let mut table = RouteTable::default();
        table.insert(route(&first));
        table.insert(route(&second));
        let ids = [identifier(&first)];
        assert_eq!(routes_identified(&table, &ids, &mut Vec::new()), None);
    }

    /// Two filters `t/<n>` with the same identifier.
    fn colliding_filters() -> (String, String) {
        let mut seen = std::collections::HashMap::new();
        for n in 0u64.. {
            let filter = format!("t/{n}");
            if let Some(other) = seen.insert(identifier(&filter), filter.clone()) {
                return (other, filter);
            }
        }
        unreachable!("the identifiers are finite")
    }
}
