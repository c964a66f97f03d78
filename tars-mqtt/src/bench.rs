//! Hooks for the benchmark suite (`tars-bench`, feature `bench`): a client whose network
//! side belongs to the caller, so that the framework's own work per message can be
//! measured (instructions, allocations) without a broker or a socket in the way.
//! Not a public API.

use std::sync::Mutex;

use rumqttc::Publish;
use tokio::sync::mpsc;

use crate::connection::wire::{self, PublishPacket};
use crate::connection::{Command, Dispatcher};
use crate::dispatch::inbound::Inbound;
use crate::runtime::Assembled;
use crate::Client;

/// The connection number the detached client pretends to be on.
const EPOCH: u64 = 1;

/// A client with its handlers' workers running but no connection: the caller hands it
/// received packets ([`Detached::deliver`]) and takes what it would send
/// ([`Detached::drain`]).
pub struct Detached {
    client: Client,
    inbound: Inbound,
    outgoing: Mutex<(
        mpsc::UnboundedReceiver<Command>,
        mpsc::Receiver<PublishPacket>,
    )>,
}

impl std::fmt::Debug for Detached {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Detached").finish_non_exhaustive()
    }
}

impl Detached {
    pub(crate) fn start(client: Client, parts: Assembled) -> crate::Result<Self> {
        let Assembled {
            mut inbound,
            receivers,
            ..
        } = parts;
        let (commands, data) = (receivers.commands, receivers.data);
        // The caller plays the connection: it is up.
        inbound.on_connected(EPOCH);
        client.connection().status.send_modify(|s| {
            s.connected = true;
            s.epoch = EPOCH;
        });
        Ok(Self {
            client,
            inbound,
            outgoing: Mutex::new((commands, data)),
        })
    }

    /// The client, to publish through.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Routes a received PUBLISH exactly as the reader does for a read of one packet.
    pub async fn deliver(&mut self, publish: Received) {
        self.inbound.on_publish(publish.0, EPOCH).await;
        self.inbound.end_of_read();
    }

    /// Takes every packet the client sent towards the broker; returns how many.
    pub fn drain(&self) -> usize {
        let mut outgoing = self.outgoing.lock().unwrap_or_else(|p| p.into_inner());
        let mut count = 0;
        while outgoing.0.try_recv().is_ok() {
            count += 1;
        }
        while outgoing.1.try_recv().is_ok() {
            count += 1;
        }
        count
    }
}

/// A PUBLISH as the codec hands it to the reader (decoded before any measurement, as
/// the socket's bytes are).
#[derive(Debug, Clone)]
pub struct Received(wire::ReceivedPublish);

impl Received {
    /// A received packet built with the library's own type.
    pub fn new(publish: Publish) -> Self {
        Self(wire::received_from_library(publish))
    }

    /// The same packet as an MQTT 5 broker sends it through the subscription of
    /// `filter`: carrying that subscription's identifier.
    pub fn through(mut self, filter: &str) -> Self {
        let identifier = crate::connection::filter::identifier_of(filter);
        self.0.subscription_ids = vec![identifier as usize];
        self
    }
}

/// Writes an envelope as every publish does.
pub fn encode_envelope<D: serde::Serialize + ?Sized>(
    id: &str,
    event_type: &str,
    source: &str,
    data: &D,
) -> crate::Result<Vec<u8>> {
    crate::contract::envelope::encode(id, event_type, source, data)
}

/// Decodes an envelope as a typed handler does (the event only).
pub fn decode_event<T: serde::de::DeserializeOwned>(
    message: &crate::Message,
) -> Result<T, crate::HandlerError> {
    crate::api::extract::decode_event::<T>(message, None).map(|envelope| envelope.data)
}

/// A received message, as the dispatcher builds it.
pub fn message(topic: &str, payload: bytes::Bytes) -> crate::Message {
    crate::Message::new(topic.to_owned(), payload, crate::QoS::AtMostOnce, false)
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
pub struct Dedup(crate::dispatch::dedup::Deduplicator);

impl Dedup {
    /// A detector remembering `max_entries` keys for `ttl`.
    pub fn new(ttl: std::time::Duration, max_entries: usize) -> Self {
        Self(crate::dispatch::dedup::Deduplicator::new(ttl, max_entries))
    }

    /// Whether this payload was seen within the TTL (and remembers it).
    pub fn is_duplicate(&mut self, payload: &[u8]) -> bool {
        self.0.is_duplicate(payload)
    }
}

/// The bytes the MQTT 5 PUBLISH packets of `publishes` (topic and payload, QoS 1, with
/// an envelope's content type) take on the wire, by topic alias when `aliases` is more
/// than 0 (the broker's Topic Alias Maximum), in full otherwise.
pub fn v5_publish_bytes(publishes: &[(&str, bytes::Bytes)], aliases: u16) -> usize {
    let mut table = crate::connection::topic_alias::TopicAliases::new(aliases);
    let mut buffer = bytes::BytesMut::new();
    for (topic, payload) in publishes {
        let mut publish =
            wire::PublishPacket::new(topic, crate::QoS::AtLeastOnce, false, payload.clone())
                .with_properties(crate::contract::properties::Properties::envelope());
        publish.pkid = 1;
        let packet = match table.as_mut() {
            Some(table) => {
                let (alias, with_topic) = table.alias(&publish.topic);
                wire::Outgoing::AliasedPublish {
                    publish,
                    alias,
                    with_topic,
                }
            }
            None => wire::Outgoing::Publish(publish),
        };
        let _ = wire::encode(crate::MqttVersion::V5, &packet, &mut buffer, usize::MAX);
    }
    buffer.len()
}

/// A topic alias table, for the micro-benchmark of its lookup.
#[derive(Debug)]
pub struct TopicAliases(crate::connection::topic_alias::TopicAliases);

impl TopicAliases {
    /// A table of `maximum` aliases (at least 1).
    pub fn new(maximum: u16) -> Self {
        Self(crate::connection::topic_alias::TopicAliases::new(maximum.max(1)).expect("at least 1"))
    }

    /// The alias of `topic` and whether the topic goes with it.
    pub fn alias(&mut self, topic: &bytes::Bytes) -> (u16, bool) {
        self.0.alias(topic)
    }
}
