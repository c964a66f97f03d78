//! The framework's own cost per message, without a broker or a socket: a detached tars
//! client (see `tars::bench`) is fed received PUBLISH packets, or publishes, on a
//! single-threaded runtime, so that the counts repeat exactly from run to run.
//!
//! The measured section is [`measured`]: everything it runs (the dispatcher, the
//! handler's worker, envelope decoding and encoding) is counted; preparing the input
//! is not. Allocations are counted by the global allocator, instructions by callgrind
//! (`--toggle-collect` on [`measured`], see `budgets`).

use std::future::Future;

use bytes::Bytes;
use rumqttc::{Publish, QoS};
use serde::{Deserialize, Serialize};
use tars::bench::Received;
use tokio::runtime::Runtime;

use crate::events::{envelope, handlers, RawEnvelope, Sample, SAMPLE_TOPIC};
use crate::{alloc, tally};

/// Messages handled before counting starts (queues, buffers and caches at size).
const WARMUP: u64 = 2_000;
/// Messages fed between two yields to the handler's worker (below the queue capacity).
const BATCH: u64 = 64;

/// A path whose cost per message is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CostPath {
    /// A received sample through routing, the queue, the worker and the typed handler.
    Inbound,
    /// [`CostPath::Inbound`] with metrics on (each handler call timed for its histogram).
    InboundMetrics,
    /// [`CostPath::Inbound`] as MQTT 5 brokers send it: routed by the subscription
    /// identifier the message carries, not by its topic.
    InboundIdentified,
    /// Samples on [`ROOMS`] topics in turn to one wildcard handler (`bench/rooms/+`):
    /// each topic is matched against the route table anew.
    InboundTopics,
    /// [`CostPath::InboundTopics`] routed by subscription identifier.
    InboundTopicsIdentified,
    /// `client.publish(&sample)`: envelope, encoding, the request to rumqttc.
    Outbound,
    /// Decoding the user's type alone (`Sample` from its JSON), for reference.
    UserDecode,
    /// A hand-written consumer's work: decoding the whole envelope with serde_json.
    RawDecode,
}

impl CostPath {
    /// Every path, in report order.
    pub const ALL: [CostPath; 8] = [
        CostPath::Inbound,
        CostPath::InboundMetrics,
        CostPath::InboundIdentified,
        CostPath::InboundTopics,
        CostPath::InboundTopicsIdentified,
        CostPath::Outbound,
        CostPath::UserDecode,
        CostPath::RawDecode,
    ];

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            Self::Inbound => "inbound",
            Self::InboundMetrics => "inbound_metrics",
            Self::InboundIdentified => "inbound_identified",
            Self::InboundTopics => "inbound_topics",
            Self::InboundTopicsIdentified => "inbound_topics_identified",
            Self::Outbound => "outbound",
            Self::UserDecode => "user_decode",
            Self::RawDecode => "raw_decode",
        }
    }

    /// Parses [`CostPath::name`].
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }
}

/// Allocations counted over `messages` messages of one path.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Counted {
    /// The path.
    pub path: CostPath,
    /// Messages measured.
    pub messages: u64,
    /// Heap allocations in the measured section.
    pub allocations: u64,
}

/// Runs `path` over `messages` messages (after a warm-up) and counts allocations.
///
/// Logging is set up as `#[tars::service]` does by default (text at `info`), writing
/// nowhere: what a service pays per message for its tracing is counted.
pub fn run(path: CostPath, messages: u64) -> Counted {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .with_writer(std::io::sink)
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime");
    let allocations = match path {
        CostPath::Inbound => inbound(&runtime, messages, Inbound::default()),
        CostPath::InboundMetrics => inbound(
            &runtime,
            messages,
            Inbound {
                metrics: true,
                ..Inbound::default()
            },
        ),
        CostPath::InboundIdentified => inbound(
            &runtime,
            messages,
            Inbound {
                identified: true,
                ..Inbound::default()
            },
        ),
        CostPath::InboundTopics => inbound(
            &runtime,
            messages,
            Inbound {
                rooms: true,
                ..Inbound::default()
            },
        ),
        CostPath::InboundTopicsIdentified => inbound(
            &runtime,
            messages,
            Inbound {
                rooms: true,
                identified: true,
                ..Inbound::default()
            },
        ),
        CostPath::Outbound => outbound(&runtime, messages),
        CostPath::UserDecode => {
            let data = serde_json::to_vec(&Sample::new(7)).expect("serializes");
            decode(&runtime, messages, &data, |data| {
                serde_json::from_slice::<Sample>(data).map(|s| s.seq)
            })
        }
        CostPath::RawDecode => {
            let payload = envelope(Sample::new(7), "bench-cost");
            decode(&runtime, messages, &payload, |payload| {
                serde_json::from_slice::<RawEnvelope<Sample>>(payload).map(|e| e.data.seq)
            })
        }
    };
    Counted {
        path,
        messages,
        allocations,
    }
}

/// The measured section: callgrind collects inside this function only.
#[inline(never)]
fn measured<F: Future>(runtime: &Runtime, work: F) -> u64 {
    let before = alloc::allocations();
    runtime.block_on(work);
    alloc::allocations() - before
}

/// How the inbound samples arrive.
#[derive(Debug, Clone, Copy, Default)]
struct Inbound {
    /// Metrics on.
    metrics: bool,
    /// On [`ROOMS`] topics in turn, to a handler of [`ROOMS_FILTER`].
    rooms: bool,
    /// Carrying their subscription's identifier.
    identified: bool,
}

/// The topics of [`CostPath::InboundTopics`].
const ROOMS: usize = 8;
/// The wildcard handler's filter of [`CostPath::InboundTopics`].
const ROOMS_FILTER: &str = "bench/rooms/+";

/// The detached client of an inbound path: the typed sample handler, or the same
/// work on [`ROOMS_FILTER`].
fn inbound_client(runtime: &Runtime, how: Inbound) -> tars::bench::Detached {
    if !how.rooms {
        return detached(runtime, Some(handlers::AT_MOST_ONCE), how.metrics);
    }
    detached_with(runtime, how.metrics, |builder| {
        builder.subscribe(
            ROOMS_FILTER,
            tars::QoS::AtMostOnce,
            |message: tars::Message| async move {
                let sample: Sample = tars::bench::decode_event(&message).expect("a sample");
                tally::record(sample.seq);
            },
        )
    })
}

/// A detached client with only the registered handler `handler` (none: no handler).
fn detached(
    runtime: &Runtime,
    handler: Option<&'static str>,
    metrics: bool,
) -> tars::bench::Detached {
    detached_with(runtime, metrics, |builder| match handler {
        Some(name) => builder.with_handlers(|h| h.name == name),
        None => builder,
    })
}

/// A detached client whose handlers `handlers` adds.
fn detached_with(
    runtime: &Runtime,
    metrics: bool,
    handlers: impl FnOnce(tars::ClientBuilder) -> tars::ClientBuilder,
) -> tars::bench::Detached {
    let config = tars::Config::builder("mqtt://127.0.0.1:1883", "bench-cost")
        .enable_heartbeat(false)
        .metrics(metrics)
        .build()
        .expect("a valid configuration");
    let _guard = runtime.enter();
    handlers(tars::Client::builder(config))
        .detached()
        .expect("a detached client")
}

fn publishes(payload: &Bytes, count: u64, how: Inbound) -> Vec<Received> {
    let rooms: Vec<String> = (0..ROOMS)
        .map(|room| format!("bench/rooms/{room}"))
        .collect();
    (0..count as usize)
        .map(|i| {
            let (topic, filter) = match how.rooms {
                true => (rooms[i % ROOMS].as_str(), ROOMS_FILTER),
                false => (SAMPLE_TOPIC, SAMPLE_TOPIC),
            };
            let received =
                Received::new(Publish::from_bytes(topic, QoS::AtMostOnce, payload.clone()));
            match how.identified {
                true => received.through(filter),
                false => received,
            }
        })
        .collect()
}

/// Delivers every publish, letting the handler catch up every [`BATCH`].
async fn feed(client: &mut tars::bench::Detached, publishes: Vec<Received>) {
    let mut delivered = tally::received();
    for publish in publishes {
        client.deliver(publish).await;
        delivered += 1;
        if delivered.is_multiple_of(BATCH) {
            settle(client, delivered).await;
        }
    }
    settle(client, delivered).await;
}

async fn settle(client: &tars::bench::Detached, delivered: u64) {
    while tally::received() < delivered {
        tokio::task::yield_now().await;
    }
    client.drain();
}

fn inbound(runtime: &Runtime, messages: u64, how: Inbound) -> u64 {
    let mut client = inbound_client(runtime, how);
    let payload = Bytes::from(envelope(Sample::new(7), "bench-cost"));
    tally::reset();
    runtime.block_on(feed(&mut client, publishes(&payload, WARMUP, how)));
    let input = publishes(&payload, messages, how);
    let allocations = measured(runtime, feed(&mut client, input));
    assert_eq!(
        tally::received(),
        WARMUP + messages,
        "every message reached the handler"
    );
    allocations
}

fn outbound(runtime: &Runtime, messages: u64) -> u64 {
    let client = detached(runtime, None, false);
    let sample = Sample::new(7);
    let publish_all = |count: u64| {
        let client = &client;
        let sample = &sample;
        async move {
            for i in 0..count {
                client.client().publish(sample).await.expect("published");
                if (i + 1) % BATCH == 0 {
                    client.drain();
                }
            }
            client.drain();
        }
    };
    runtime.block_on(publish_all(WARMUP));
    measured(runtime, publish_all(messages))
}

/// Decodes `input` `messages` times with `decode` (which returns the sequence number).
fn decode(
    runtime: &Runtime,
    messages: u64,
    input: &[u8],
    decode: impl Fn(&[u8]) -> serde_json::Result<u64>,
) -> u64 {
    let decode_all = |count: u64| {
        let mut sum = 0u64;
        for _ in 0..count {
            let seq = decode(std::hint::black_box(input)).expect("the input decodes");
            sum = sum.wrapping_add(seq);
        }
        std::hint::black_box(sum);
    };
    decode_all(WARMUP);
    measured(runtime, async { decode_all(messages) })
}
