//! The route table: every subscription's filter and handler queue; the trie that finds
//! those matching a topic, and the index that finds them by subscription identifier
//! (MQTT 5: the broker names the subscriptions a message came through, and routing
//! needs no matching).

use std::collections::BTreeMap;
use std::sync::Arc;

use super::queue::HandlerQueue;
use crate::connection::filter::{identifier_of, Filter};
use crate::topic::{routing_filter, TopicTrie};
use crate::{QoS, SubscribeOptions};

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
    /// The MQTT 5 options of its subscription.
    pub(crate) subscribe: SubscribeOptions,
}

/// Every subscription, the trie that finds those matching a topic, and the index by
/// subscription identifier.
#[derive(Debug, Default)]
pub(crate) struct RouteTable {
    trie: TopicTrie<usize>,
    routes: Vec<Option<Route>>,
    /// The routes of each subscription identifier, sorted by identifier.
    by_identifier: Vec<Identified>,
    /// Bumped by every change, so that a cached match can tell it is stale.
    generation: u64,
}

/// The routes of one subscription identifier.
#[derive(Debug)]
struct Identified {
    identifier: u32,
    /// The filter the identifier was given for.
    filter: String,
    /// Another filter of this table has the same identifier: its messages are matched.
    shared: bool,
    routes: Vec<usize>,
}

impl RouteTable {
    pub(crate) fn insert(&mut self, route: Route) -> usize {
        let id = self.routes.len();
        self.trie.insert(routing_filter(&route.filter), id);
        self.index(&route.filter, id);
        self.routes.push(Some(route));
        self.generation += 1;
        id
    }

    pub(crate) fn remove(&mut self, id: usize) {
        if let Some(route) = self.routes.get_mut(id).and_then(Option::take) {
            self.trie.remove(routing_filter(&route.filter), id);
            self.unindex(&route.filter, id);
            route.queue.close();
        }
        self.generation += 1;
    }

    fn index(&mut self, filter: &str, route: usize) {
        let identifier = identifier_of(filter);
        match self
            .by_identifier
            .binary_search_by_key(&identifier, |i| i.identifier)
        {
            Ok(at) => {
                let entry = &mut self.by_identifier[at];
                entry.shared |= entry.filter != filter;
                entry.routes.push(route);
            }
            Err(at) => self.by_identifier.insert(
                at,
                Identified {
                    identifier,
                    filter: filter.to_owned(),
                    shared: false,
                    routes: vec![route],
                },
            ),
        }
    }

    fn unindex(&mut self, filter: &str, route: usize) {
        let identifier = identifier_of(filter);
        if let Ok(at) = self
            .by_identifier
            .binary_search_by_key(&identifier, |i| i.identifier)
        {
            let entry = &mut self.by_identifier[at];
            entry.routes.retain(|&r| r != route);
            if entry.routes.is_empty() {
                self.by_identifier.remove(at);
            }
        }
    }

    /// The routes of the subscription `identifier`; `None` when it names none of this
    /// table's filters (a subscription of an earlier run of a persistent session) or
    /// more than one (two filters whose identifiers collide): the topic is matched then.
    pub(crate) fn identified(&self, identifier: usize) -> Option<&[usize]> {
        let identifier = u32::try_from(identifier).ok()?;
        let at = self
            .by_identifier
            .binary_search_by_key(&identifier, |i| i.identifier)
            .ok()?;
        let entry = &self.by_identifier[at];
        (!entry.shared).then_some(&entry.routes[..])
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
    pub(crate) fn subscriptions(&self) -> Vec<Filter> {
        // Options: the first route's of a filter (a filter is one subscription).
        let mut filters: BTreeMap<&str, (QoS, SubscribeOptions)> = BTreeMap::new();
        for route in self.routes.iter().flatten() {
            let (qos, _) = filters
                .entry(&route.filter)
                .or_insert((route.qos, route.subscribe));
            if (route.qos as u8) > (*qos as u8) {
                *qos = route.qos;
            }
        }
        filters
            .into_iter()
            .map(|(filter, (qos, options))| Filter::new(filter.to_owned(), qos, options))
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
