//! The runtime behind a [`Client`](crate::Client): the tasks, the state they share and
//! the queues between them. See `docs/architecture.md` for the whole picture.
//!
//! - `link` keeps the connection: it connects, runs one reader and one writer per
//!   connection, and reconnects with backoff;
//! - `reader` and `writer` are the two halves of the socket, which never wait on each
//!   other; `wire` is the one adapter over the MQTT library (codec and transport);
//! - `inbound` routes messages to the handler queues (`queue`), `worker` runs handlers,
//!   `retry` applies a handler's failure policy (retries, dead letters), `acks`
//!   decides when a received message is acknowledged, `outbox` owns what we publish
//!   until it is acknowledged;
//! - `session` subscribes and restores subscriptions after each connection, `presence`
//!   builds health, last will, manifest and heartbeat, `heartbeat` sends the heartbeat
//!   and watches that writes get out;
//! - `runtime` wires it all together and stops it.

pub(crate) mod acks;
pub(crate) mod call_clock;
pub(crate) mod failover;
pub(crate) mod group;
pub(crate) mod heartbeat;
pub(crate) mod inbound;
pub(crate) mod link;
pub(crate) mod outbox;
pub(crate) mod presence;
pub(crate) mod queue;
pub(crate) mod reader;
pub(crate) mod retry;
pub(crate) mod runtime;
pub(crate) mod session;
pub(crate) mod tls;
pub(crate) mod wire;
pub(crate) mod worker;
pub(crate) mod writer;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::task::JoinHandle;

use crate::topic::{routing_filter, TopicTrie};
use crate::{Config, Error, QoS, Result};
use acks::InboundAck;
use presence::Presence;
use queue::HandlerQueue;
use wire::{PublishPacket, SubscribeOutcome};

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
    /// The index in the broker list of the broker connected to (or last connected to).
    pub(crate) broker: usize,
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
    /// A SUBSCRIBE; the reply gets the broker's answer per filter.
    Subscribe {
        filters: Vec<(String, QoS)>,
        reply: oneshot::Sender<Vec<SubscribeOutcome>>,
    },
    /// Sends `last_words`, waits (bounded) until every QoS 1/2 publish is acknowledged,
    /// sends DISCONNECT and stops the link.
    Stop {
        last_words: Vec<PublishPacket>,
        done: oneshot::Sender<()>,
    },
}

/// Inputs of the session task.
#[derive(Debug)]
pub(crate) enum SessionInput {
    /// A client asks for a subscription to be sent (the route is already in place).
    Subscribe {
        filter: String,
        qos: QoS,
        reply: oneshot::Sender<Result<()>>,
    },
}

/// One subscription: its filter as sent to the broker and its handler's queue.
#[derive(Debug)]
pub(crate) struct Route {
    /// The handler's name for metrics: its function's, or else the filter.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) handler: String,
    pub(crate) filter: String,
    pub(crate) qos: QoS,
    pub(crate) queue: Arc<HandlerQueue>,
    /// Its handler's place in an ordered group sharing `queue` (0 outside groups).
    pub(crate) member: u16,
}

/// Every subscription, and the trie that finds those matching a topic.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    trie: TopicTrie<usize>,
    routes: Vec<Option<Route>>,
    /// Bumped by every change, so that a cached match can tell it is stale.
    generation: u64,
}

impl RouteTable {
    pub(crate) fn insert(&mut self, route: Route) -> usize {
        let id = self.routes.len();
        self.trie.insert(routing_filter(&route.filter), id);
        self.routes.push(Some(route));
        self.generation += 1;
        id
    }

    pub(crate) fn remove(&mut self, id: usize) {
        if let Some(route) = self.routes.get_mut(id).and_then(Option::take) {
            self.trie.remove(routing_filter(&route.filter), id);
            route.queue.close();
        }
        self.generation += 1;
    }

    /// Changes with every insert, remove and clear.
    pub(crate) fn generation(&self) -> u64 {
        self.generation
    }

    /// Appends the ids of the routes whose filter matches `topic`.
    pub(crate) fn matches(&self, topic: &str, out: &mut Vec<usize>) {
        self.trie.matches(topic, out);
    }

    pub(crate) fn route(&self, id: usize) -> Option<&Route> {
        self.routes.get(id).and_then(Option::as_ref)
    }

    /// Each distinct filter once, with the highest QoS asked for it.
    pub(crate) fn subscriptions(&self) -> Vec<(String, QoS)> {
        let mut filters: BTreeMap<&str, QoS> = BTreeMap::new();
        for route in self.routes.iter().flatten() {
            let qos = filters.entry(&route.filter).or_insert(route.qos);
            if (route.qos as u8) > (*qos as u8) {
                *qos = route.qos;
            }
        }
        filters
            .into_iter()
            .map(|(f, q)| (f.to_owned(), q))
            .collect()
    }

    /// Every live route.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter().flatten()
    }

    /// Drops every route, closing the handler queues: workers finish what is queued.
    pub(crate) fn clear(&mut self) {
        for route in self.iter() {
            route.queue.close();
        }
        let generation = self.generation + 1;
        *self = Self {
            generation,
            ..Self::default()
        };
    }
}

/// Counters of what the connection did, readable at any time.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) unrouted: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) dropped_offline: AtomicU64,
    pub(crate) publishes_written: AtomicU64,
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

/// Background tasks, kept to stop them on shutdown.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    pub(crate) link: Option<JoinHandle<()>>,
    pub(crate) session: Option<JoinHandle<()>>,
    pub(crate) heartbeat: Option<JoinHandle<()>>,
    pub(crate) overflow: Option<JoinHandle<()>>,
    pub(crate) workers: Vec<JoinHandle<()>>,
    /// The metrics endpoint (`TARS_METRICS_ADDR`).
    pub(crate) metrics: Option<JoinHandle<()>>,
}

impl Tasks {
    /// Aborts every task (used when `connect` is abandoned).
    pub(crate) fn abort_all(&mut self) {
        let singles = [
            &self.link,
            &self.session,
            &self.heartbeat,
            &self.overflow,
            &self.metrics,
        ];
        for task in singles.into_iter().flatten() {
            task.abort();
        }
        for worker in &self.workers {
            worker.abort();
        }
    }
}

/// State shared by the client handles and the tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) presence: Presence,
    pub(crate) routes: RwLock<RouteTable>,
    pub(crate) status: watch::Sender<Status>,
    /// The command lane to the writer.
    pub(crate) commands: mpsc::UnboundedSender<Command>,
    /// The data lane to the writer: publishes, bounded (`publish` waits when full).
    pub(crate) data: mpsc::Sender<PublishPacket>,
    /// Tells the link to drop the connection and reconnect (the watchdog's remedy).
    pub(crate) force_reconnect: Notify,
    pub(crate) session: mpsc::UnboundedSender<SessionInput>,
    pub(crate) intake: inbound::Intake,
    pub(crate) counters: Counters,
    pub(crate) requests: crate::request::Requests,
    /// Publishes and request round trips per event type, for metrics.
    pub(crate) events: crate::metrics::EventMetrics,
    /// Set once shutdown starts: no new messages are dispatched.
    pub(crate) closing: AtomicBool,
    /// Why starting failed for good (a refused subscription).
    pub(crate) startup_failure: Mutex<Option<Error>>,
    /// Why the last attempt to reach the broker failed, until a connection succeeds
    /// (for `/healthz`: a host that does not resolve, a refused port, TLS).
    pub(crate) connect_failure: Mutex<Option<String>>,
    /// Ordered groups of handlers sharing one queue and worker, by name.
    pub(crate) groups: Mutex<BTreeMap<String, Arc<group::Group>>>,
    /// The handlers' shared state, by type (`State<T>`).
    pub(crate) states: crate::state::States,
    pub(crate) tasks: Mutex<Tasks>,
}

impl Shared {
    pub(crate) fn status(&self) -> Status {
        *self.status.borrow()
    }

    /// The broker connected to (or last connected to), password masked.
    pub(crate) fn broker_display(&self) -> String {
        let brokers = self.config.brokers();
        brokers
            .get(self.status().broker)
            .unwrap_or(&brokers[0])
            .to_string()
    }

    pub(crate) fn is_closing(&self) -> bool {
        self.closing.load(Ordering::Acquire)
    }

    pub(crate) fn routes_read(&self) -> std::sync::RwLockReadGuard<'_, RouteTable> {
        self.routes
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn routes_write(&self) -> std::sync::RwLockWriteGuard<'_, RouteTable> {
        self.routes
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn tasks(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
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
