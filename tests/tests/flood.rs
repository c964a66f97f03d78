//! A flood: one million QoS 0 messages into a deliberately slow handler with a
//! `drop_oldest` queue. Memory stays bounded, the counters account for every message,
//! and the service stays responsive (its heartbeat keeps its cadence). In a test binary
//! of its own, so that the process's memory is this test's.

use std::time::{Duration, Instant};

use tars::QoS;
use tars::{handler_fn, Client, HandlerOptions, Message, Overflow};
use tars_tests::{config, init_tracing, Mosquitto, Probe};

const FLOOD: u64 = 1_000_000;
/// Growth of the resident set allowed while the flood goes through this process (the
/// publisher and the service): the queue holds 100 messages, nothing else grows with
/// the flood.
const RSS_BOUND_KIB: u64 = 64 * 1024;
const HEARTBEAT: Duration = Duration::from_secs(1);

fn status_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_million_qos0_messages_into_a_slow_handler_stay_bounded_and_counted() {
    init_tracing();
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let config = config(broker.port(), "flood")
        .enable_heartbeat(true)
        .heartbeat_interval(HEARTBEAT)
        .build()
        .unwrap();
    let client_id = config.client_id().to_owned();
    let slow = handler_fn(|_message: Message, _ctx| async move {
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    let options = HandlerOptions {
        concurrency: 1,
        queue_capacity: Some(100),
        overflow: Overflow::DropOldest,
        ..HandlerOptions::default()
    };
    let client = Client::builder(config)
        .subscribe_handler_with("flood/data", QoS::AtMostOnce, options, slow)
        .connect()
        .await
        .unwrap();
    let heartbeat_topic = tars::health::keepalive_topic(&client_id);
    let mut probe = Probe::start(broker.port(), &[&heartbeat_topic]).await;
    let (stop_watching, mut stop) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let mut beats = Vec::new();
        loop {
            tokio::select! {
                _ = &mut stop => return beats,
                seen = probe.next_within(Duration::from_millis(100)) => {
                    if seen.is_some_and(|s| !s.retain) {
                        beats.push(Instant::now());
                    }
                }
            }
        }
    });
    let rss_before = status_kib("VmRSS:");

    let started = Instant::now();
    let written =
        tars_tests::flood(broker.port(), "flood/data", b"{\"reading\":21.5}", FLOOD).await;
    assert_eq!(written, FLOOD);

    // Until nothing more arrives and the queue drained.
    let mut last_received = 0;
    let mut quiet_since = Instant::now();
    while quiet_since.elapsed() < Duration::from_secs(2) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let received = client.stats().received;
        if received != last_received {
            last_received = received;
            quiet_since = Instant::now();
        }
    }
    let flood_time = started.elapsed();
    let _ = stop_watching.send(());
    let beats = watcher.await.unwrap();
    let growth = status_kib("VmHWM:").saturating_sub(rss_before);
    let stats = client.stats();
    let handler = &client.handler_stats()[0];
    tracing::info!(
        ?flood_time,
        growth_kib = growth,
        ?stats,
        ?handler,
        "flood done"
    );

    assert!(
        stats.received > FLOOD / 2,
        "most of the flood arrived: {stats:?}"
    );
    assert!(
        handler.dropped > 0,
        "a 1 ms handler cannot keep up: {handler:?}"
    );
    assert_eq!(
        handler.handled + handler.dropped + handler.queued as u64,
        stats.received,
        "every message received is handled, dropped or queued: {handler:?} {stats:?}"
    );
    assert_eq!(stats.dropped, handler.dropped);
    assert!(
        growth < RSS_BOUND_KIB,
        "resident memory grew by {growth} KiB during the flood (bound {RSS_BOUND_KIB} KiB)"
    );
    let gaps: Vec<Duration> = beats.windows(2).map(|w| w[1] - w[0]).collect();
    let worst = gaps.iter().max().copied().unwrap_or_default();
    assert!(
        beats.len() as f64 >= flood_time.as_secs_f64() / HEARTBEAT.as_secs_f64() * 0.6,
        "{} heartbeats in {flood_time:?}",
        beats.len()
    );
    assert!(
        worst <= HEARTBEAT * 5 / 2,
        "the heartbeat stalled for {worst:?} during the flood"
    );
    client.shutdown().await.unwrap();
}
