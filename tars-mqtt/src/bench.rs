//! Hooks for the benchmark suite (`tars-bench`, feature `bench`): a client whose network
//! side belongs to the caller, so that the framework's own work per message can be
//! measured (instructions, allocations) without a broker or a socket in the way.
//! Not a public API.

use rumqttc::{Publish, Request};

use crate::connection::inbound::Inbound;
use crate::Client;

/// How many requests (publishes, acks) the detached client's channel holds before
/// publishing waits for [`Detached::drain`].
pub const REQUEST_CAPACITY: usize = 1 << 16;

/// A client with its handlers' workers running but no connection: the caller hands it
/// received packets ([`Detached::deliver`]) and takes what it would send
/// ([`Detached::drain`]).
pub struct Detached {
    client: Client,
    inbound: Inbound,
    requests: flume::Receiver<Request>,
}

impl std::fmt::Debug for Detached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detached").finish_non_exhaustive()
    }
}

impl Detached {
    pub(crate) fn new(
        client: Client,
        inbound: Inbound,
        requests: flume::Receiver<Request>,
    ) -> Self {
        Self {
            client,
            inbound,
            requests,
        }
    }

    /// The client, to publish through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Routes a received PUBLISH exactly as the event loop does.
    pub async fn deliver(&mut self, publish: Publish) {
        self.inbound.on_publish(publish, 0, None).await;
    }

    /// Takes every request the client sent towards the broker; returns how many.
    pub fn drain(&self) -> usize {
        self.requests.drain().count()
    }
}

/// Writes an envelope as every publish does.
pub fn encode_envelope<D: serde::Serialize + ?Sized>(
    id: &str,
    event_type: &str,
    source: &str,
    data: &D,
) -> crate::Result<Vec<u8>> {
    crate::envelope::encode(id, event_type, source, data)
}

/// Decodes an envelope as a typed handler does (the event only).
pub fn decode_event<T: serde::de::DeserializeOwned>(
    message: &crate::Message,
) -> Result<T, crate::HandlerError> {
    crate::extract::decode_event::<T>(message).map(|envelope| envelope.data)
}

/// A received message, as the dispatcher builds it.
pub fn message(topic: &str, payload: bytes::Bytes) -> crate::Message {
    crate::Message::new(topic.to_owned(), payload, rumqttc::QoS::AtMostOnce, false)
}

/// The routing trie of the dispatcher.
#[derive(Debug, Default)]
pub struct Routes {
    trie: crate::topic::TopicTrie<usize>,
    next: usize,
}

impl Routes {
    /// Adds a subscription filter.
    pub fn insert(&mut self, filter: &str) {
        self.trie.insert(filter, self.next);
        self.next += 1;
    }

    /// Appends the ids of the filters matching `topic`.
    pub fn matches(&self, topic: &str, out: &mut Vec<usize>) {
        self.trie.matches(topic, out);
    }
}

/// The duplicate detector of the dispatcher.
#[derive(Debug)]
pub struct Dedup(crate::dedup::Deduplicator);

impl Dedup {
    /// A detector remembering `max_entries` keys for `ttl`.
    pub fn new(ttl: std::time::Duration, max_entries: usize) -> Self {
        Self(crate::dedup::Deduplicator::new(ttl, max_entries))
    }

    /// Whether this payload was seen within the TTL (and remembers it).
    pub fn is_duplicate(&mut self, payload: &[u8]) -> bool {
        self.0.is_duplicate(payload)
    }
}
