//! The events the benchmarks send, the tars handlers that consume them, and the
//! pre-built payloads the raw publisher sends.

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tars::prelude::*;

use crate::tally;

/// The topic samples travel on.
pub const SAMPLE_TOPIC: &str = <Sample as Event>::TOPIC;

/// The inbound and outbound sample: about 150 bytes as an envelope.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(topic = "bench/sample")]
pub struct Sample {
    /// Sequence number, to count losses and duplicates.
    pub seq: u64,
    /// A reading.
    pub value: f64,
    /// A flag.
    pub ok: bool,
    /// A short text, as most events carry one.
    pub room: String,
}

impl Sample {
    /// The sample numbered `seq`.
    pub fn new(seq: u64) -> Self {
        Self {
            seq,
            value: 21.5 + (seq % 100) as f64 / 10.0,
            ok: seq.is_multiple_of(2),
            room: "kitchen".to_owned(),
        }
    }
}

/// A round-trip request.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(topic = "bench/ping")]
pub struct Ping {
    /// Sequence number.
    pub seq: u64,
}

/// The reply to a [`Ping`], published with the ping's envelope id.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(topic = "bench/pong")]
pub struct Pong {
    /// The ping's sequence number.
    pub seq: u64,
}

/// Consumes samples delivered at QoS 0.
#[tars::handler(qos = 0)]
async fn consume_at_most_once(sample: Sample) {
    tally::record(sample.seq);
}

/// Consumes samples delivered at QoS 1.
#[tars::handler(qos = 1)]
async fn consume_at_least_once(sample: Sample) {
    tally::record(sample.seq);
}

/// Answers a ping with a pong (the reply carries the ping's envelope id).
#[tars::handler]
async fn echo(ping: Ping) -> Pong {
    Pong { seq: ping.seq }
}

/// The names of the handlers above, to pick one per client.
pub mod handlers {
    /// QoS 0 consumer.
    pub const AT_MOST_ONCE: &str = "consume_at_most_once";
    /// QoS 1 consumer.
    pub const AT_LEAST_ONCE: &str = "consume_at_least_once";
    /// Ping → pong.
    pub const ECHO: &str = "echo";
}

/// The envelope a hand-written rumqttc service decodes: borrowed strings, the cheapest
/// serde_json decode (a strong baseline).
#[derive(Deserialize)]
#[allow(dead_code)] // decoded as a real service would, not all fields read
pub struct RawEnvelope<'a, T> {
    /// Envelope id.
    pub id: &'a str,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: &'a str,
    /// Timestamp.
    #[serde(default)]
    pub ts: f64,
    /// Source.
    #[serde(default)]
    pub source: &'a str,
    /// The event.
    pub data: T,
}

/// The envelope of `event`, serialized.
pub fn envelope<E: Event + Serialize>(event: E, source: &str) -> Vec<u8> {
    let envelope = tars::Envelope::new(E::EVENT_TYPE, source, event);
    serde_json::to_vec(&envelope).expect("a bench event serializes")
}

/// `count` sample envelopes numbered from 0, serialized before any clock starts.
pub fn sample_payloads(count: u64) -> Vec<Bytes> {
    (0..count)
        .map(|seq| Bytes::from(envelope(Sample::new(seq), "bench-publisher")))
        .collect()
}
