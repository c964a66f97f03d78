//! Bursts into a handler that keeps up: a million QoS 0 envelopes, published from a
//! thread of their own as fast as rumqttc goes, reach a handler that does nothing, under
//! the default policy (`block`), with none lost, on a one-thread runtime and on the
//! runtime a `#[tars::service]` runs by default (one worker thread). The reader gives
//! the workers their turn, so the queue never fills because of scheduling.
//!
//! A backlog is the harshest burst: a service with a persistent session comes back to
//! 300,000 messages queued for it, which mosquitto writes as fast as the socket takes
//! them. None is lost either.
//!
//! mosquitto runs with `max_queued_messages 0`, so that the broker itself drops nothing
//! when the service reads more slowly than the publisher writes: a loss here is tars's.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::{handler_fn, Client, Message, QoS};
use tars_tests::{config, init_tracing, Mosquitto};

const BACKLOG: u64 = 300_000;

const BURST: u64 = 1_000_000;
/// How long the count may stand still before the burst counts as over.
const SETTLE: Duration = Duration::from_secs(5);

/// A ~150-byte envelope, as the py-tars services publish.
const ENVELOPE: &[u8] = br#"{"id":"8f2c6e1a9b7d4c3e8a1f0b2d4e6c8a0f","type":"stt.final","ts":1764950400.123,"source":"stt-worker","data":{"text":"turn on the kitchen light","confidence":0.93}}"#;

/// Waits until `handled` reaches `expected` or stands still for [`SETTLE`].
async fn settle(handled: &AtomicU64, expected: u64) {
    let mut last = 0;
    let mut still_since = Instant::now();
    while handled.load(Ordering::Relaxed) < expected && still_since.elapsed() < SETTLE {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = handled.load(Ordering::Relaxed);
        if now != last {
            last = now;
            still_since = Instant::now();
        }
    }
}

/// A handler that only counts, and its count.
fn counting() -> (Arc<AtomicU64>, impl tars::Handler) {
    let handled = Arc::new(AtomicU64::new(0));
    let counter = handled.clone();
    let nothing = handler_fn(move |_message: Message, _ctx| {
        counter.fetch_add(1, Ordering::Relaxed);
        async {}
    });
    (handled, nothing)
}

/// Runs the burst against a client started on `runtime`; returns what the handler got
/// and what tars counted as dropped.
fn burst_into_a_handler_that_does_nothing(runtime: tokio::runtime::Runtime) -> (u64, u64) {
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let port = broker.port();
    runtime.block_on(async move {
        let (handled, nothing) = counting();
        let client = Client::builder(config(port, "burst").build().unwrap())
            .subscribe_handler("burst/stt", QoS::AtMostOnce, nothing)
            .connect()
            .await
            .unwrap();

        // The publisher runs on a thread and runtime of its own, as a separate process
        // would: it never waits for the service's turn.
        let publisher = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(tars_tests::flood(port, "burst/stt", ENVELOPE, BURST))
        });
        settle(&handled, BURST).await;
        let written = tokio::task::spawn_blocking(move || publisher.join().unwrap())
            .await
            .unwrap();
        assert_eq!(written, BURST, "the publisher wrote the whole burst");
        let stats = client.stats();
        client.shutdown().await.unwrap();
        (handled.load(Ordering::Relaxed), stats.dropped)
    })
}

/// Runs the burst on `runtime` and checks that none of it was lost.
fn assert_a_burst_loses_none(runtime: tokio::runtime::Runtime) {
    init_tracing();
    let (handled, dropped) = burst_into_a_handler_that_does_nothing(runtime);
    assert_eq!(dropped, 0, "tars dropped messages of the burst");
    assert_eq!(
        handled, BURST,
        "messages of the burst never reached the handler"
    );
}

#[test]
fn a_million_qos0_messages_into_a_handler_that_does_nothing_lose_none_on_one_thread() {
    let mut runtime = tokio::runtime::Builder::new_current_thread();
    assert_a_burst_loses_none(runtime.enable_all().build().unwrap());
}

#[test]
fn a_million_qos0_messages_into_a_handler_that_does_nothing_lose_none_on_a_services_runtime() {
    // One worker thread: a `#[tars::service]`'s default.
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    assert_a_burst_loses_none(runtime.worker_threads(1).enable_all().build().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn a_backlog_of_300000_messages_waiting_for_a_persistent_session_loses_none() {
    init_tracing();
    let broker = Mosquitto::start_with(
        "allow_anonymous true\nmax_queued_messages 0\nqueue_qos0_messages true\n",
    );
    let port = broker.port();
    let persistent = config(port, "backlog")
        .clean_session(false)
        .build()
        .unwrap();
    // The first run makes the session and its subscription, then stops.
    let (_, nothing) = counting();
    let first = Client::builder(persistent.clone())
        .subscribe_handler("backlog/stt", QoS::AtMostOnce, nothing)
        .connect()
        .await
        .unwrap();
    first.shutdown().await.unwrap();

    let written = tars_tests::flood(port, "backlog/stt", ENVELOPE, BACKLOG).await;
    assert_eq!(written, BACKLOG);

    // The second run finds the backlog waiting: mosquitto sends it at once.
    let (handled, nothing) = counting();
    let second = Client::builder(persistent)
        .subscribe_handler("backlog/stt", QoS::AtMostOnce, nothing)
        .connect()
        .await
        .unwrap();
    settle(&handled, BACKLOG).await;
    let stats = second.stats();
    second.shutdown().await.unwrap();
    assert_eq!(stats.dropped, 0, "tars dropped messages of the backlog");
    assert_eq!(
        handled.load(Ordering::Relaxed),
        BACKLOG,
        "messages of the backlog never reached the handler: {stats:?}"
    );
}
