//! Failure policies in one process, on the embedded test broker: retries with backoff,
//! dead letters with the original message, panics, undecodable payloads, service-wide
//! defaults, and a shutdown during a backoff (clean session: dead-lettered at once).
//! `failure_recovery.rs` has the crash, persistent-session and flood cases.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tars::testing::{TestBroker, TestClient, TestService};
use tars::{Context, Envelope, Event, FailurePolicy, DEAD_LETTER_TYPE};
use tars_tests::{eventually, init_tracing, test_broker};

use tars_tests::WAIT;

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "calc/numbers", qos = 1)]
struct Number {
    n: i64,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "calc/squares", qos = 1)]
struct Square {
    n: i64,
    square: i64,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "calc/explode", qos = 1)]
struct Explode {
    n: i64,
}

/// When each input's attempts ran, by input (each test uses inputs of its own).
static ATTEMPTS: Mutex<BTreeMap<i64, Vec<Instant>>> = Mutex::new(BTreeMap::new());

/// Records an attempt at `n`; returns its number (1 for the first).
fn attempt(n: i64) -> usize {
    let mut all = ATTEMPTS.lock().unwrap();
    let times = all.entry(n).or_default();
    times.push(Instant::now());
    times.len()
}

fn attempts_at(n: i64) -> Vec<Instant> {
    ATTEMPTS
        .lock()
        .unwrap()
        .get(&n)
        .cloned()
        .unwrap_or_default()
}

/// Fails on negative input; inputs from 1000 up fail once, then succeed.
#[tars::handler(qos = 1, retries = 2, backoff = "50ms", dead_letter = "dead/calc")]
async fn square(ev: Number, ctx: Context) -> Result<(), String> {
    let attempt = attempt(ev.n);
    if ev.n < 0 {
        return Err(format!("cannot square negative input {}", ev.n));
    }
    if ev.n >= 1000 && attempt == 1 {
        return Err(format!("{} failed once", ev.n));
    }
    let square = ev.n * ev.n;
    ctx.publish(&Square { n: ev.n, square })
        .await
        .map_err(|e| e.to_string())
}

#[tars::handler(qos = 1, retries = 1, backoff = "10ms", dead_letter = "dead/calc")]
async fn explode(ev: Explode) {
    attempt(ev.n);
    panic!("exploded on {}", ev.n);
}

/// Declares no policy of its own: the service-wide one applies.
#[tars::handler(topic = "calc/plain", qos = 1)]
async fn plain(ev: Envelope<serde_json::Value>) -> Result<(), String> {
    attempt(ev.data["n"].as_i64().unwrap_or(0));
    Err("plain always fails".to_owned())
}

/// A backoff far longer than any test waits.
#[tars::handler(
    topic = "calc/slow",
    qos = 1,
    retries = 3,
    backoff = "10s",
    dead_letter = "dead/slow"
)]
async fn slow_retry(ev: Envelope<serde_json::Value>) -> Result<(), String> {
    attempt(ev.data["n"].as_i64().unwrap_or(0));
    Err("not yet".to_owned())
}

async fn start(handlers: &[&str]) -> (TestBroker, TestService, TestClient) {
    init_tracing();
    let broker = test_broker().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let service = TestService::with_handlers(&broker, handlers).await;
    (broker, service, bus)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_is_dead_lettered_once_after_its_retries() {
    let (_broker, service, bus) = start(&["square"]).await;
    let id = bus.publish(&Number { n: -5 }).await;

    let letter = bus.next_dead_letter("dead/calc").await;
    assert_eq!(letter.event_type, DEAD_LETTER_TYPE);
    assert_eq!(letter.source, service.client_id(), "the service signs it");
    assert_ne!(letter.id, id, "a dead letter has an id of its own");
    let data = &letter.data;
    assert_eq!(data.attempts, 3, "the first attempt and two retries");
    assert_eq!(data.topic, "calc/numbers");
    assert_eq!(data.handler, "square");
    assert_eq!(data.error, "cannot square negative input -5");
    let original: Envelope<Number> = data.envelope().expect("the original envelope");
    assert_eq!((original.id.as_str(), original.data.n), (id.as_str(), -5));
    assert!(data.payload_base64.is_none());
    assert!(data.first_failed_at <= data.last_failed_at);

    let times = attempts_at(-5);
    assert_eq!(times.len(), 3);
    for gap in times.windows(2).map(|w| w[1] - w[0]) {
        // 50 ms, then 50-100 ms with jitter; loosely, as the machine may be busy.
        assert!(
            gap >= Duration::from_millis(45) && gap < Duration::from_secs(3),
            "a backoff of {gap:?}"
        );
    }
    bus.expect_nothing("dead/#", Duration::from_millis(300))
        .await;
    bus.expect_nothing("calc/squares", Duration::ZERO).await;
    let metrics = service.metrics();
    assert_eq!(metrics.handler_messages("square", "dead_lettered"), 1);
    assert_eq!(metrics.handler_messages("square", "error"), 0);
    assert_eq!(metrics.handler_retries("square"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_fails_once_is_handled_once_on_its_retry() {
    let (_broker, service, bus) = start(&["square"]).await;
    bus.publish(&Number { n: 1001 }).await;
    let square = bus.next_event::<Square>().await;
    assert_eq!(square.data.square, 1001 * 1001);
    bus.expect_nothing("calc/squares", Duration::from_millis(400))
        .await;
    bus.expect_nothing("dead/#", Duration::ZERO).await;
    assert_eq!(attempts_at(1001).len(), 2);
    let metrics = service.metrics();
    assert_eq!(metrics.handler_messages("square", "ok"), 1);
    assert_eq!(metrics.handler_messages("square", "error"), 0);
    assert_eq!(metrics.handler_retries("square"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_does_not_hold_up_the_messages_behind_it() {
    let (_broker, _service, bus) = start(&["square"]).await;
    bus.publish(&Number { n: -7 }).await;
    bus.publish(&Number { n: 3 }).await;
    let square = bus.next_event::<Square>().await;
    assert_eq!(square.data.n, 3);
    assert!(
        bus.next_dead_letter("dead/calc").await.data.attempts == 3,
        "the failing one went on with its retries"
    );
    let (failing, passing) = (attempts_at(-7), attempts_at(3));
    assert!(
        passing[0] < failing[2],
        "3 was handled while -7 waited out its backoff"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_retried_then_dead_lettered() {
    let (_broker, service, bus) = start(&["explode"]).await;
    bus.publish(&Explode { n: 42 }).await;
    let letter = bus.next_dead_letter("dead/calc").await;
    assert_eq!(letter.data.attempts, 2);
    assert_eq!(letter.data.handler, "explode");
    assert!(
        letter.data.error.contains("exploded on 42"),
        "{}",
        letter.data.error
    );
    assert_eq!(attempts_at(42).len(), 2);
    let metrics = service.metrics();
    assert_eq!(metrics.handler_messages("explode", "dead_lettered"), 1);
    assert_eq!(metrics.handler_messages("explode", "panic"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undecodable_payload_goes_straight_to_the_dead_letter() {
    let (_broker, service, bus) = start(&["square"]).await;
    let binary = [0xff, 0x00, b'{'];
    bus.publish_raw("calc/numbers", binary).await;
    let letter = bus.next_dead_letter("dead/calc").await;
    assert_eq!(letter.data.attempts, 1, "never retried");
    assert!(letter.data.envelope.is_none());
    assert_eq!(letter.data.payload(), binary);
    assert!(letter.data.payload_base64.is_some());

    let wrong_shape =
        r#"{"id":"d00d","type":"calc.numbers","ts":1.0,"source":"py","data":{"n":"minus one"}}"#;
    bus.publish_raw("calc/numbers", wrong_shape).await;
    let letter = bus.next_dead_letter("dead/calc").await;
    assert_eq!(letter.data.attempts, 1);
    assert_eq!(
        letter.data.envelope.as_ref().map(|raw| raw.get()),
        Some(wrong_shape),
        "the envelope exactly as received"
    );
    assert!(letter.data.payload_base64.is_none());
    let metrics = service.metrics();
    assert_eq!(metrics.handler_messages("square", "dead_lettered"), 2);
    assert_eq!(metrics.handler_retries("square"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_wide_policy_fills_what_a_handler_leaves_out() {
    init_tracing();
    let broker = test_broker().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let defaults = FailurePolicy {
        retries: Some(1),
        backoff: Some(Duration::from_millis(10)),
        max_backoff: None,
        dead_letter: Some("dead/all".into()),
    };
    let config = broker.config("policy-service").failure_policy(defaults);
    let _service = TestService::start_with(config, |h| ["plain", "square"].contains(&h.name)).await;

    bus.publish_envelope("calc/plain", "calc.plain", &serde_json::json!({"n": 500}))
        .await;
    let letter = bus.next_dead_letter("dead/all").await;
    assert_eq!(letter.data.handler, "plain");
    assert_eq!(
        letter.data.attempts, 2,
        "TARS_RETRIES-style default: 1 retry"
    );

    bus.publish(&Number { n: -500 }).await;
    let letter = bus.next_dead_letter("dead/#").await;
    assert_eq!(letter.data.handler, "square");
    assert_eq!(
        letter.data.attempts, 3,
        "the handler's own retries = 2 win over the default"
    );
    bus.expect_nothing("dead/all", Duration::from_millis(200))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_session_shutdown_during_a_backoff_dead_letters_at_once() {
    let (_broker, service, bus) = start(&["slow_retry"]).await;
    bus.publish_envelope("calc/slow", "calc.slow", &serde_json::json!({"n": 77}))
        .await;
    eventually(WAIT, "the first attempt", || attempts_at(77).len() == 1).await;

    let began = Instant::now();
    service.shutdown().await;
    let took = began.elapsed();
    let letter = bus.next_dead_letter("dead/slow").await;
    assert!(
        letter.data.error.starts_with("shutdown"),
        "{}",
        letter.data.error
    );
    assert!(
        letter.data.error.contains("not yet"),
        "{}",
        letter.data.error
    );
    assert_eq!(letter.data.attempts, 1);
    assert!(
        took < Duration::from_secs(8),
        "shutdown waited out the 10 s backoff ({took:?})"
    );
    assert_eq!(attempts_at(77).len(), 1, "not tried again");
}

#[test]
fn the_manifest_and_asyncapi_list_each_policy_and_dead_letter_channel() {
    let defaults = FailurePolicy {
        retries: Some(1),
        dead_letter: Some("dead/all".into()),
        ..FailurePolicy::default()
    };
    let manifest = tars::manifest::ServiceManifest::from_registry_with("calc", "1.0", &defaults);
    let policy = |name: &str| {
        manifest
            .handlers
            .iter()
            .find(|h| h.name == name)
            .and_then(|h| h.failure.clone())
            .unwrap_or_else(|| panic!("{name} has no policy"))
    };
    let square = policy("square");
    assert_eq!(square.retries, 2);
    assert_eq!(square.backoff, Duration::from_millis(50));
    assert_eq!(square.max_backoff, tars::DEFAULT_MAX_BACKOFF);
    assert_eq!(square.dead_letter.as_deref(), Some("dead/calc"));
    let plain = policy("plain");
    assert_eq!(
        (plain.retries, plain.dead_letter.as_deref()),
        (1, Some("dead/all"))
    );
    assert_eq!(
        manifest.dead_letter_topics(),
        ["dead/all", "dead/calc", "dead/slow"]
    );
    let json = serde_json::to_value(&manifest).unwrap();
    let announced = json["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "square")
        .unwrap();
    assert_eq!(announced["failure"]["backoff_ms"], 50);

    let info = tars::asyncapi::ServiceInfo {
        name: "calc".into(),
        version: "1.0".into(),
        mqtt_version: tars::MqttVersion::V3_1_1,
        broker: None,
        failure_defaults: FailurePolicy::default(),
    };
    let document = tars::asyncapi::document(&info);
    let receive = &document["operations"]["receive_square"];
    assert_eq!(receive["x-tars-failure-policy"]["retries"], 2);
    assert_eq!(receive["x-tars-failure-policy"]["deadLetter"], "dead/calc");
    let send = &document["operations"]["dead_letter_square"];
    assert_eq!(send["action"], "send");
    assert_eq!(send["channel"]["$ref"], "#/channels/dead_calc");
    assert_eq!(document["channels"]["dead_calc"]["address"], "dead/calc");
    let message = &document["components"]["messages"]["tars_dead_letter"];
    assert_eq!(
        message["payload"]["properties"]["type"]["const"],
        DEAD_LETTER_TYPE
    );
    assert!(
        document["operations"]
            .get("receive_plain")
            .unwrap()
            .get("x-tars-failure-policy")
            .is_none(),
        "plain has no policy of its own and no service defaults here"
    );
}
