//! Receiving against a real mosquitto: wildcard semantics, every matching handler
//! called, malformed payloads and panics isolated, dedup, and the queue policies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tars::{Client, Context, Envelope, Message, QoS};
use tars_tests::{config, eventually, init_tracing, python_style_envelope, Mosquitto, Probe};

use tars_tests::events::SttFinal;
use tars_tests::WAIT;

type Log = Arc<Mutex<Vec<(String, String)>>>;

/// Subscribes `filter` with a handler that records (filter, topic) into `log`.
async fn record(client: &Client, filter: &'static str, log: &Log) {
    let log = log.clone();
    client
        .subscribe(filter, QoS::AtLeastOnce, move |m: Message| {
            let log = log.clone();
            async move {
                log.lock()
                    .unwrap()
                    .push((filter.to_owned(), m.topic().to_owned()))
            }
        })
        .await
        .unwrap();
}

fn topics_of(log: &Log, filter: &str) -> Vec<String> {
    let mut topics: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(f, _)| f == filter)
        .map(|(_, t)| t.clone())
        .collect();
    topics.sort();
    topics
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcards_match_as_mqtt_defines() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "wild").build().unwrap())
        .await
        .unwrap();
    let log = Log::default();
    record(&client, "events/#", &log).await;
    record(&client, "sensors/+/temp", &log).await;
    record(&client, "done", &log).await;

    let probe = Probe::start(broker.port(), &[]).await;
    for topic in [
        "events",
        "events/a/b",
        "eventsX/a",
        "eventsX",
        "sensors/k/temp",
        "sensors/k/x/temp",
        "sensors//temp",
    ] {
        probe.publish(topic, QoS::AtLeastOnce, "{}").await;
    }
    probe.publish("done", QoS::AtLeastOnce, "{}").await;
    eventually(WAIT, "the sentinel", || !topics_of(&log, "done").is_empty()).await;

    assert_eq!(topics_of(&log, "events/#"), ["events", "events/a/b"]);
    assert_eq!(
        topics_of(&log, "sensors/+/temp"),
        ["sensors//temp", "sensors/k/temp"]
    );
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_overlapping_filter_gets_the_message() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "overlap").build().unwrap())
        .await
        .unwrap();
    let log = Log::default();
    for filter in ["a/b", "a/+", "a/#", "+/b"] {
        record(&client, filter, &log).await;
    }
    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("a/b", QoS::AtLeastOnce, "{}").await;
    eventually(WAIT, "four deliveries", || log.lock().unwrap().len() >= 4).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut filters: Vec<String> = log.lock().unwrap().iter().map(|(f, _)| f.clone()).collect();
    filters.sort();
    assert_eq!(filters, ["+/b", "a/#", "a/+", "a/b"], "each exactly once");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_payloads_are_skipped_and_the_next_message_is_handled() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "malformed").build().unwrap())
        .await
        .unwrap();
    let texts = Arc::new(Mutex::new(Vec::new()));
    let seen = texts.clone();
    client
        .subscribe_envelope(
            "stt/final",
            QoS::AtLeastOnce,
            move |env: Envelope<SttFinal>, _ctx: Context| {
                let seen = seen.clone();
                async move { seen.lock().unwrap().push(env.data.text) }
            },
        )
        .await
        .unwrap();

    let probe = Probe::start(broker.port(), &[]).await;
    let bad: [&[u8]; 5] = [
        b"not json at all",
        br#"{"text": "json but no envelope"}"#,
        b"\xff\xfe\x00 not utf-8",
        br#"{"id": "1", "type": "stt.final", "data": {"txt": "wrong shape"}}"#,
        b"",
    ];
    for payload in bad {
        probe
            .publish("stt/final", QoS::AtLeastOnce, payload.to_vec())
            .await;
    }
    probe
        .publish(
            "stt/final",
            QoS::AtLeastOnce,
            python_style_envelope("stt.final", json!({"text": "valid"}), None),
        )
        .await;
    eventually(WAIT, "the valid message", || {
        !texts.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*texts.lock().unwrap(), ["valid"]);
    assert!(client.is_connected());
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_handler_does_not_stop_the_service() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "panic").build().unwrap())
        .await
        .unwrap();
    let handled = Arc::new(Mutex::new(Vec::new()));
    let log = handled.clone();
    client
        .subscribe("jobs", QoS::AtLeastOnce, move |m: Message| {
            let log = log.clone();
            async move {
                if m.payload() == b"boom" {
                    panic!("handler exploded");
                }
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(m.payload()).into_owned());
            }
        })
        .await
        .unwrap();
    let errors = Arc::new(AtomicUsize::new(0));
    let count = errors.clone();
    client
        .subscribe("jobs", QoS::AtLeastOnce, move |_m: Message| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>("this handler always fails")
            }
        })
        .await
        .unwrap();

    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("jobs", QoS::AtLeastOnce, "boom").await;
    probe.publish("jobs", QoS::AtLeastOnce, "after").await;
    eventually(WAIT, "the message after the panic", || {
        !handled.lock().unwrap().is_empty()
    })
    .await;
    assert_eq!(*handled.lock().unwrap(), ["after"]);
    eventually(WAIT, "both calls of the failing handler", || {
        errors.load(Ordering::SeqCst) == 2
    })
    .await;
    assert!(client.is_connected());
    client.shutdown().await.unwrap();
}

async fn count_deliveries(dedupe: bool) -> (usize, tars::Stats) {
    let broker = Mosquitto::start();
    let mut builder = config(broker.port(), "dedup");
    if dedupe {
        builder = builder.dedupe(Duration::from_secs(30), 100);
    }
    let client = Client::connect(builder.build().unwrap()).await.unwrap();
    let count = Arc::new(AtomicUsize::new(0));
    let counter = count.clone();
    client
        .subscribe("stream/#", QoS::AtLeastOnce, move |_m: Message| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    let probe = Probe::start(broker.port(), &[]).await;
    let id = tars::new_id();
    let first = python_style_envelope("llm.stream", json!({"seq": 1, "delta": "a"}), Some(&id));
    let second = python_style_envelope("llm.stream", json!({"seq": 2, "delta": "b"}), Some(&id));
    for payload in [&first, &first, &second, &first] {
        probe
            .publish("stream/llm", QoS::AtLeastOnce, payload.clone())
            .await;
    }
    probe
        .publish("stream/end", QoS::AtLeastOnce, "not an envelope")
        .await;
    probe
        .publish("stream/end", QoS::AtLeastOnce, "not an envelope")
        .await;
    eventually(WAIT, "all messages received", || {
        client.stats().received == 6
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let stats = client.stats();
    client.shutdown().await.unwrap();
    (count.load(Ordering::SeqCst), stats)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_skips_redelivered_envelopes_when_on() {
    init_tracing();
    let (handled, stats) = count_deliveries(true).await;
    // seq 1, seq 2, and the two plain payloads (never duplicates).
    assert_eq!(handled, 4);
    assert_eq!(stats.duplicates, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dedup_is_off_by_default() {
    init_tracing();
    let (handled, stats) = count_deliveries(false).await;
    assert_eq!(handled, 6);
    assert_eq!(stats.duplicates, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_block_a_slow_handler_gets_a_whole_qos0_burst_far_beyond_its_queue() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(
        config(broker.port(), "qos0")
            .handler_queue_capacity(4)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let handled = Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = handled.clone();
    client
        .subscribe("fast/stream", QoS::AtMostOnce, move |m: Message| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(5)).await;
                let n: u32 = std::str::from_utf8(m.payload()).unwrap().parse().unwrap();
                seen.lock().unwrap().push(n);
            }
        })
        .await
        .unwrap();
    let probe = Probe::start(broker.port(), &[]).await;
    let sent = 200u32;
    for i in 0..sent {
        probe
            .publish("fast/stream", QoS::AtMostOnce, format!("{i}"))
            .await;
    }
    eventually(WAIT, "every QoS 0 message handled", || {
        handled.lock().unwrap().len() == sent as usize
    })
    .await;
    assert_eq!(*handled.lock().unwrap(), (0..sent).collect::<Vec<_>>());
    assert_eq!(client.stats().dropped, 0, "`block` drops nothing");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handler_gets_every_qos1_message_in_order() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(
        config(broker.port(), "qos1")
            .handler_queue_capacity(2)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let order = Arc::new(Mutex::new(Vec::new()));
    let log = order.clone();
    client
        .subscribe("work/items", QoS::AtLeastOnce, move |m: Message| {
            let log = log.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(2)).await;
                log.lock()
                    .unwrap()
                    .push(String::from_utf8_lossy(m.payload()).parse::<u32>().unwrap());
            }
        })
        .await
        .unwrap();
    // A fast handler on an overlapping filter is not held up by the slow one.
    let fast = Arc::new(AtomicUsize::new(0));
    let fast_count = fast.clone();
    client
        .subscribe("work/#", QoS::AtLeastOnce, move |_m: Message| {
            let fast_count = fast_count.clone();
            async move {
                fast_count.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    let probe = Probe::start(broker.port(), &[]).await;
    let sent = 300u32;
    for i in 0..sent {
        probe
            .publish("work/items", QoS::AtLeastOnce, format!("{i}"))
            .await;
    }
    eventually(
        Duration::from_secs(20),
        "every QoS 1 message handled",
        || order.lock().unwrap().len() == sent as usize,
    )
    .await;
    assert_eq!(
        *order.lock().unwrap(),
        (0..sent).collect::<Vec<_>>(),
        "in arrival order, none lost"
    );
    assert_eq!(fast.load(Ordering::SeqCst), sent as usize);
    assert_eq!(client.stats().dropped, 0);
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn qos2_messages_go_through_in_order_far_beyond_the_brokers_window() {
    init_tracing();
    let broker = Mosquitto::start_with(
        "allow_anonymous true\nlog_dest file /tmp/mosq-qos2.log\nlog_type all",
    );
    let client = Client::connect(config(broker.port(), "exactly-once").build().unwrap())
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    client
        .subscribe("orders", QoS::ExactlyOnce, move |m: Message| {
            let log = log.clone();
            async move {
                let n: usize = std::str::from_utf8(m.payload()).unwrap().parse().unwrap();
                log.lock().unwrap().push(n);
            }
        })
        .await
        .unwrap();
    let publisher = Client::connect(config(broker.port(), "orders-out").build().unwrap())
        .await
        .unwrap();
    // Far beyond mosquitto's window of 20 QoS 2 messages in flight, both ways: the
    // publisher must not send more than the broker takes (mosquitto refuses the rest
    // with a PUBREC that MQTT 3.1.1 cannot mark as a refusal), and the subscriber must
    // complete each PUBREL for the next messages to come.
    const COUNT: usize = 300;
    for n in 0..COUNT {
        publisher
            .publish_bytes("orders", QoS::ExactlyOnce, false, n.to_string())
            .await
            .unwrap();
    }
    eventually(WAIT, "every QoS 2 message", || {
        seen.lock().unwrap().len() >= COUNT
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(*seen.lock().unwrap(), (0..COUNT).collect::<Vec<_>>());
    assert_eq!(
        client.stats().duplicates,
        0,
        "no message taken for a resend"
    );
    client.shutdown().await.unwrap();
}
