//! Per-handler flow control against mosquitto: concurrency, overflow policies with their
//! counters, and a slow handler that does not hold up the others.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tars::{handler_fn, Client, Context, HandlerOptions, Message, Overflow, QoS};
use tars_tests::{config, eventually, init_tracing, Mosquitto, Probe};
use tokio::sync::Semaphore;

use tars_tests::WAIT;

fn options(concurrency: usize, queue: usize, overflow: Overflow) -> HandlerOptions {
    HandlerOptions {
        concurrency,
        queue_capacity: Some(queue),
        overflow,
        ..HandlerOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_does_not_hold_up_a_fast_one() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "isolation").build().unwrap())
        .await
        .unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let slow_log = log.clone();
    let slow = handler_fn(move |_m: Message, _ctx: Context| {
        let log = slow_log.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            log.lock().unwrap().push("slow");
        }
    });
    let fast_log = log.clone();
    let fast = handler_fn(move |_m: Message, _ctx: Context| {
        let log = fast_log.clone();
        async move { log.lock().unwrap().push("fast") }
    });
    client
        .subscribe_handler("work/slow", QoS::AtLeastOnce, slow)
        .await
        .unwrap();
    client
        .subscribe_handler("work/fast", QoS::AtLeastOnce, fast)
        .await
        .unwrap();

    let probe = Probe::start(broker.port(), &[]).await;
    for _ in 0..5 {
        probe.publish("work/slow", QoS::AtLeastOnce, "{}").await;
    }
    for _ in 0..20 {
        probe.publish("work/fast", QoS::AtLeastOnce, "{}").await;
    }
    eventually(WAIT, "every message handled", || {
        log.lock().unwrap().len() == 25
    })
    .await;
    let log = log.lock().unwrap().clone();
    let fast_done = log.iter().rposition(|h| *h == "fast").unwrap();
    let slow_done = log.iter().filter(|h| **h == "slow").count();
    assert!(
        log[..fast_done].iter().filter(|h| **h == "slow").count() <= 1,
        "the fast handler finished all 20 while the slow one handled at most one: {log:?}"
    );
    assert_eq!(slow_done, 5);
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrency_runs_that_many_messages_at_once_and_no_more() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "concurrent").build().unwrap())
        .await
        .unwrap();
    let (running, peak, done) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let (r, p, d) = (running.clone(), peak.clone(), done.clone());
    let handler = handler_fn(move |_m: Message, _ctx: Context| {
        let (running, peak, done) = (r.clone(), p.clone(), d.clone());
        async move {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            running.fetch_sub(1, Ordering::SeqCst);
            done.fetch_add(1, Ordering::SeqCst);
        }
    });
    client
        .subscribe_handler_with(
            "jobs",
            QoS::AtLeastOnce,
            options(4, 64, Overflow::Block),
            handler,
        )
        .await
        .unwrap();
    let probe = Probe::start(broker.port(), &[]).await;
    for _ in 0..16 {
        probe.publish("jobs", QoS::AtLeastOnce, "{}").await;
    }
    eventually(WAIT, "16 jobs done", || done.load(Ordering::SeqCst) == 16).await;
    assert_eq!(peak.load(Ordering::SeqCst), 4, "four at once, never more");
    client.shutdown().await.unwrap();
}

/// A handler held at a gate while messages pile up; returns what it handled and the
/// stats once released.
async fn overflow_run(overflow: Overflow, qos: QoS) -> (Vec<u32>, tars::HandlerStats, tars::Stats) {
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "overflow").build().unwrap())
        .await
        .unwrap();
    let gate = Arc::new(Semaphore::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let entered = Arc::new(AtomicUsize::new(0));
    let (g, s, e) = (gate.clone(), seen.clone(), entered.clone());
    let handler = handler_fn(move |m: Message, _ctx: Context| {
        let (gate, seen, entered) = (g.clone(), s.clone(), e.clone());
        async move {
            entered.fetch_add(1, Ordering::SeqCst);
            gate.acquire().await.unwrap().forget();
            seen.lock()
                .unwrap()
                .push(String::from_utf8_lossy(m.payload()).parse::<u32>().unwrap());
        }
    });
    client
        .subscribe_handler_with("stream", qos, options(1, 3, overflow), handler)
        .await
        .unwrap();
    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("stream", qos, "0").await;
    eventually(WAIT, "the handler to hold the first message", || {
        entered.load(Ordering::SeqCst) == 1
    })
    .await;
    for n in 1..10 {
        probe.publish("stream", qos, n.to_string()).await;
    }
    // The first message is in the handler, three wait in the queue; the rest were dropped.
    eventually(WAIT, "the burst to be received", || {
        client.stats().received == 10
    })
    .await;
    gate.add_permits(100);
    eventually(WAIT, "the queue to drain", || {
        client.handler_stats()[0].queued == 0
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let handled = seen.lock().unwrap().clone();
    let stats = (client.handler_stats().remove(0), client.stats());
    client.shutdown().await.unwrap();
    (handled, stats.0, stats.1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_keeps_the_latest_messages_and_counts_the_dropped() {
    init_tracing();
    let (handled, handler, stats) = overflow_run(Overflow::DropOldest, QoS::AtMostOnce).await;
    assert_eq!(handled, [0, 7, 8, 9]);
    assert_eq!((handler.dropped, stats.dropped), (6, 6));
    assert_eq!(handler.overflow, Overflow::DropOldest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_oldest_applies_to_qos1_streams_too() {
    init_tracing();
    let (handled, handler, _) = overflow_run(Overflow::DropOldest, QoS::AtLeastOnce).await;
    assert_eq!(handled, [0, 7, 8, 9]);
    assert_eq!(handler.dropped, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_newest_keeps_the_earliest_messages_and_counts_the_dropped() {
    init_tracing();
    let (handled, handler, stats) = overflow_run(Overflow::DropNewest, QoS::AtMostOnce).await;
    assert_eq!(handled, [0, 1, 2, 3]);
    assert_eq!((handler.dropped, stats.dropped), (6, 6));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_loses_no_qos1_message() {
    init_tracing();
    let (handled, handler, stats) = overflow_run(Overflow::Block, QoS::AtLeastOnce).await;
    assert_eq!(handled, (0..10).collect::<Vec<_>>());
    assert_eq!((handler.dropped, stats.dropped), (0, 0));
    assert_eq!(handler.handled, 10);
}
