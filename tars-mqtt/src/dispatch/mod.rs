//! The dispatcher: what happens to a received message between the socket and the
//! handlers, and after them. See `docs/architecture.md` for the whole picture.
//!
//! - `routes` is the route table; `inbound` routes each message to the matching
//!   handler queues (`queue`), with flow control under backpressure;
//! - `worker` runs a handler over its queue, `group` lets ordered handlers share one;
//! - `retry` applies a handler's failure policy to a failed message (another attempt,
//!   a dead letter); `failures` is what a message's failed attempts left;
//! - `acks` alone decides when a received QoS 1/2 message is acknowledged;
//! - `call_clock` times handler calls for metrics.
//!
//! It sits on the session (`connection/`): it implements the session's
//! [`Dispatcher`](crate::connection::Dispatcher) and
//! [`SubscriptionSource`](crate::connection::SubscriptionSource), and publishes dead
//! letters and acknowledgements through it.

pub(crate) mod acks;
pub(crate) mod batch;
pub(crate) mod bound;
pub(crate) mod call_clock;
pub(crate) mod dedup;
pub(crate) mod failures;
pub(crate) mod group;
pub(crate) mod inbound;
pub(crate) mod message;
pub(crate) mod queue;
pub(crate) mod retry;
pub(crate) mod routes;
pub(crate) mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use crate::connection::SubscriptionSource;
use group::Group;
use routes::RouteTable;

/// The dispatcher's state, shared by the reader's side (`inbound`), the workers and the
/// handles that add routes.
#[derive(Debug, Default)]
pub(crate) struct Dispatch {
    routes: RwLock<RouteTable>,
    /// Ordered groups of handlers sharing one queue and worker, by name.
    groups: Mutex<BTreeMap<String, Arc<Group>>>,
    pub(crate) counters: Counters,
}

impl Dispatch {
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

    pub(crate) fn groups(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Group>>> {
        self.groups
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl SubscriptionSource for Dispatch {
    fn subscriptions(&self) -> Vec<crate::connection::Filter> {
        self.routes_read().subscriptions()
    }
}

/// Counters of what the dispatcher did with received messages, readable at any time.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) received: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) duplicates: AtomicU64,
    pub(crate) unrouted: AtomicU64,
    pub(crate) oversized: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}
