//! A burst into a handler slower than the burst, under `block`: what tars holds for it
//! stays within its intake bound (`intake_bytes`), measured on the resident set.
//! - While nothing waits for the broker, reading pauses at the bound: TCP backpressure,
//!   the broker holds the rest, nothing is dropped and every message is handled.
//! - While a request waits for its reply (only reading brings it), reading goes on: QoS 0
//!   messages past the bound are dropped and counted, none before it.
//!
//! In a test binary of its own, so that the process's memory is this test's. mosquitto
//! runs with `max_queued_messages 0`, so that it holds whatever tars leaves unread.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tars::{handler_fn, Client, Event, HandlerOptions, HandlerStats, Message, QoS, Stats};
use tars_tests::{config, init_tracing, Mosquitto};

/// 4 KiB payloads: the burst weighs 16 MiB against a bound of 1 MiB.
const PAYLOAD: &[u8] = &[b'x'; 4096];
const BURST: u64 = 4_000;
const INTAKE: usize = 1 << 20;
const QUEUE: usize = 50;
/// What the slow handler takes per message.
const SLOW: Duration = Duration::from_millis(1);
/// Growth of the resident set allowed: the bound, the queue (200 KiB), the read buffer
/// and the allocator's slack; buffering the burst would take 16 MiB more.
const RSS_BOUND_KIB: u64 = 6 * 1024;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "intake/question")]
struct Question {
    text: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "intake/answer")]
struct Answer {
    text: String,
}

fn vm_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// A client whose handler on `topic` takes [`SLOW`] per message, with a queue of
/// [`QUEUE`] and an intake bound of [`INTAKE`]; and the count of what it handled.
async fn slow_service(port: u16, topic: &str) -> (Client, Arc<AtomicU64>) {
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let slow = handler_fn(move |_message: Message, _ctx| {
        let counter = counter.clone();
        async move {
            tokio::time::sleep(SLOW).await;
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let options = HandlerOptions {
        queue_capacity: Some(QUEUE),
        intake_bytes: Some(INTAKE),
        ..HandlerOptions::default()
    };
    let client = Client::builder(
        config(port, "intake")
            .request_timeout(Duration::from_secs(120))
            .build()
            .unwrap(),
    )
    .subscribe_handler_with(topic, QoS::AtMostOnce, options, slow)
    .connect()
    .await
    .unwrap();
    (client, handled)
}

/// Publishes the burst, then waits until the handler's count stands still for 3 s or
/// reaches `until`; returns the largest growth of the resident set seen meanwhile.
async fn burst(port: u16, topic: &str, handled: &AtomicU64, until: u64) -> u64 {
    let rss_before = vm_kib("VmRSS:");
    let mut growth = 0;
    let publisher = tokio::spawn({
        let topic = topic.to_owned();
        async move { tars_tests::flood(port, &topic, PAYLOAD, BURST).await }
    });
    let (mut last, mut still_since) = (u64::MAX, Instant::now());
    while handled.load(Ordering::Relaxed) < until && still_since.elapsed() < Duration::from_secs(3)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
        growth = growth.max(vm_kib("VmRSS:").saturating_sub(rss_before));
        let now = handled.load(Ordering::Relaxed);
        if now != last {
            (last, still_since) = (now, Instant::now());
        }
    }
    assert_eq!(
        publisher.await.unwrap(),
        BURST,
        "the whole burst was written"
    );
    growth
}

fn report(stats: &Stats, handler: &HandlerStats, growth: u64) {
    tracing::info!(?stats, ?handler, growth_kib = growth, "burst done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_into_a_slow_handler_stays_within_the_intake_bound() {
    init_tracing();
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");

    // Nothing waits for the broker: reading pauses at the bound, and nothing is lost.
    let (client, handled) = slow_service(broker.port(), "intake/paused").await;
    let growth = burst(broker.port(), "intake/paused", &handled, BURST).await;
    let stats = client.stats();
    let handler = client.handler_stats().remove(0);
    report(&stats, &handler, growth);
    assert!(
        stats.intake_pauses > 0,
        "a 1 ms handler cannot keep up with the burst, so reading must have paused: {stats:?}"
    );
    assert_eq!(stats.dropped, 0, "nothing is dropped under backpressure");
    assert_eq!(
        handled.load(Ordering::Relaxed),
        BURST,
        "every message was handled: {handler:?}"
    );
    assert!(
        growth < RSS_BOUND_KIB,
        "resident memory grew by {growth} KiB (bound {RSS_BOUND_KIB} KiB)"
    );
    client.shutdown().await.unwrap();

    // A request waits for its reply meanwhile: reading goes on, and past the bound
    // QoS 0 messages are dropped and counted.
    let (client, handled) = slow_service(broker.port(), "intake/reading").await;
    let requester = client.clone();
    let waiting = tokio::spawn(async move {
        requester
            .request::<Question, Answer>(&Question {
                text: "nobody answers".into(),
            })
            .await
    });
    tars_tests::eventually(tars_tests::WAIT, "the request to be pending", || {
        client.stats().pending_requests == 1
    })
    .await;
    let growth = burst(broker.port(), "intake/reading", &handled, BURST).await;
    let stats = client.stats();
    let handler = client.handler_stats().remove(0);
    report(&stats, &handler, growth);
    let handled = handled.load(Ordering::Relaxed);
    assert!(
        handler.dropped > 0,
        "with a request pending, reading went on and the burst went past the bound: {handler:?}"
    );
    assert_eq!(handler.dropped, stats.dropped);
    assert_eq!(
        handled + handler.dropped,
        BURST,
        "every message was handled or counted as dropped: {handler:?}"
    );
    // Everything within the queue and the bound when the first drop happened was
    // handled: no drop before the bound.
    let held_at_bound = INTAKE / (PAYLOAD.len() + "intake/reading".len() + 256);
    assert!(
        handled >= (QUEUE + held_at_bound) as u64,
        "only {handled} handled: messages were dropped before the bound ({handler:?})"
    );
    assert!(
        growth < RSS_BOUND_KIB,
        "resident memory grew by {growth} KiB (bound {RSS_BOUND_KIB} KiB)"
    );
    waiting.abort();
    client.shutdown().await.unwrap();
}
