//! The MQTT session: one connection to the broker at a time, kept up, and everything
//! said on it. See `docs/architecture.md` for the whole picture.
//!
//! - `link` keeps the connection: it connects, runs one reader and one writer per
//!   connection, and reconnects with backoff (`failover` picks the broker, `tls` the
//!   transport);
//! - `reader` and `writer` are the two halves of the socket, which never wait on each
//!   other; `wire` is the one adapter over the MQTT library (codec and transport);
//! - `intake` is the reader's flow control (paused by the dispatcher's backpressure),
//!   `inbound_qos2` remembers received QoS 2 messages until their PUBREL;
//! - `publish` is the outbound half: it checks and hands publishes to the writer's lanes,
//!   `outbox` owns what we publish until it is acknowledged;
//! - `subscriptions` subscribes and restores subscriptions after each connection,
//!   `presence` builds health, last will, manifest and heartbeat, `heartbeat` sends the
//!   heartbeat and watches that writes get out.
//!
//! The session knows nothing of handlers: the reader hands messages to a [`Dispatcher`]
//! and the subscriptions task asks a [`SubscriptionSource`] what to subscribe.

pub(crate) mod backoff;
pub(crate) mod durable_lane;
pub(crate) mod error;
pub(crate) mod event_counts;
pub(crate) mod failover;
pub(crate) mod filter;
pub(crate) mod heartbeat;
pub(crate) mod inbound_qos2;
pub(crate) mod intake;
pub(crate) mod link;
pub(crate) mod outbox;
pub(crate) mod presence;
pub(crate) mod publish;
pub(crate) mod reader;
pub(crate) mod redirect;
pub(crate) mod subscriptions;
pub(crate) mod tls;
pub(crate) mod topic_alias;
pub(crate) mod wire;
pub(crate) mod writer;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot, watch, Notify};

use crate::{Config, Error, QoS, Result};
use event_counts::EventMetrics;
pub(crate) use filter::Filter;
use inbound_qos2::InboundQos2;
use intake::Intake;
use presence::Presence;
use wire::{PublishPacket, ReceivedPublish, SubscribeOutcome};

/// Connection state, published by the link and the session task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Status {
    /// A CONNACK was received and the connection has not failed since.
    pub(crate) connected: bool,
    /// Incremented on every CONNACK; acks of messages from an older connection are void.
    pub(crate) epoch: u64,
    /// Subscriptions were restored (and health published) on connection `epoch`.
    pub(crate) subscribed_epoch: u64,
    /// Starting failed for good (see [`Shared::take_startup_failure`]).
    pub(crate) failed: bool,
    /// The link has stopped for good.
    pub(crate) stopped: bool,
    /// The largest packet the broker accepts (MQTT 5 CONNACK), when it said.
    pub(crate) broker_max_packet: Option<u32>,
    /// How many topic aliases the broker takes from this client (MQTT 5 CONNACK; 0:
    /// none).
    pub(crate) topic_alias_max: u16,
    /// The index in the broker list of the broker connected to (or last connected to).
    pub(crate) broker: usize,
    /// MQTT 5: the broker takes subscription identifiers (each subscription is sent in
    /// a SUBSCRIBE of its own, with its identifier).
    pub(crate) subscription_identifiers: bool,
}

/// The command lane: what the writer sends ahead of the data lane. Unbounded, but small
/// by nature: acknowledgements are bounded by the broker's in-flight window, the rest by
/// their rate (heartbeats, health, subscriptions, one stop).
#[derive(Debug)]
pub(crate) enum Command {
    /// A publish that must not wait behind data (heartbeat, health, manifest).
    Publish(PublishPacket),
    /// The acknowledgement of a received QoS 1/2 message.
    Ack(InboundAck),
    /// A SUBSCRIBE; the reply gets the broker's answer per filter. With `identifier`,
    /// the packet carries it (MQTT 5; it applies to every filter of the packet).
    Subscribe {
        filters: Vec<Filter>,
        identifier: Option<u32>,
        reply: oneshot::Sender<Vec<SubscribeOutcome>>,
    },
    /// Sends `last_words`, waits (bounded) until every QoS 1/2 publish is acknowledged,
    /// sends DISCONNECT and stops the link.
    Stop {
        last_words: Vec<PublishPacket>,
        done: oneshot::Sender<()>,
    },
}

/// A client asks for a subscription to be sent (its route is already in place); the
/// reply gets the broker's answer.
#[derive(Debug)]
pub(crate) struct SubscribeRequest {
    pub(crate) filter: Filter,
    pub(crate) reply: oneshot::Sender<Result<()>>,
}

/// Counters of what the session did, readable at any time.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) dropped_offline: AtomicU64,
    pub(crate) publishes_written: AtomicU64,
    /// QoS 1/2 publishes the broker acknowledged (PUBACK, PUBCOMP).
    pub(crate) publishes_acknowledged: AtomicU64,
    /// MQTT 5: QoS 1/2 publishes the broker refused (a PUBACK or PUBREC reason code of
    /// 0x80 or more).
    pub(crate) publishes_refused: AtomicU64,
    pub(crate) connections: AtomicU64,
    /// A gauge: QoS 1/2 publishes in flight or kept for the next connection, as the
    /// writer last saw them.
    pub(crate) outbox: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The acknowledgement owed for a received QoS 1/2 message (the dispatcher decides
/// when, the writer writes it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InboundAck {
    pub(crate) pkid: u16,
    pub(crate) qos: QoS,
    /// The connection the message came on.
    pub(crate) epoch: u64,
}

/// Where the reader hands what it receives: the dispatcher, seen from the session.
pub(crate) trait Dispatcher: Send {
    /// A new connection: acknowledgements owed on the previous one are void.
    fn on_connected(&mut self, epoch: u64);

    /// One received message. Awaits only under backpressure (the reader then pauses).
    fn on_publish(
        &mut self,
        publish: ReceivedPublish,
        epoch: u64,
    ) -> impl std::future::Future<Output = ()> + Send;

    /// The end of one read from the socket. True when the handlers should run before
    /// the next read.
    fn end_of_read(&mut self) -> bool;
}

/// What the session subscribes to after each connection: the dispatcher's routes.
pub(crate) trait SubscriptionSource: Send + Sync {
    /// Each distinct filter once, with the highest QoS asked for it and its options.
    fn subscriptions(&self) -> Vec<Filter>;
}

/// The session's state, shared by its tasks and by the handles that publish through it.
#[derive(Debug)]
pub(crate) struct Connection {
    pub(crate) config: Config,
    pub(crate) presence: Presence,
    pub(crate) status: watch::Sender<Status>,
    /// The command lane to the writer.
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    /// The data lane to the writer: publishes, bounded (`publish` waits when full).
    pub(crate) data: mpsc::Sender<PublishPacket>,
    /// Tells the link to drop the connection and reconnect (the watchdog's remedy).
    pub(crate) force_reconnect: Notify,
    /// Asks the subscriptions task for a subscription.
    pub(crate) subscribe: mpsc::UnboundedSender<SubscribeRequest>,
    pub(crate) intake: Intake,
    /// Received QoS 2 messages awaiting the broker's PUBREL.
    pub(crate) qos2: InboundQos2,
    pub(crate) counters: Counters,
    /// Publishes and request round trips per event type, for metrics.
    pub(crate) events: EventMetrics,
    /// Set once shutdown starts: no new messages are dispatched.
    pub(crate) closing: AtomicBool,
    /// Why starting failed for good (a refused subscription).
    pub(crate) startup_failure: Mutex<Option<Error>>,
    /// Why the last attempt to reach the broker failed, until a connection succeeds
    /// (for `/healthz`: a host that does not resolve, a refused port, TLS).
    pub(crate) connect_failure: Mutex<Option<String>>,
    /// MQTT 5: the server a redirect sent the client to, while connected there.
    pub(crate) redirected_to: Mutex<Option<String>>,
    /// The durable outbox, when `TARS_OUTBOX_DIR` is set.
    pub(crate) durable: Option<durable_lane::DurableLane>,
}

/// The receiving ends of a [`Connection`]'s lanes, for its tasks.
pub(crate) struct Receivers {
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) data: mpsc::Receiver<PublishPacket>,
    pub(crate) subscribe: mpsc::UnboundedReceiver<SubscribeRequest>,
}

impl Connection {
    /// A session not connected yet, and the receiving ends of its lanes.
    pub(crate) fn new(
        config: Config,
        presence: Presence,
        data_lane: usize,
        durable: Option<Arc<crate::durable::DurableOutbox>>,
    ) -> (Self, Receivers) {
        let (commands, commands_rx) = mpsc::unbounded_channel();
        let (data, data_rx) = mpsc::channel(data_lane);
        let (subscribe, subscribe_rx) = mpsc::unbounded_channel();
        let connection = Self {
            config,
            presence,
            status: watch::Sender::new(Status::default()),
            commands,
            data,
            force_reconnect: Notify::default(),
            subscribe,
            intake: Intake::default(),
            qos2: InboundQos2::default(),
            counters: Counters::default(),
            events: EventMetrics::default(),
            closing: AtomicBool::default(),
            startup_failure: Mutex::default(),
            connect_failure: Mutex::default(),
            redirected_to: Mutex::default(),
            durable: durable.map(durable_lane::DurableLane::new),
        };
        let receivers = Receivers {
            commands: commands_rx,
            data: data_rx,
            subscribe: subscribe_rx,
        };
        (connection, receivers)
    }

    pub(crate) fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// The broker connected to (or last connected to), password masked.
    pub(crate) fn broker_display(&self) -> String {
        let redirected = self.redirected_to.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(server) = redirected.as_ref() {
            return server.clone();
        }
        let brokers = self.config.brokers();
        brokers
            .get(self.status().broker)
            .unwrap_or(&brokers[0])
            .to_string()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    /// Whether a connection to the broker is up.
    pub(crate) fn is_connected(&self) -> bool {
        self.status.borrow().connected
    }

    /// Starts closing: no new message is dispatched from now on. False when it had
    /// already started.
    pub(crate) fn begin_closing(&self) -> bool {
        !self.closing.swap(true, Ordering::AcqRel)
    }

    /// Resolves once the session has stopped for good.
    pub(crate) async fn stopped(&self) {
        let mut status = self.status.subscribe();
        let _ = status.wait_for(|s| s.stopped).await;
    }

    /// The configuration the session runs with.
    pub(crate) fn config(&self) -> &Config {
        &self.config
    }

    /// Asks the broker for `filter` (now, or at the next connection) and waits for its
    /// answer.
    pub(crate) async fn subscribe(
        &self,
        filter: &str,
        qos: QoS,
        options: crate::SubscribeOptions,
    ) -> Result<()> {
        let (reply, answer) = oneshot::channel();
        let request = SubscribeRequest {
            filter: Filter::new(filter.to_owned(), qos, options),
            reply,
        };
        match self.subscribe.send(request) {
            Ok(()) => answer.await.unwrap_or(Err(Error::Closed)),
            Err(_) => Err(Error::Closed),
        }
    }

    /// A request of `event_type` got its reply after `elapsed` (kept while metrics
    /// are on).
    pub(crate) fn request_answered(&self, event_type: &str, elapsed: std::time::Duration) {
        if self.config.metrics_on() {
            self.events.request_answered(event_type, elapsed);
        }
    }

    /// Records why starting failed and tells whoever waits for `ready`.
    pub(crate) fn fail_startup(&self, error: Error) {
        *self
            .startup_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(error);
        self.status.send_modify(|s| s.failed = true);
    }

    pub(crate) fn take_startup_failure(&self) -> Option<Error> {
        self.startup_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
    }

    /// Sends a publish on the command lane, ahead of data. False once the link is gone.
    pub(crate) fn send_urgent(&self, publish: PublishPacket) -> bool {
        self.commands.send(Command::Publish(publish)).is_ok()
    }
}
