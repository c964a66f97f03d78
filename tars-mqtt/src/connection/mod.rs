//! The runtime behind a [`Client`](crate::Client): the tasks, the state they share and
//! the queues between them. See `docs/architecture.md` for the whole picture.
//!
//! - the event loop task owns the rumqttc `EventLoop` and never awaits its request
//!   channel (`event_loop`);
//! - the session task subscribes, restores subscriptions after every CONNACK and
//!   publishes health (`session`);
//! - one worker per subscription runs its handler (`worker`), fed by a bounded queue
//!   (`inbound` routes messages to the queues; its overflow task holds QoS 1/2
//!   messages that found a queue full);
//! - the heartbeat task publishes the heartbeat and watches that it gets out
//!   (`heartbeat`).

pub(crate) mod acks;
pub(crate) mod event_loop;
pub(crate) mod heartbeat;
pub(crate) mod inbound;
pub(crate) mod options;
pub(crate) mod outbox;
pub(crate) mod queue;
pub(crate) mod session;
pub(crate) mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use rumqttc::{AsyncClient, QoS, SubAck};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::topic::{routing_filter, TopicTrie};
use crate::{Config, Result};
use queue::HandlerQueue;

/// Connection state, published by the event loop and the session task.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Status {
    /// A CONNACK was received and the connection has not failed since.
    pub(crate) connected: bool,
    /// Incremented on every CONNACK; acks of messages from an older connection are void.
    pub(crate) epoch: u64,
    /// Subscriptions were restored (and health published) on connection `epoch`.
    pub(crate) subscribed_epoch: u64,
    /// The event loop has stopped for good.
    pub(crate) stopped: bool,
}

/// Requests to the event loop task. Each one interrupts its current `poll`, so they are
/// kept to rare events.
#[derive(Debug)]
pub(crate) enum Control {
    /// Drop the connection and reconnect (the heartbeat watchdog's remedy).
    ForceReconnect,
    /// Publish `last_words` (topic and payload, QoS 1, retained: the manifest's
    /// clearing, health `shutdown`), wait for every QoS 1/2 publish to be acknowledged
    /// (bounded), send DISCONNECT and stop.
    Stop {
        last_words: Vec<(String, Vec<u8>)>,
        done: oneshot::Sender<()>,
    },
}

/// Inputs of the session task.
#[derive(Debug)]
pub(crate) enum SessionInput {
    /// The event loop wrote a SUBSCRIBE with this packet id.
    SubscribeSent(u16),
    /// The broker answered a SUBSCRIBE.
    SubAck(SubAck),
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
    pub(crate) filter: String,
    pub(crate) qos: QoS,
    pub(crate) queue: Arc<HandlerQueue>,
}

/// Every subscription, and the trie that finds those matching a topic.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    trie: TopicTrie<usize>,
    routes: Vec<Option<Route>>,
}

impl RouteTable {
    pub(crate) fn insert(&mut self, route: Route) -> usize {
        let id = self.routes.len();
        self.trie.insert(routing_filter(&route.filter), id);
        self.routes.push(Some(route));
        id
    }

    pub(crate) fn remove(&mut self, id: usize) {
        if let Some(route) = self.routes.get_mut(id).and_then(Option::take) {
            self.trie.remove(routing_filter(&route.filter), id);
            route.queue.close();
        }
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
        *self = Self::default();
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
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Background tasks, kept to stop them on shutdown.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    pub(crate) event_loop: Option<JoinHandle<()>>,
    pub(crate) session: Option<JoinHandle<()>>,
    pub(crate) heartbeat: Option<JoinHandle<()>>,
    pub(crate) overflow: Option<JoinHandle<()>>,
    pub(crate) workers: Vec<JoinHandle<()>>,
}

impl Tasks {
    /// Aborts every task (used when `connect` is abandoned).
    pub(crate) fn abort_all(&mut self) {
        let singles = [
            &self.event_loop,
            &self.session,
            &self.heartbeat,
            &self.overflow,
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
    pub(crate) mqtt: AsyncClient,
    pub(crate) routes: RwLock<RouteTable>,
    pub(crate) status: watch::Sender<Status>,
    pub(crate) control: mpsc::UnboundedSender<Control>,
    pub(crate) session: mpsc::UnboundedSender<SessionInput>,
    pub(crate) counters: Counters,
    pub(crate) requests: crate::request::Requests,
    /// Set once shutdown starts: no new messages are dispatched.
    pub(crate) closing: AtomicBool,
    pub(crate) health_topic: String,
    pub(crate) keepalive_topic: String,
    /// The encoded manifest envelope announced after each connection, if any.
    pub(crate) manifest: Option<Vec<u8>>,
    pub(crate) tasks: Mutex<Tasks>,
}

impl Shared {
    pub(crate) fn status(&self) -> Status {
        *self.status.borrow()
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
}
