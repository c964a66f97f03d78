//! Every example runs and does what its documentation says. The service examples run
//! as processes against the embedded test broker; the self-contained ones start their
//! own and check themselves.

use std::time::Duration;

use serde_json::{json, Value};
use tars::testing::{TestBroker, TestClient};
use tars_tests::init_tracing;
use tars_tests::process::{cargo, example_binary, target_dir, workspace_root, ServiceProcess};

use tars_tests::WAIT;

/// Runs a self-checking example to its end; returns its output.
async fn run_to_completion(name: &str) -> String {
    run_with(name, &[]).await
}

async fn run_with(name: &str, vars: &[(&str, &str)]) -> String {
    let mut process = ServiceProcess::spawn(&example_binary(name), vars);
    let status = process.exit_within(WAIT).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let output = process.output();
    assert_eq!(status.code(), Some(0), "{name} failed:\n{output}");
    output
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_shows_the_pipeline_working_with_nothing_installed() {
    init_tracing();
    let output = run_to_completion("demo").await;
    for expected in [
        "embedded MQTT broker at mqtt://127.0.0.1:",
        "system/health/tars-pipeline",
        "event=ready",
        "llm.request",
        "tts.say",
        "\"voice\":\"robot\"",
        "system/keepalive/tars-pipeline",
        "event=shutdown",
        "done: 2 replies, each carrying the id of the transcript it answers",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected:?} in:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_says_where_its_metrics_are_and_what_they_counted() {
    init_tracing();
    let addr = format!("127.0.0.1:{}", tars_tests::free_port());
    let output = run_with("demo", &[("TARS_METRICS_ADDR", &addr)]).await;
    for expected in [
        format!("metrics: http://{addr}/metrics (health: /healthz, readiness: /readyz)"),
        "tars_handler_messages_total{handler=\"understand\",outcome=\"ok\"} 3".to_owned(),
        "tars_handler_messages_total{handler=\"speak\",outcome=\"ok\"} 2".to_owned(),
    ] {
        assert!(
            output.contains(&expected),
            "missing {expected:?} in:\n{output}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_extension_pattern_examples_check_themselves() {
    init_tracing();
    for (name, success) in [
        ("wrapper", "wrapper: every utterance acknowledged"),
        (
            "batching",
            "batching: 250 readings stored in 3 transactions (kitchen [100, 50], hall [100])",
        ),
        (
            "batching_publisher",
            "batching_publisher: 25 samples in 3 batches of [10, 10, 5]",
        ),
        (
            "raw_client",
            "raw_client: a 640-byte binary frame went out as a raw PUBLISH packet",
        ),
        ("testing", "all checks passed"),
        (
            "request_reply",
            "request_reply: 6 requests, 6 matching replies",
        ),
    ] {
        let output = run_to_completion(name).await;
        assert!(
            output.contains(success),
            "{name}: missing {success:?} in:\n{output}"
        );
    }
}

fn start(example: &str, broker: &TestBroker, id: &str, extra: &[(&str, &str)]) -> ServiceProcess {
    let url = broker.url();
    let mut vars = vec![("MQTT_URL", url.as_str()), ("MQTT_CLIENT_ID", id)];
    vars.extend_from_slice(extra);
    ServiceProcess::spawn(&example_binary(example), &vars)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sensors_example_alerts_per_room_and_watches_the_fleet() {
    init_tracing();
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let _sensors = start("sensors", &broker, "sensors-under-test", &[]);
    bus.wait_health("sensors-under-test", "ready").await;

    bus.publish_envelope(
        "sensors/kitchen/temperature",
        "sensors.reading",
        &json!({"celsius": 21.5}),
    )
    .await;
    let hot = bus
        .publish_envelope(
            "sensors/attic/temperature",
            "sensors.reading",
            &json!({"celsius": 36.0}),
        )
        .await;
    let alert = bus.next_envelope::<Value>("alerts/temperature").await;
    assert_eq!(
        alert.data,
        json!({"room": "attic", "celsius": 36.0}),
        "only the hot room alerts"
    );
    assert_eq!(alert.id, hot);

    let health = tars::health::HealthStatus::new(false, Some("lost"), None);
    bus.publish_envelope("system/health/tts-worker", "health.status", &health)
        .await;
    let status = bus.next_envelope::<Value>("fleet/status").await;
    assert_eq!(
        status.data,
        json!({"service": "tts-worker", "ok": false, "event": "lost"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_producer_example_ticks_until_sigterm_then_stops_cleanly() {
    init_tracing();
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let mut producer = start(
        "producer",
        &broker,
        "clock-under-test",
        &[("CLOCK_PERIOD_MS", "100")],
    );
    let ticks: Vec<u64> = next_ticks(&bus, 3).await;
    assert_eq!(ticks, [1, 2, 3]);

    producer.signal("TERM");
    let status = producer.exit_within(WAIT).await;
    assert_eq!(status.code(), Some(0), "{}", producer.output());
    assert!(!bus.wait_health("clock-under-test", "shutdown").await.ok);
}

async fn next_ticks(bus: &TestClient, count: usize) -> Vec<u64> {
    let mut ticks = Vec::new();
    for _ in 0..count {
        let tick = bus.next_envelope::<Value>("clock/tick").await;
        ticks.push(tick.data["n"].as_u64().expect("n"));
    }
    ticks
}

/// `examples/ported-tts`: a workspace of its own, as a team porting a Python service
/// lays it out: the handlers in a library with its own tests, a binary that serves them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_with_its_handlers_in_a_library_is_tested_and_served() {
    init_tracing();
    let dir = workspace_root().join("examples/ported-tts");
    let tested = cargo(&dir, "test", &["--test", "say"]);
    assert!(tested.contains("test result: ok. 3 passed"), "{tested}");
    cargo(&dir, "build", &[]);
    let binary = target_dir().join("debug/tts-service");

    let described = std::process::Command::new(&binary)
        .arg("--asyncapi")
        .output()
        .expect("run tts-service --asyncapi");
    let document: Value = serde_json::from_slice(&described.stdout).expect("an AsyncAPI document");
    assert!(
        document["operations"].get("receive_say").is_some(),
        "the library's handler is linked: {}",
        document["operations"]
    );

    // Its own settings: listed by --help, checked by --check (the variable named).
    let help = std::process::Command::new(&binary)
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("TTS_WORDS_PER_MINUTE") && help.contains("[160]"),
        "{help}"
    );
    let check = std::process::Command::new(&binary)
        .arg("--check")
        .env("MQTT_URL", "mqtt://127.0.0.1:1")
        .env("TTS_WORDS_PER_MINUTE", "9000")
        .env("TTS_API_KEY", "hunter2")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert_eq!(check.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TTS_WORDS_PER_MINUTE=\"9000\""), "{stderr}");
    let check = std::process::Command::new(&binary)
        .arg("--check")
        .env("MQTT_URL", "mqtt://127.0.0.1:1")
        .env("TTS_API_KEY", "hunter2")
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "{report}");
    assert!(
        report.contains("TTS_API_KEY") && report.contains("***"),
        "{report}"
    );
    assert!(!report.contains("hunter2"), "the secret leaked:\n{report}");

    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let url = broker.url();
    let mut service = ServiceProcess::spawn(
        &binary,
        &[
            ("MQTT_URL", &url),
            ("RUST_LOG", "info"),
            ("TTS_WORDS_PER_MINUTE", "120"),
        ],
    );
    bus.wait_health("tars-tts", "ready").await;
    assert!(
        service.output().contains("handlers=2"),
        "{}",
        service.output()
    );
    let id = bus
        .publish_envelope("tts/say", "tts.say", &json!({"text": "hello there"}))
        .await;
    let spoken = bus.next_envelope::<Value>("tts/spoken").await;
    assert_eq!(spoken.id, id);
    assert_eq!(spoken.data["voice"], "en_US-amy");
    assert_eq!(
        spoken.data["duration_ms"], 1000,
        "two words at 120 a minute"
    );
    // The voice lives in the service's state, built by `state = Voice::default`.
    bus.publish_raw("tts/voice", "robot").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    bus.publish_envelope("tts/say", "tts.say", &json!({"text": "beep"}))
        .await;
    assert_eq!(
        bus.next_envelope::<Value>("tts/spoken").await.data["voice"],
        "robot"
    );
    service.signal("TERM");
    assert!(service.exit_within(WAIT).await.success());
}
