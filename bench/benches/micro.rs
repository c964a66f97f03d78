//! Micro-benchmarks of the framework's hot spots: envelope encoding and decoding,
//! routing one topic against 10 and 10,000 subscriptions, the dedup check, an MQTT 5
//! topic alias lookup.
//!
//! ```sh
//! cargo bench -p tars-bench --bench micro
//! ```

use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use serde::{Deserialize, Serialize};
use tars::bench::{decode_event, encode_envelope, message, Dedup, Routes, TopicAliases};

#[derive(Serialize, Deserialize)]
struct Sample {
    seq: u64,
    value: f64,
    ok: bool,
    room: String,
}

fn sample() -> Sample {
    Sample {
        seq: 123_456,
        value: 21.5,
        ok: true,
        room: "kitchen".to_owned(),
    }
}

fn envelope(c: &mut Criterion) {
    let data = sample();
    let id = tars::new_id();
    let payload = encode_envelope(&id, "bench.sample", "bench", &data).expect("encodes");
    let mut group = c.benchmark_group("envelope");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| encode_envelope(black_box(&id), "bench.sample", "bench", black_box(&data)))
    });
    let received = message("bench/sample", Bytes::from(payload));
    group.bench_function("decode", |b| {
        b.iter(|| decode_event::<Sample>(black_box(&received)).map(|s| s.seq))
    });
    group.finish();
}

/// `count` subscriptions like a fleet's: exact topics, `+` and `#` filters.
fn routes(count: usize) -> Routes {
    let mut routes = Routes::default();
    for i in 0..count {
        let filter = match i % 4 {
            0 => format!("site/{i}/temperature"),
            1 => format!("site/{i}/+"),
            2 => format!("device/{i}/#"),
            _ => format!("fleet/robot{i}/cmd/+/ack"),
        };
        routes.insert(&filter);
    }
    routes.insert("site/7/temperature");
    routes.insert("site/+/temperature");
    routes
}

fn routing(c: &mut Criterion) {
    let mut group = c.benchmark_group("route");
    group.throughput(Throughput::Elements(1));
    for count in [10, 10_000] {
        let routes = routes(count);
        let mut out = Vec::with_capacity(8);
        group.bench_with_input(BenchmarkId::from_parameter(count), &routes, |b, routes| {
            b.iter(|| {
                out.clear();
                routes.matches(black_box("site/7/temperature"), &mut out);
                out.len()
            })
        });
    }
    group.finish();
}

fn dedup(c: &mut Criterion) {
    let payloads: Vec<Vec<u8>> = (0..1024)
        .map(|_| {
            encode_envelope(&tars::new_id(), "bench.sample", "bench", &sample()).expect("encodes")
        })
        .collect();
    let mut dedup = Dedup::new(Duration::from_secs(30), 2048);
    let mut i = 0;
    c.bench_function("dedup/check", |b| {
        b.iter(|| {
            i = (i + 1) % payloads.len();
            dedup.is_duplicate(black_box(&payloads[i]))
        })
    });
}

/// The lookup a publish by topic alias adds: the pipeline example's four topics in turn,
/// through mosquitto's 10 aliases.
fn topic_alias(c: &mut Criterion) {
    let topics: Vec<Bytes> = ["stt/final", "llm/request", "llm/response", "tts/say"]
        .into_iter()
        .map(|topic| Bytes::from_static(topic.as_bytes()))
        .collect();
    let mut aliases = TopicAliases::new(10);
    let mut next = topics.iter().cycle();
    c.bench_function("topic_alias/lookup", |b| {
        b.iter(|| aliases.alias(black_box(next.next().expect("cycles"))))
    });
}

criterion_group!(benches, envelope, routing, dedup, topic_alias);
criterion_main!(benches);
