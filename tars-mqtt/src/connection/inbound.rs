//! Routing received messages to the handler queues, without ever blocking the event loop.
//!
//! Queue policy (see `docs/architecture.md` and `docs/flow-control.md`): every handler
//! has a bounded queue with an overflow policy ([`Overflow`](crate::Overflow)).
//! - Under `Block` (the default), a message that finds its handler's queue full is
//!   handed to the overflow task, which waits for room. A QoS 1/2 message's
//!   acknowledgement is held back until every handler has it, so the broker stops
//!   sending once its in-flight window is full. Later messages for that handler queue
//!   behind it (its order is kept); other handlers get theirs at once, and every
//!   acknowledgement goes out in arrival order. Once the overflow holds
//!   [`OVERFLOW_LIMIT`] messages the event loop stops reading until it shrinks: the
//!   backpressure reaches the broker, as in a hand-written loop that handles each
//!   message before reading the next, and nothing is dropped here.
//! - Under `DropOldest`/`DropNewest`, a full queue drops a message (the oldest queued,
//!   or the arriving one), whatever its QoS, and counts it.
//!
//! Acknowledgements with nothing ahead of them are written straight into the
//! connection's write buffer and flushed once the batch of packets read together is
//! dispatched, as rumqttc's own automatic acks are (one write for a batch, not one per
//! ack). The others go through rumqttc's request channel, in order behind the
//! overflow.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{EventLoop, PubAck, PubRec, Publish, QoS, Request};
use tokio::sync::{mpsc, Notify};

use super::acks::AckOrder;
use super::queue::{HandlerQueue, Offered};

use super::{Counters, Shared};
use crate::dedup::Deduplicator;
use crate::Message;

/// The most messages the overflow holds before the event loop stops reading from the
/// broker. For QoS 1/2 the broker's in-flight window (unacknowledged messages, e.g.
/// mosquitto's `max_inflight_messages`, 20 by default) normally keeps it far below this.
pub(crate) const OVERFLOW_LIMIT: usize = 1_024;
const DROP_WARNING_EVERY: Duration = Duration::from_secs(5);

/// The acknowledgement owed for a QoS 1/2 message.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ack {
    pkid: u16,
    qos: QoS,
    epoch: u64,
}

impl Ack {
    /// The connection the message came on.
    pub(crate) fn epoch(self) -> u64 {
        self.epoch
    }

    /// The stub rumqttc needs to build the PUBACK (QoS 1) or PUBREC (QoS 2).
    pub(crate) fn as_publish(self) -> Publish {
        let mut publish = Publish::from_bytes(String::new(), self.qos, Bytes::new());
        publish.pkid = self.pkid;
        publish
    }

    /// The PUBACK (QoS 1) or PUBREC (QoS 2) request.
    fn as_request(self) -> Request {
        match self.qos {
            QoS::ExactlyOnce => Request::PubRec(PubRec::new(self.pkid)),
            _ => Request::PubAck(PubAck::new(self.pkid)),
        }
    }
}

/// A QoS 1/2 message (or only its ack) waiting for room in handler queues.
#[derive(Debug)]
pub(crate) struct Overflowed {
    message: Option<Message>,
    queues: Vec<Arc<HandlerQueue>>,
    ack: Option<Ack>,
}

/// How many items the overflow holds, and how many acks are on their way through
/// rumqttc's request channel; shared by the event loop and the overflow task.
#[derive(Debug, Default)]
pub(crate) struct Backlog {
    len: AtomicUsize,
    drained: Notify,
    /// Acks sent through the request channel and not yet written (seen as `Outgoing`).
    acks_in_channel: AtomicUsize,
}

impl Backlog {
    /// Whether an ack may be written now without overtaking an earlier one.
    fn nothing_ahead(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0 && self.acks_in_channel.load(Ordering::Acquire) == 0
    }
}

/// The event loop's side of dispatch.
pub(crate) struct Inbound {
    shared: Arc<Shared>,
    dedup: Option<Deduplicator>,
    /// With a persistent session: acks wait for the handlers (see `acks.rs`).
    after_handlers: Option<Arc<AckOrder>>,
    overflow: mpsc::UnboundedSender<Overflowed>,
    backlog: Arc<Backlog>,
    matched: Vec<usize>,
    /// Acks written into the connection's buffer and not flushed yet.
    unflushed: bool,
    dropped_since_warning: u64,
    last_drop_warning: Option<Instant>,
}

impl Inbound {
    /// The dispatcher, and the overflow task to spawn next to it.
    pub(crate) fn new(shared: Arc<Shared>) -> (Self, impl std::future::Future<Output = ()>) {
        let config = &shared.config;
        let dedup = config
            .dedupe_enabled()
            .then(|| Deduplicator::new(config.dedupe_ttl(), config.dedupe_max_entries()));
        let (overflow, overflow_rx) = mpsc::unbounded_channel();
        let backlog = Arc::new(Backlog::default());
        let overflow_task = run_overflow(overflow_rx, shared.clone(), backlog.clone());
        let (after_handlers, ack_task) = if config.clean_session() {
            (None, None)
        } else {
            let (order, task) = AckOrder::new(shared.clone());
            (Some(order), Some(task))
        };
        let task = async move {
            match ack_task {
                Some(ack_task) => drop(tokio::join!(overflow_task, ack_task)),
                None => overflow_task.await,
            }
        };
        let inbound = Self {
            shared,
            dedup,
            after_handlers,
            overflow,
            backlog,
            matched: Vec::new(),
            unflushed: false,
            dropped_since_warning: 0,
            last_drop_warning: None,
        };
        (inbound, task)
    }

    /// Routes one received message; its ack goes straight into `connection`'s write
    /// buffer when nothing is ahead of it. Awaits only when the overflow is at its limit
    /// (or the write buffer is full).
    pub(crate) async fn on_publish(
        &mut self,
        publish: Publish,
        epoch: u64,
        connection: Option<&mut EventLoop>,
    ) {
        let counters = &self.shared.counters;
        Counters::bump(&counters.received);
        let mut ack = (publish.qos != QoS::AtMostOnce).then_some(Ack {
            pkid: publish.pkid,
            qos: publish.qos,
            epoch,
        });
        if self.shared.is_closing() {
            // Not handled and not acknowledged: a persistent session gets it again.
            return;
        }
        // With a persistent session the ack waits for the handlers: the guard, shared by
        // the message's copies, settles it (here at once for a message not handed on).
        let guard = match (&self.after_handlers, ack) {
            (Some(order), Some(owed)) => {
                ack = None;
                Some(order.register(owed))
            }
            _ => None,
        };
        let size = publish.topic.len() + publish.payload.len();
        let max = self.shared.config.max_packet_size();
        if size > max {
            // Acknowledged and skipped: redelivering it would not make it fit.
            Counters::bump(&counters.oversized);
            if let Some(guard) = &guard {
                guard.mark_handled();
            }
            tracing::warn!(
                topic = publish.topic,
                size,
                max,
                "skipping a message larger than MQTT_MAX_PACKET_SIZE"
            );
            self.acknowledge(ack, connection).await;
            return;
        }
        if let Some(dedup) = &mut self.dedup {
            if dedup.is_duplicate(&publish.payload) {
                Counters::bump(&counters.duplicates);
                tracing::debug!(topic = publish.topic, "skipping duplicate message");
                if let Some(guard) = &guard {
                    guard.mark_handled();
                }
                self.acknowledge(ack, connection).await;
                return;
            }
        }
        let mut message = Message::new(publish.topic, publish.payload, publish.qos, publish.retain);
        if let Some(guard) = guard {
            message = message.with_ack(guard);
        }
        match self.dispatch(message) {
            None => self.acknowledge(ack, connection).await,
            Some(mut item) => {
                item.ack = ack;
                self.push_overflow(item).await;
            }
        }
    }

    /// Offers the message to every matching handler queue, or returns what must go
    /// through the overflow (without its ack, which the caller adds).
    fn dispatch(&mut self, message: Message) -> Option<Overflowed> {
        // Borrow the fields apart: the route table stays read-locked while `matched` fills.
        let Self {
            shared, matched, ..
        } = self;
        let routes = shared.routes_read();
        matched.clear();
        routes.matches(message.topic(), matched);
        if matched.is_empty() {
            message.mark_handled();
            Counters::bump(&shared.counters.unrouted);
            tracing::debug!(topic = message.topic(), "no handler for message");
            return None;
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
            let Some(copy) = copy else { continue };
            // A handler with messages in the overflow gets later ones behind them.
            let outcome = if route.queue.is_overflowing() {
                Offered::Full(copy)
            } else {
                route.queue.offer(copy)
            };
            match outcome {
                Offered::Queued => {}
                Offered::Dropped(lost) => dropped.push((route.filter.clone(), lost)),
                Offered::Full(back) => {
                    waiting.push(route.queue.clone());
                    held = Some(back);
                }
            }
        }
        drop(routes);
        for (filter, lost) in dropped {
            self.count_drop(&filter, &lost);
        }
        held.map(|message| Overflowed {
            message: Some(message),
            queues: waiting,
            ack: None,
        })
    }

    fn count_drop(&mut self, filter: &str, dropped: &Message) {
        dropped.mark_handled(); // dropped by the handler's own policy: settled
        Counters::bump(&self.shared.counters.dropped);
        self.dropped_since_warning += 1;
        let now = Instant::now();
        if self
            .last_drop_warning
            .is_none_or(|at| now.duration_since(at) >= DROP_WARNING_EVERY)
        {
            tracing::warn!(
                topic = dropped.topic(),
                filter,
                dropped = self.dropped_since_warning,
                "handler queue full: dropping messages (the handler is slower than the inbound rate)"
            );
            self.last_drop_warning = Some(now);
            self.dropped_since_warning = 0;
        }
    }

    /// Sends the ack now if nothing is ahead of it (into the write buffer of
    /// `connection` when there is one), else behind the overflow.
    async fn acknowledge(&mut self, ack: Option<Ack>, connection: Option<&mut EventLoop>) {
        let Some(ack) = ack else { return };
        if self.backlog.nothing_ahead() {
            if let Some(connection) = connection {
                if write_ack(connection, ack).await {
                    self.unflushed = true;
                    return;
                }
            }
            if self.shared.mqtt.try_ack(&ack.as_publish()).is_ok() {
                self.backlog.acks_in_channel.fetch_add(1, Ordering::AcqRel);
                return;
            }
        }
        let item = Overflowed {
            message: None,
            queues: Vec::new(),
            ack: Some(ack),
        };
        self.backlog.len.fetch_add(1, Ordering::AcqRel);
        let _ = self.overflow.send(item);
    }

    /// Flushes the acks written into `connection`'s buffer once no packet read with
    /// them is left to dispatch.
    pub(crate) async fn flush_acks(&mut self, connection: &mut EventLoop) {
        if !self.unflushed || !connection.state.events.is_empty() {
            return;
        }
        self.unflushed = false;
        let timeout = Duration::from_secs(connection.network_options().connection_timeout());
        if let Some(network) = connection.network.as_mut() {
            // An error surfaces at the event loop's next poll.
            let _ = tokio::time::timeout(timeout, network.flush()).await;
        }
    }

    /// An ack sent through the request channel was written.
    pub(crate) fn on_channel_ack_written(&self) {
        let _ =
            self.backlog
                .acks_in_channel
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A new connection: acks of the previous one are void, whatever became of them.
    pub(crate) fn on_connected(&mut self, epoch: u64) {
        if let Some(order) = &self.after_handlers {
            order.on_connected(epoch);
        }
        self.backlog.acks_in_channel.store(0, Ordering::Release);
        self.unflushed = false;
    }

    async fn push_overflow(&mut self, item: Overflowed) {
        for queue in &item.queues {
            queue.enter_overflow();
        }
        let len = self.backlog.len.fetch_add(1, Ordering::AcqRel) + 1;
        let _ = self.overflow.send(item);
        if len >= OVERFLOW_LIMIT {
            tracing::warn!(
                len,
                "overflow full: pausing reads from the broker until handlers catch up"
            );
            while self.backlog.len.load(Ordering::Acquire) >= OVERFLOW_LIMIT {
                self.backlog.drained.notified().await;
            }
        }
    }
}

/// Writes `ack` into the connection's write buffer (flushed by
/// [`Inbound::flush_acks`]); false when there is no connection to write to.
async fn write_ack(connection: &mut EventLoop, ack: Ack) -> bool {
    let Some(network) = connection.network.as_mut() else {
        return false;
    };
    match connection.state.handle_outgoing_packet(ack.as_request()) {
        Ok(Some(packet)) => {
            // rumqttc queued an `Outgoing` event for it; only acks sent through the
            // request channel are counted from those events.
            connection.state.events.pop_back();
            network.write(packet).await.is_ok()
        }
        _ => false,
    }
}

/// Delivers overflowed messages as queues make room, then sends their acks, in order.
async fn run_overflow(
    mut items: mpsc::UnboundedReceiver<Overflowed>,
    shared: Arc<Shared>,
    backlog: Arc<Backlog>,
) {
    while let Some(item) = items.recv().await {
        if let Some(message) = item.message {
            for queue in &item.queues {
                // A closed queue (shutdown) takes nothing and does not wait.
                queue.push_waiting(message.clone()).await;
                queue.leave_overflow();
            }
        }
        if let Some(ack) = item.ack {
            if shared.status().epoch == ack.epoch {
                backlog.acks_in_channel.fetch_add(1, Ordering::AcqRel);
                if shared.mqtt.ack(&ack.as_publish()).await.is_err() {
                    backlog.acks_in_channel.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
        backlog.len.fetch_sub(1, Ordering::AcqRel);
        backlog.drained.notify_waiters();
    }
}
