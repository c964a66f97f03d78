//! Batch handlers against mosquitto: batches handed over when full or when their
//! window has passed, by key; acknowledged only after the batch; failures retried as a
//! batch, then dead-lettered message by message; only the items a handler names; the
//! declared form (`#[tars::handler(batch = N)]`), its description and its metrics; a
//! batch cut by shutdown handed over before the service exits.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::{
    batch_fn, BatchError, BatchOptions, Client, Context, FailurePolicy, HandlerOptions,
    PublishOptions, QoS,
};
use tars_tests::{config, eventually, init_tracing, Mosquitto, Probe, WAIT};

#[derive(Debug, Deserialize, Clone, PartialEq)]
struct Reading {
    n: u64,
}

/// The batches a handler was called with, in order.
type Seen = Arc<Mutex<Vec<Vec<u64>>>>;

fn seen() -> Seen {
    Arc::new(Mutex::new(Vec::new()))
}

fn batches(seen: &Seen) -> Vec<Vec<u64>> {
    seen.lock().unwrap().clone()
}

fn total(seen: &Seen) -> usize {
    seen.lock().unwrap().iter().map(Vec::len).sum()
}

/// Publishes readings `range` on `topic` at QoS 1, as envelopes.
async fn publish(client: &Client, topic: &str, range: std::ops::Range<u64>) {
    for n in range {
        client
            .publish_event(
                topic,
                "sensors.reading",
                &serde_json::json!({ "n": n }),
                PublishOptions::new().qos(QoS::AtLeastOnce),
            )
            .await
            .unwrap();
    }
}

async fn publisher(broker: &Mosquitto) -> Client {
    Client::connect(config(broker.port(), "batch-pub").build().unwrap())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_batches_go_at_once_and_the_rest_when_its_window_has_passed() {
    init_tracing();
    let broker = Mosquitto::start();
    let seen = seen();
    let record = seen.clone();
    let consumer = Client::connect(config(broker.port(), "batch-sub").build().unwrap())
        .await
        .unwrap();
    let options = BatchOptions::new(100, Duration::from_millis(300));
    let handler = batch_fn(move |readings: Vec<Reading>, _: Context| {
        let record = record.clone();
        async move {
            record
                .lock()
                .unwrap()
                .push(readings.iter().map(|r| r.n).collect());
        }
    });
    consumer
        .subscribe_batch("sensors/+/reading", QoS::AtLeastOnce, options, handler)
        .await
        .unwrap();
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..250).await;
    eventually(WAIT, "250 readings handled", || total(&seen) == 250).await;
    let batches = batches(&seen);
    assert!(batches.iter().all(|b| b.len() <= 100), "{batches:?}");
    assert!(
        batches.iter().filter(|b| b.len() == 100).count() >= 2,
        "two full batches: {:?}",
        batches.iter().map(Vec::len).collect::<Vec<_>>()
    );
    let all: Vec<u64> = batches.concat();
    assert_eq!(
        all,
        (0..250).collect::<Vec<_>>(),
        "in arrival order, each once"
    );
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_are_kept_apart_by_the_key_level() {
    init_tracing();
    let broker = Mosquitto::start();
    let seen = Arc::new(Mutex::new(Vec::<(String, usize)>::new()));
    let record = seen.clone();
    let consumer = Client::connect(config(broker.port(), "batch-key").build().unwrap())
        .await
        .unwrap();
    let options = BatchOptions::new(10, Duration::from_millis(200)).key_level(1);
    struct ByRoom(Arc<Mutex<Vec<(String, usize)>>>);
    impl tars::BatchHandler for ByRoom {
        async fn call(&self, messages: &[tars::Message], _: &Context) -> tars::BatchResult {
            let rooms: std::collections::BTreeSet<&str> = messages
                .iter()
                .map(|m| m.topic().split('/').nth(1).unwrap())
                .collect();
            assert_eq!(rooms.len(), 1, "one room a batch");
            let room = rooms.into_iter().next().unwrap().to_owned();
            self.0.lock().unwrap().push((room, messages.len()));
            Ok(())
        }
    }
    consumer
        .subscribe_batch(
            "sensors/+/reading",
            QoS::AtLeastOnce,
            options,
            ByRoom(record),
        )
        .await
        .unwrap();
    let publisher = publisher(&broker).await;
    for n in 0..6 {
        publish(&publisher, "sensors/kitchen/reading", n..n + 1).await;
        publish(&publisher, "sensors/hall/reading", n..n + 1).await;
    }
    eventually(WAIT, "12 readings handled", || {
        seen.lock().unwrap().iter().map(|(_, n)| n).sum::<usize>() == 12
    })
    .await;
    let seen = seen.lock().unwrap().clone();
    for room in ["kitchen", "hall"] {
        let count: usize = seen.iter().filter(|(r, _)| r == room).map(|(_, n)| n).sum();
        assert_eq!(count, 6, "{room}: {seen:?}");
    }
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_acknowledged_only_after_its_handler_returned() {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("batch-ack-{}", &tars::new_id()[..8]);
    let persistent = || {
        tars::Config::builder(broker.url(), client_id.clone())
            .clean_session(false)
            .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
            .mqtt_version(tars_tests::mqtt_version())
            .build()
            .unwrap()
    };
    // The first consumer's handler never returns: nothing of its batch is acknowledged.
    let stuck = seen();
    let record = stuck.clone();
    let first = Client::connect(persistent()).await.unwrap();
    let handler = batch_fn(move |readings: Vec<Reading>, _: Context| {
        record
            .lock()
            .unwrap()
            .push(readings.iter().map(|r| r.n).collect());
        std::future::pending::<()>()
    });
    let options = BatchOptions::new(5, Duration::from_millis(50));
    first
        .subscribe_batch("sensors/+/reading", QoS::AtLeastOnce, options, handler)
        .await
        .unwrap();
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..5).await;
    eventually(WAIT, "the batch reached the handler", || total(&stuck) == 5).await;
    first.disconnect().await.unwrap();

    // The same session again: the broker delivers the five again.
    let again = seen();
    let record = again.clone();
    let second = Client::builder(persistent())
        .subscribe_batch_with(
            "sensors/+/reading",
            QoS::AtLeastOnce,
            HandlerOptions::default(),
            options,
            batch_fn(move |readings: Vec<Reading>, _: Context| {
                let record = record.clone();
                async move {
                    record
                        .lock()
                        .unwrap()
                        .push(readings.iter().map(|r| r.n).collect());
                }
            }),
        )
        .connect()
        .await
        .unwrap();
    eventually(WAIT, "the unacknowledged batch delivered again", || {
        total(&again) >= 5
    })
    .await;
    let mut redelivered: Vec<u64> = batches(&again).concat();
    redelivered.sort_unstable();
    redelivered.dedup();
    assert_eq!(redelivered, vec![0, 1, 2, 3, 4]);
    second.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

/// A consumer whose batch handler fails as `fail` says, with retries and a dead letter.
async fn failing_consumer(
    broker: &Mosquitto,
    retries: u32,
    fail: impl Fn(&[Reading], usize) -> Result<(), BatchError> + Send + Sync + 'static,
) -> (Client, Seen) {
    let seen = seen();
    let record = seen.clone();
    let attempts = Arc::new(Mutex::new(0usize));
    let fail = Arc::new(fail);
    let handler = batch_fn(move |readings: Vec<Reading>, _: Context| {
        record
            .lock()
            .unwrap()
            .push(readings.iter().map(|r| r.n).collect());
        let attempt = {
            let mut attempts = attempts.lock().unwrap();
            *attempts += 1;
            *attempts
        };
        let outcome = fail(&readings, attempt);
        async move { outcome }
    });
    let options = HandlerOptions {
        failure: FailurePolicy {
            retries: Some(retries),
            backoff: Some(Duration::from_millis(50)),
            dead_letter: Some("dead/readings".into()),
            ..FailurePolicy::default()
        },
        ..HandlerOptions::default()
    };
    let client = Client::connect(config(broker.port(), "batch-fail").build().unwrap())
        .await
        .unwrap();
    client
        .subscribe_batch_with(
            "sensors/+/reading",
            QoS::AtLeastOnce,
            options,
            BatchOptions::new(4, Duration::from_millis(100)),
            handler,
        )
        .await
        .unwrap();
    (client, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_is_tried_again_whole_then_each_message_is_dead_lettered() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["dead/readings"]).await;
    let (consumer, seen) = failing_consumer(&broker, 1, |_, _| {
        Err(BatchError::batch("the database is down"))
    })
    .await;
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..4).await;
    let mut dead = Vec::new();
    for _ in 0..4 {
        let letter = probe.expect_on("dead/readings", WAIT).await.json();
        assert_eq!(letter["data"]["attempts"], 2, "{letter}");
        assert!(
            letter["data"]["error"]
                .as_str()
                .unwrap()
                .contains("the database is down"),
            "{letter}"
        );
        dead.push(letter);
    }
    let batches = batches(&seen);
    assert_eq!(
        batches,
        vec![vec![0, 1, 2, 3], vec![0, 1, 2, 3]],
        "tried whole, twice"
    );
    assert!(probe
        .next_within(Duration::from_millis(300))
        .await
        .is_none());
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_items_a_handler_names_are_tried_again() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["dead/readings"]).await;
    // Reading 2 always fails; the others succeed at once.
    let (consumer, seen) = failing_consumer(&broker, 1, |readings, _| {
        let failed: Vec<(usize, &str)> = readings
            .iter()
            .enumerate()
            .filter(|(_, r)| r.n == 2)
            .map(|(i, _)| (i, "reading 2 is out of range"))
            .collect();
        match failed.is_empty() {
            true => Ok(()),
            false => Err(BatchError::items(failed)),
        }
    })
    .await;
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..4).await;
    let letter = probe.expect_on("dead/readings", WAIT).await.json();
    assert!(letter["data"]["error"]
        .as_str()
        .unwrap()
        .contains("reading 2 is out of range"));
    assert_eq!(batches(&seen), vec![vec![0, 1, 2, 3], vec![2]]);
    assert!(
        probe
            .next_within(Duration::from_millis(300))
            .await
            .is_none(),
        "one dead letter"
    );
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_handler_cannot_join_an_ordered_group_or_run_concurrently() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "batch-opts").build().unwrap())
        .await
        .unwrap();
    let handler = || batch_fn(|_: Vec<Reading>, _: Context| async {});
    let options = BatchOptions::new(10, Duration::from_millis(20));
    for (bad, what) in [
        (
            HandlerOptions {
                group: Some("voice".into()),
                ..HandlerOptions::default()
            },
            "ordered group",
        ),
        (
            HandlerOptions {
                concurrency: 4,
                ..HandlerOptions::default()
            },
            "concurrency must be 1",
        ),
    ] {
        let error = client
            .subscribe_batch_with("a/b", QoS::AtLeastOnce, bad, options, handler())
            .await
            .unwrap_err();
        assert!(error.to_string().contains(what), "{error}");
    }
    let error = client
        .subscribe_batch(
            "a/b",
            QoS::AtLeastOnce,
            BatchOptions::new(0, Duration::from_millis(20)),
            handler(),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("size of at least 1"), "{error}");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_does_not_decode_is_left_out_and_dead_lettered_at_once() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["dead/readings"]).await;
    let (consumer, seen) = failing_consumer(&broker, 3, |_, _| Ok(())).await;
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..2).await;
    probe
        .publish(
            "sensors/kitchen/reading",
            QoS::AtLeastOnce,
            "not an envelope",
        )
        .await;
    publish(&publisher, "sensors/kitchen/reading", 2..3).await;
    let letter = probe.expect_on("dead/readings", WAIT).await.json();
    assert_eq!(letter["data"]["attempts"], 1, "never tried again: {letter}");
    eventually(WAIT, "the three readings handled", || total(&seen) == 3).await;
    assert_eq!(batches(&seen).concat(), vec![0, 1, 2]);
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

// The declared form: `#[tars::handler(batch = N, ...)]` on a fn taking a `Vec`.

#[derive(tars::Event, Serialize, Deserialize, Debug, Clone)]
#[event(
    topic = "declared/kitchen/reading",
    event_type = "sensors.reading",
    qos = 1
)]
struct RoomReading {
    n: u64,
}

/// What `store_by_room` was called with: the batch key's value and the readings.
static BY_ROOM: Mutex<Vec<(String, Vec<u64>)>> = Mutex::new(Vec::new());

#[tars::handler(
    topic = "declared/{room}/reading",
    qos = 1,
    batch = 100,
    batch_window = "300ms",
    batch_key = "room"
)]
async fn store_by_room(room: String, readings: Vec<RoomReading>) {
    let numbers = readings.iter().map(|r| r.n).collect();
    BY_ROOM.lock().unwrap().push((room, numbers));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_declared_batch_handler_takes_full_batches_then_the_rest_by_key() {
    init_tracing();
    let broker = Mosquitto::start();
    let consumer = Client::builder(config(broker.port(), "batch-declared").build().unwrap())
        .with_handlers(|h| h.name == "store_by_room")
        .connect()
        .await
        .unwrap();
    let publisher = publisher(&broker).await;
    publish(&publisher, "declared/kitchen/reading", 0..150).await;
    publish(&publisher, "declared/hall/reading", 1000..1030).await;
    eventually(WAIT, "180 readings handled", || {
        BY_ROOM
            .lock()
            .unwrap()
            .iter()
            .map(|(_, r)| r.len())
            .sum::<usize>()
            == 180
    })
    .await;
    let calls = BY_ROOM.lock().unwrap().clone();
    let room = |name: &str| -> Vec<Vec<u64>> {
        calls
            .iter()
            .filter(|(room, _)| room == name)
            .map(|(_, readings)| readings.clone())
            .collect()
    };
    assert_eq!(
        room("kitchen"),
        vec![(0..100).collect::<Vec<_>>(), (100..150).collect()],
        "a full batch at once, then the rest after its window"
    );
    assert_eq!(room("hall"), vec![(1000..1030).collect::<Vec<_>>()]);
    let metrics = tars::testing::MetricsSnapshot::parse(&consumer.metrics_text());
    assert_eq!(metrics.handler_messages("store_by_room", "ok"), 180);
    let sizes = |sample: &str| metrics.value(sample, &[("handler", "store_by_room")]);
    assert_eq!(
        sizes("tars_handler_batch_size_count"),
        Some(3.0),
        "three calls"
    );
    assert_eq!(sizes("tars_handler_batch_size_sum"), Some(180.0));
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

#[test]
fn a_declared_batch_handler_is_described_with_its_batches() {
    let manifest = tars::manifest::ServiceManifest::from_registry("batching", "1");
    let handler = manifest
        .handlers
        .iter()
        .find(|h| h.name == "store_by_room")
        .expect("store_by_room in the manifest");
    let batch = handler.batch.as_ref().expect("its batches");
    assert_eq!(
        (batch.size, batch.window_ms, batch.key_level),
        (100, 300, Some(1))
    );
    assert_eq!(handler.filter, "declared/+/reading");
    assert_eq!(handler.event_type.as_deref(), Some("sensors.reading"));
    assert!(
        handler.reply.is_none(),
        "a batch handler replies to nothing"
    );

    let info = tars::asyncapi::ServiceInfo {
        name: "batching".into(),
        version: "1".into(),
        mqtt_version: tars::MqttVersion::V3_1_1,
        broker: None,
        failure_defaults: tars::FailurePolicy::default(),
    };
    let doc = tars::asyncapi::document(&info);
    let operation = &doc["operations"]["receive_store_by_room"];
    assert_eq!(
        operation["x-tars-batch"],
        serde_json::json!({ "size": 100, "windowMs": 300, "keyLevel": 1 }),
        "{operation}"
    );
}

#[derive(tars::Event, Serialize, Deserialize, Debug, Clone)]
#[event(topic = "kit/readings", event_type = "kit.reading", qos = 1)]
struct KitReading {
    n: u64,
}

/// The sizes of the batches `count_kit` was called with.
static KIT_BATCHES: Mutex<Vec<usize>> = Mutex::new(Vec::new());

#[tars::handler(qos = 1, batch = 100, batch_window = "2s")]
async fn count_kit(readings: Vec<KitReading>) {
    KIT_BATCHES.lock().unwrap().push(readings.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_testing_kit_250_readings_make_three_batches() {
    init_tracing();
    let broker = tars_tests::test_broker().await;
    let bus = tars::testing::TestClient::connect(&broker)
        .await
        .with_timeout(WAIT);
    let service = tars::testing::TestService::with_handlers(&broker, &["count_kit"]).await;
    for n in 0..250 {
        bus.publish(&KitReading { n }).await;
    }
    eventually(WAIT, "250 readings handled", || {
        KIT_BATCHES.lock().unwrap().iter().sum::<usize>() == 250
    })
    .await;
    assert_eq!(*KIT_BATCHES.lock().unwrap(), vec![100, 100, 50]);
    assert_eq!(service.metrics().handler_messages("count_kit", "ok"), 250);
}

fn batch_service() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_batch-service"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_cut_by_shutdown_is_handed_over_before_the_service_exits() {
    init_tracing();
    let broker = Mosquitto::start();
    let url = broker.url();
    let mut service = tars_tests::process::ServiceProcess::spawn(
        batch_service(),
        &[("MQTT_URL", url.as_str()), ("RUST_LOG", "info")],
    );
    service.wait_for_output("service ready", WAIT).await;
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..130).await;
    publish(&publisher, "sensors/hall/reading", 500..505).await;
    service
        .wait_for_line("stored 100 readings of kitchen: 0..99", WAIT)
        .await;
    // The other two batches wait out a 10 s window; SIGTERM cuts it short.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !service.output().contains("readings of hall"),
        "{}",
        service.output()
    );
    service.signal("TERM");
    let status = service.exit_within(WAIT).await;
    let output = service.output();
    assert!(status.success(), "exit {status}:\n{output}");
    for line in [
        "stored 30 readings of kitchen: 100..129",
        "stored 5 readings of hall: 500..504",
    ] {
        assert!(
            output.lines().any(|l| l == line),
            "no {line:?} in:\n{output}"
        );
    }
    publisher.shutdown().await.unwrap();
}

#[test]
fn a_batch_service_says_so_in_help_and_asyncapi() {
    let help = std::process::Command::new(batch_service())
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    let line = help
        .lines()
        .find(|l| l.trim_start().starts_with("store "))
        .unwrap_or_else(|| panic!("no `store` handler in:\n{help}"));
    assert!(line.contains("sensors/+/reading"), "{line}");
    assert!(line.contains("in batches of 100 (10000 ms)"), "{line}");

    let output = std::process::Command::new(batch_service())
        .arg("--asyncapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        doc["operations"]["receive_store"]["x-tars-batch"],
        serde_json::json!({ "size": 100, "windowMs": 10000, "keyLevel": 1 }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_in_front_of_a_batch_handler_drops_by_its_overflow_policy() {
    init_tracing();
    let broker = Mosquitto::start();
    let seen = seen();
    let record = seen.clone();
    // The first batch waits until the test opens the gate: the queue behind it fills.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let wait = gate.clone();
    let handler = batch_fn(move |readings: Vec<Reading>, _: Context| {
        record
            .lock()
            .unwrap()
            .push(readings.iter().map(|r| r.n).collect());
        let wait = wait.clone();
        async move {
            let _ = wait.acquire().await.map(|permit| permit.forget());
        }
    });
    let options = HandlerOptions {
        queue_capacity: Some(10),
        overflow: tars::Overflow::DropOldest,
        ..HandlerOptions::default()
    };
    let consumer = Client::connect(config(broker.port(), "batch-overflow").build().unwrap())
        .await
        .unwrap();
    consumer
        .subscribe_batch_with(
            "sensors/+/reading",
            QoS::AtLeastOnce,
            options,
            BatchOptions::new(5, Duration::from_millis(50)),
            handler,
        )
        .await
        .unwrap();
    let publisher = publisher(&broker).await;
    publish(&publisher, "sensors/kitchen/reading", 0..5).await;
    eventually(WAIT, "the first batch in the handler", || total(&seen) == 5).await;
    publish(&publisher, "sensors/kitchen/reading", 5..60).await;
    let dropped = || {
        tars::testing::MetricsSnapshot::parse(&consumer.metrics_text())
            .handler_messages("sensors/+/reading", "dropped")
    };
    eventually(WAIT, "the oldest dropped", || dropped() > 0).await;
    gate.add_permits(100);
    eventually(WAIT, "every reading handled or dropped", || {
        total(&seen) as u64 + dropped() == 60
    })
    .await;
    let handled: Vec<u64> = batches(&seen).concat();
    assert!(handled.len() < 60, "some were dropped: {handled:?}");
    assert!(
        handled.windows(2).all(|w| w[0] < w[1]),
        "what is left keeps its order: {handled:?}"
    );
    assert_eq!(
        handled.last(),
        Some(&59),
        "the newest are kept: {handled:?}"
    );
    assert!(
        batches(&seen).iter().all(|b| b.len() <= 5),
        "{:?}",
        batches(&seen)
    );
    consumer.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}
