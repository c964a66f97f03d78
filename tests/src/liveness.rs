//! Watching a service process under a flood: its heartbeats, its health, and how much
//! its resident memory grows. Shared by the liveness and failure-policy suites.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::process::ServiceProcess;
use crate::{flood, rss_kib, Mosquitto, Probe};

pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// How long the service is watched once the flood starts.
pub const OBSERVE: Duration = Duration::from_secs(15);
/// Growth of the service's resident set allowed under the flood: its queue holds 1,024
/// messages and its overflow the intake bound (4 MiB by default).
pub const RSS_GROWTH_BOUND_KIB: u64 = 32 * 1024;

/// What was seen of a service under a flood.
pub struct Observed {
    /// When each heartbeat arrived.
    pub heartbeats: Vec<Instant>,
    /// Health events published during the flood (none, when all is well).
    pub health_events: Vec<String>,
    /// The largest growth of its resident set seen, in KiB.
    pub rss_growth_kib: u64,
    /// Messages seen on the extra filters watched.
    pub watched: u64,
    /// Everything it printed.
    pub output: String,
}

/// Runs `binary` beside a fresh mosquitto with `vars` and a heartbeat every second,
/// floods `topic` with `messages` QoS 0 messages, and watches it for [`OBSERVE`],
/// counting what arrives on the `watch` filters too.
pub async fn flood_a_service(
    binary: &Path,
    topic: &'static str,
    messages: u64,
    vars: &[(&str, &str)],
    watch: &[&str],
) -> Observed {
    let broker = Mosquitto::start();
    let client_id = format!("busy-{}", &tars::new_id()[..8]);
    let health = tars::health::health_topic(&client_id);
    let keepalive = tars::health::keepalive_topic(&client_id);
    let mut filters = vec![health.as_str(), keepalive.as_str()];
    filters.extend_from_slice(watch);
    let mut probe = Probe::start(broker.port(), &filters).await;
    let url = broker.url();
    let mut env = vec![
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", client_id.as_str()),
        ("MQTT_HEARTBEAT_INTERVAL", "1"),
        ("RUST_LOG", "info"),
    ];
    env.extend_from_slice(vars);
    let service = ServiceProcess::spawn(binary, &env);
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
    let publisher = tokio::spawn(async move { flood(port, topic, b"{}", messages).await });
    let mut observed = Observed {
        heartbeats: Vec::new(),
        health_events: Vec::new(),
        rss_growth_kib: 0,
        watched: 0,
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
            } else {
                observed.watched += 1;
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

/// Asserts that the service stayed alive: no health change, no reconnect, a heartbeat
/// on cadence, memory bounded.
pub fn assert_alive(observed: &Observed) {
    let output = &observed.output;
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
