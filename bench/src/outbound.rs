//! Outbound: raw rumqttc publishing pre-serialized envelopes, against tars's
//! `publish(&event)` building and serializing each envelope. The rate is counted where
//! the PUBLISH packets are written; a raw sink checks that all of them arrived.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::QoS;
use tokio::sync::oneshot;

use crate::events::Sample;
use crate::measure::{wait_for_progress, within, Pair, Throughput};
use crate::{raw, tally, tars_side};

const IDLE: Duration = Duration::from_secs(2);
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// One raw and one tars run publishing `payloads.len()` samples at QoS 0 (`tars_first`
/// swaps the order).
pub async fn run_pair(
    url: &str,
    port: u16,
    payloads: &[Bytes],
    tars_first: bool,
) -> Pair<Throughput> {
    let count = payloads.len() as u64;
    if tars_first {
        let tars = run_tars(url, port, count).await;
        let raw = run_raw(port, payloads).await;
        Pair { raw, tars }
    } else {
        let raw = run_raw(port, payloads).await;
        let tars = run_tars(url, port, count).await;
        Pair { raw, tars }
    }
}

async fn start_sink(port: u16) -> tokio::task::JoinHandle<()> {
    tally::reset();
    let (ready, subscribed) = oneshot::channel();
    let sink = raw::spawn_consumer(port, "bench-sink", QoS::AtMostOnce, ready);
    within(STEP_LIMIT, "sink subscribes", subscribed)
        .await
        .expect("sink subscribed");
    sink
}

async fn run_raw(port: u16, payloads: &[Bytes]) -> Throughput {
    let sink = start_sink(port).await;
    let publisher = raw::Publisher::start(port, "bench-raw-publisher").await;
    let sent = payloads.len() as u64;
    let started = Instant::now();
    within(
        STEP_LIMIT,
        "raw publishes",
        publisher.publish_all(payloads, QoS::AtMostOnce),
    )
    .await;
    let (written, done) = wait_for_progress(|| publisher.written(), sent, IDLE).await;
    let result = finish(sent, written, started, done).await;
    publisher.stop().await;
    sink.abort();
    result
}

async fn run_tars(url: &str, port: u16, count: u64) -> Throughput {
    let sink = start_sink(port).await;
    let client = tars_side::client(url, "bench-tars-publisher", None).await;
    let samples: Vec<Sample> = (0..count).map(Sample::new).collect();
    let before = client.stats().publishes_written;
    let started = Instant::now();
    within(STEP_LIMIT, "tars publishes", async {
        for sample in &samples {
            client.publish(sample).await.expect("tars publishes");
        }
    })
    .await;
    let written_since = || client.stats().publishes_written - before;
    let (written, done) = wait_for_progress(written_since, count, IDLE).await;
    let result = finish(count, written, started, done).await;
    let _ = client.shutdown().await;
    sink.abort();
    result
}

/// The rate at which `written` packets went out, and what the sink got of them.
async fn finish(sent: u64, written: u64, started: Instant, done: Instant) -> Throughput {
    wait_for_progress(tally::received, sent, IDLE).await;
    Throughput::tallied(written, done.duration_since(started).as_secs_f64(), sent)
}
