//! Liveness under load: a `#[tars::service]` whose handler is far slower than a flood
//! of QoS 0 messages fills its queue and its overflow, so it stops reading from the
//! broker; its heartbeat, PINGREQ and acknowledgements keep going out all the same. No
//! last will, no reconnect, a heartbeat every interval, memory bounded.

use std::time::{Duration, Instant};

use tars_tests::process::ServiceProcess;
use tars_tests::{flood, init_tracing, rss_kib, Mosquitto, Probe};

const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the service is watched once the flood starts.
const OBSERVE: Duration = Duration::from_secs(15);
/// Growth of the service's resident set allowed under the flood: its queue and its
/// overflow hold 1,024 messages each, a few hundred KiB.
const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;

struct Observed {
    heartbeats: Vec<Instant>,
    health_events: Vec<String>,
    rss_growth_kib: u64,
    output: String,
}

/// Runs the busy service with `vars`, floods `busy/work` with `messages` QoS 0
/// messages, and watches it for [`OBSERVE`].
async fn flood_a_busy_service(messages: u64, vars: &[(&str, &str)]) -> Observed {
    let broker = Mosquitto::start();
    let client_id = format!("busy-{}", &tars::new_id()[..8]);
    let health = tars::health::health_topic(&client_id);
    let keepalive = tars::health::keepalive_topic(&client_id);
    let mut probe = Probe::start(broker.port(), &[&health, &keepalive]).await;
    let url = broker.url();
    let mut env = vec![
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", client_id.as_str()),
        ("MQTT_HEARTBEAT_INTERVAL", "1"),
        ("RUST_LOG", "info"),
    ];
    env.extend_from_slice(vars);
    let service = ServiceProcess::spawn(
        std::path::Path::new(env!("CARGO_BIN_EXE_busy-service")),
        &env,
    );
    let ready = probe.expect_on(&health, Duration::from_secs(15)).await;
    assert_eq!(
        ready.json()["data"]["event"],
        "ready",
        "{}",
        service.output()
    );
    let pid = service.pid().expect("the service runs");
    let rss_before = rss_kib(pid);

    let port = broker.port();
    let publisher = tokio::spawn(async move { flood(port, "busy/work", b"{}", messages).await });
    let mut observed = Observed {
        heartbeats: Vec::new(),
        health_events: Vec::new(),
        rss_growth_kib: 0,
        output: String::new(),
    };
    let deadline = Instant::now() + OBSERVE;
    while Instant::now() < deadline {
        if let Some(seen) = probe.next_within(Duration::from_millis(200)).await {
            if seen.topic == keepalive {
                observed.heartbeats.push(Instant::now());
            } else if seen.topic == health {
                let event = seen.json()["data"]["event"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned();
                observed.health_events.push(event);
            }
        }
        observed.rss_growth_kib = observed
            .rss_growth_kib
            .max(rss_kib(pid).saturating_sub(rss_before));
    }
    assert_eq!(
        publisher.await.unwrap(),
        messages,
        "the whole flood was sent"
    );
    observed.output = service.output();
    observed
}

fn assert_alive(observed: &Observed) {
    let output = &observed.output;
    assert!(
        output.contains("overflow full: pausing reads"),
        "the flood never filled the overflow, so this proves nothing:\n{output}"
    );
    assert!(
        observed.health_events.is_empty(),
        "health changed under load (a last will, a reconnect): {:?}\n{output}",
        observed.health_events
    );
    for symptom in [
        "connection lost",
        "reconnected",
        "forced a reconnect",
        "not sent within",
    ] {
        assert!(
            !output.contains(symptom),
            "{symptom:?} under load:\n{output}"
        );
    }
    let beats = &observed.heartbeats;
    assert!(
        beats.len() as u32 >= (OBSERVE.as_secs() as u32) * 3 / 4,
        "{} heartbeats in {OBSERVE:?}:\n{output}",
        beats.len()
    );
    let worst = beats
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .unwrap_or_default();
    assert!(
        worst <= HEARTBEAT * 5 / 2,
        "the heartbeat stalled for {worst:?} under load"
    );
    assert!(
        observed.rss_growth_kib < RSS_GROWTH_BOUND_KIB,
        "the service's resident memory grew by {} KiB",
        observed.rss_growth_kib
    );
    tracing::info!(
        heartbeats = beats.len(),
        ?worst,
        rss_growth_kib = observed.rss_growth_kib,
        "alive under load"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_service_keeps_its_heartbeat_under_a_flood() {
    init_tracing();
    let observed = flood_a_busy_service(200_000, &[]).await;
    assert_alive(&observed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_service_with_a_2s_keepalive_is_not_dropped_by_the_broker() {
    init_tracing();
    let observed = flood_a_busy_service(50_000, &[("MQTT_KEEPALIVE", "2")]).await;
    assert_alive(&observed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_busier_than_twice_the_keepalive_with_a_full_queue_stays_connected() {
    init_tracing();
    let observed =
        flood_a_busy_service(50_000, &[("MQTT_KEEPALIVE", "2"), ("BUSY_MS", "6000")]).await;
    assert!(
        observed.output.contains("started"),
        "the 6 s handler (over twice the 2 s keepalive) ran:\n{}",
        observed.output
    );
    assert_alive(&observed);
}
