//! The metrics endpoint (`TARS_METRICS_ADDR`) of a service process against mosquitto:
//! exact counts after a known sequence, read with the Prometheus project's own parser,
//! and the health probes following the broker.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use rumqttc::QoS;
use serde_json::{json, Value};
use tars_tests::http::{self, wait_for_status};
use tars_tests::process::ServiceProcess;
use tars_tests::python::{run_script, INSTALL_HINT};
use tars_tests::{free_port, init_tracing, python_style_envelope, Mosquitto, Probe};

use tars_tests::WAIT;

fn metrics_service() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_metrics-service"))
}

/// Starts the service with its endpoint on a free port; returns once `/readyz` is 200.
async fn start(broker: &Mosquitto, id: &str) -> (ServiceProcess, SocketAddr) {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let service = ServiceProcess::spawn(
        metrics_service(),
        &[
            ("MQTT_URL", &broker.url()),
            ("MQTT_CLIENT_ID", id),
            ("MQTT_RECONNECT_MIN_DELAY", "0.2"),
            ("MQTT_RECONNECT_MAX_DELAY", "0.5"),
            ("TARS_METRICS_ADDR", &addr.to_string()),
        ],
    );
    let ready = wait_for_status(addr, "/readyz", 200, WAIT).await;
    assert!(
        ready.as_ref().is_some_and(|r| r.status == 200),
        "/readyz never said ready: {ready:?}\n{}",
        service.output()
    );
    (service, addr)
}

/// One sample of an exposition.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Parses an exposition with `prometheus_client.parser` (`tests/python/parse_metrics.py`).
fn parse(exposition: &str) -> Vec<Sample> {
    let output = run_script("parse_metrics.py", &[], exposition);
    assert!(
        output.status.success(),
        "the Prometheus parser rejected the exposition ({INSTALL_HINT}):\n{}\n{exposition}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            let sample: Value = serde_json::from_str(line).unwrap();
            Sample {
                name: sample["name"].as_str().unwrap().to_owned(),
                labels: serde_json::from_value(sample["labels"].clone()).unwrap(),
                value: sample["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The value of the sample `name{labels}`, if present.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|s| s.name == name && s.labels == wanted)
        .map(|s| s.value)
}

fn outcome(samples: &[Sample], handler: &str, outcome: &str) -> Option<f64> {
    value(
        samples,
        "tars_handler_messages_total",
        &[("handler", handler), ("outcome", outcome)],
    )
}

/// Scrapes until `done` holds for the samples, for at most [`WAIT`].
async fn scrape_until(
    addr: SocketAddr,
    what: &str,
    done: impl Fn(&[Sample]) -> bool,
) -> Vec<Sample> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let response = http::get(addr, "/metrics").await.expect("/metrics answers");
        let samples = parse(&response.body);
        if done(&samples) {
            return samples;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what} not seen within {WAIT:?}:\n{}",
            response.body
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_every_outcome_exactly() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = format!("metrics-{}", &tars::new_id()[..8]);
    let (_service, addr) = start(&broker, &id).await;
    let mut probe = Probe::start(broker.port(), &["metrics/started"]).await;
    let item =
        |action: &str| python_style_envelope("metrics.item", json!({ "action": action }), None);

    const GOOD: usize = 5;
    for _ in 0..GOOD {
        probe
            .publish("metrics/item", QoS::AtLeastOnce, item("ok"))
            .await;
    }
    probe
        .publish("metrics/item", QoS::AtLeastOnce, b"not json".to_vec())
        .await;
    probe
        .publish("metrics/item", QoS::AtLeastOnce, item("fail"))
        .await;
    probe
        .publish("metrics/item", QoS::AtLeastOnce, item("panic"))
        .await;

    // The slow handler (queue of 1, drop_newest) holds #1; #2 waits in its queue;
    // #3, #4 and #5 find it full and are dropped.
    let slow = |n: u64| python_style_envelope("metrics.slow", json!({ "n": n }), None);
    probe
        .publish("metrics/slow", QoS::AtLeastOnce, slow(1))
        .await;
    probe.expect_on("metrics/started", WAIT).await;
    for n in 2..=5 {
        probe
            .publish("metrics/slow", QoS::AtLeastOnce, slow(n))
            .await;
    }
    scrape_until(addr, "3 dropped", |s| {
        outcome(s, "slow", "dropped") == Some(3.0)
    })
    .await;
    let release = python_style_envelope("metrics.release", json!({}), None);
    probe
        .publish("metrics/release", QoS::AtLeastOnce, release)
        .await;

    let samples = scrape_until(addr, "every message handled", |s| {
        outcome(s, "slow", "ok") == Some(2.0) && outcome(s, "release", "ok") == Some(1.0) && {
            let work: f64 = ["ok", "error", "panic", "undecodable"]
                .iter()
                .filter_map(|o| outcome(s, "work", o))
                .sum();
            work == (GOOD + 3) as f64
        }
    })
    .await;

    let expected = [
        ("work", "ok", GOOD as f64),
        ("work", "error", 1.0),
        ("work", "panic", 1.0),
        ("work", "undecodable", 1.0),
        ("work", "dropped", 0.0),
        ("slow", "ok", 2.0),
        ("slow", "error", 0.0),
        ("slow", "dropped", 3.0),
        ("release", "ok", 1.0),
    ];
    for (handler, name, count) in expected {
        assert_eq!(
            outcome(&samples, handler, name),
            Some(count),
            "{handler}/{name}"
        );
    }
    let count = |handler| {
        value(
            &samples,
            "tars_handler_duration_seconds_count",
            &[("handler", handler)],
        )
    };
    assert_eq!(
        count("work"),
        Some((GOOD + 3) as f64),
        "every handled message is timed"
    );
    assert_eq!(count("slow"), Some(2.0));
    let inf_bucket = value(
        &samples,
        "tars_handler_duration_seconds_bucket",
        &[("handler", "work"), ("le", "+Inf")],
    );
    assert_eq!(inf_bucket, count("work"));
    for handler in ["work", "slow", "release"] {
        let depth = value(
            &samples,
            "tars_handler_queue_depth",
            &[("handler", handler)],
        );
        assert_eq!(depth, Some(0.0), "{handler}");
    }
    let started = value(
        &samples,
        "tars_published_messages_total",
        &[("event_type", "metrics.started")],
    );
    assert_eq!(started, Some(1.0), "one publish from a handler");
    assert_eq!(value(&samples, "tars_connected", &[]), Some(1.0));
    assert_eq!(value(&samples, "tars_reconnects_total", &[]), Some(0.0));
    assert_eq!(value(&samples, "tars_dedup_skipped_total", &[]), Some(0.0));
    assert_eq!(value(&samples, "tars_outbox_messages", &[]), Some(0.0));
    let version = tars_tests::mqtt_version();
    let info = [
        ("service", id.as_str()),
        ("version", env!("CARGO_PKG_VERSION")),
        ("client_id", id.as_str()),
        ("mqtt_version", version.as_str()),
    ];
    assert_eq!(value(&samples, "tars_info", &info), Some(1.0));

    // The docs and the Grafana dashboard name only metrics that exist.
    let exposition = http::get(addr, "/metrics").await.expect("/metrics").body;
    let families: Vec<&str> = exposition
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split(' ').next())
        .collect();
    let exists = |name: &str| {
        families.contains(&name)
            || ["_bucket", "_sum", "_count"].iter().any(|suffix| {
                name.strip_suffix(suffix)
                    .is_some_and(|f| families.contains(&f))
            })
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for doc in ["docs/grafana-dashboard.json", "docs/observability.md"] {
        let text = std::fs::read_to_string(root.join(doc)).expect(doc);
        let named = metric_names(&text);
        assert!(named.len() >= 9, "{doc} names {named:?}");
        for name in named {
            assert!(
                exists(&name),
                "{doc} names {name}, which /metrics does not serve"
            );
        }
    }
}

/// Every `tars_…` metric name in a text.
fn metric_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("tars_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        if name.len() > "tars_".len() {
            names.insert(name.trim_end_matches('_').to_owned());
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_follows_the_broker_and_readyz_the_lifecycle() {
    init_tracing();
    let mut broker = Mosquitto::start();
    let id = format!("probes-{}", &tars::new_id()[..8]);
    let (mut service, addr) = start(&broker, &id).await;
    let healthy = http::get(addr, "/healthz").await.expect("/healthz answers");
    assert_eq!(healthy.status, 200, "{healthy:?}");
    assert_eq!(healthy.content_type.as_deref(), Some("application/json"));
    let body: Value = serde_json::from_str(&healthy.body).unwrap();
    assert_eq!(
        body,
        json!({ "ok": true, "state": "ok", "broker": broker.url() })
    );

    broker.stop();
    let down = wait_for_status(addr, "/healthz", 503, Duration::from_secs(5)).await;
    let down = down.expect("/healthz answers while the broker is down");
    assert_eq!(
        down.status, 503,
        "within 5 s of the broker stopping: {down:?}"
    );
    let body: Value = serde_json::from_str(&down.body).unwrap();
    assert_eq!(body["state"], "disconnected", "{body}");
    let ready = http::get(addr, "/readyz").await.expect("/readyz answers");
    assert_eq!(
        ready.status, 200,
        "still started while reconnecting: {ready:?}"
    );

    broker.restart();
    let back = wait_for_status(addr, "/healthz", 200, WAIT).await;
    assert_eq!(
        back.map(|r| r.status),
        Some(200),
        "healthy again once reconnected"
    );
    let metrics = http::get(addr, "/metrics").await.expect("/metrics answers");
    let samples = parse(&metrics.body);
    assert_eq!(value(&samples, "tars_reconnects_total", &[]), Some(1.0));

    let missing = http::get(addr, "/nothing").await.expect("answers");
    assert_eq!(missing.status, 404);

    service.signal("TERM");
    service.exit_within(Duration::from_secs(10)).await;
    assert!(
        http::get(addr, "/readyz").await.is_none(),
        "the endpoint closes with the service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_or_busy_metrics_address_stops_the_service_with_a_clear_error() {
    init_tracing();
    let broker = Mosquitto::start();
    let url = broker.url();
    let mut bad = ServiceProcess::spawn(
        metrics_service(),
        &[
            ("MQTT_URL", &url),
            ("MQTT_CLIENT_ID", "bad-metrics"),
            ("TARS_METRICS_ADDR", "localhost:9464"),
        ],
    );
    assert_eq!(bad.exit_within(WAIT).await.code(), Some(2));
    assert!(
        bad.output()
            .contains("TARS_METRICS_ADDR=\"localhost:9464\" is invalid"),
        "{}",
        bad.output()
    );

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let mut busy = ServiceProcess::spawn(
        metrics_service(),
        &[
            ("MQTT_URL", &url),
            ("MQTT_CLIENT_ID", "busy-metrics"),
            ("TARS_METRICS_ADDR", &addr),
        ],
    );
    assert_eq!(busy.exit_within(WAIT).await.code(), Some(1));
    assert!(
        busy.output().contains(&format!(
            "the metrics endpoint cannot listen on {addr} (TARS_METRICS_ADDR)"
        )),
        "{}",
        busy.output()
    );
}

/// `/healthz` of a service that cannot reach its broker says why.
async fn healthz_error_for(url: &str) -> serde_json::Value {
    let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let service = ServiceProcess::spawn(
        metrics_service(),
        &[
            ("MQTT_URL", url),
            ("MQTT_CLIENT_ID", "unreachable"),
            ("MQTT_RECONNECT_MIN_DELAY", "0.2"),
            ("MQTT_RECONNECT_MAX_DELAY", "0.5"),
            ("TARS_METRICS_ADDR", &addr.to_string()),
        ],
    );
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(answer) = http::get(addr, "/healthz").await {
            let body: serde_json::Value = serde_json::from_str(&answer.body).unwrap();
            if body.get("error").is_some() {
                assert_eq!(answer.status, 503, "{body}");
                assert_eq!(body["state"], "disconnected", "{body}");
                return body;
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/healthz never gave a reason:\n{}",
            service.output()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_why_the_broker_is_unreachable() {
    init_tracing();
    let refused = healthz_error_for(&format!("mqtt://127.0.0.1:{}", free_port())).await;
    let error = refused["error"].as_str().unwrap();
    assert!(error.starts_with("connection refused"), "{refused}");
    let unresolved = healthz_error_for("mqtt://no-such-broker.invalid:1883").await;
    let error = unresolved["error"].as_str().unwrap();
    assert!(
        error.starts_with("the host name does not resolve"),
        "{unresolved}"
    );
}
