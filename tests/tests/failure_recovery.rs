//! Failure policies across process boundaries, against mosquitto: a service killed or
//! stopped during a retry backoff with a persistent session gets the message again
//! after its restart; a flood of failing messages keeps memory bounded and the
//! heartbeat on cadence.

use std::path::Path;
use std::time::Duration;

use tars::QoS;
use tars_tests::liveness::{assert_alive, flood_a_service};
use tars_tests::process::ServiceProcess;
use tars_tests::{init_tracing, Mosquitto, Probe};

use tars_tests::WAIT;

fn flaky_service() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_flaky-service"))
}

/// Starts the flaky service with a persistent session and a 30 s backoff, has it fail
/// `job-1` once, sends it `signal` during the backoff, then starts it again, working:
/// the restarted service must handle `job-1`, and no dead letter is published.
async fn interrupted_during_a_backoff_then_restarted(signal: &str) -> String {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("flaky-{}", &tars::new_id()[..8]);
    let url = broker.url();
    let vars = [
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", client_id.as_str()),
        ("MQTT_CLEAN_SESSION", "false"),
        ("TARS_RETRIES", "5"),
        ("TARS_BACKOFF", "30s"),
        ("TARS_DEAD_LETTER_TOPIC", "dead/flaky"),
        ("RUST_LOG", "info"),
    ];
    let mut probe = Probe::start(broker.port(), &["dead/#"]).await;
    let mut failing =
        ServiceProcess::spawn(flaky_service(), &[&vars[..], &[("FAIL", "1")]].concat());
    failing.wait_for_output("service ready", WAIT).await;
    let manifest_topic = tars::manifest::manifest_topic(&client_id);
    let mut manifests = Probe::start(broker.port(), &[&manifest_topic]).await;
    let manifest = manifests.expect_on(&manifest_topic, WAIT).await.json();
    assert_eq!(
        manifest["data"]["handlers"][0]["failure"],
        serde_json::json!({"retries": 5, "backoff_ms": 30_000, "max_backoff_ms": 30_000, "dead_letter": "dead/flaky"}),
        "the manifest announces the policy the TARS_* variables set"
    );
    probe.publish("flaky/jobs", QoS::AtLeastOnce, "job-1").await;
    failing.wait_for_line("attempt job-1", WAIT).await;
    failing.wait_for_output("will retry", WAIT).await;
    failing.signal(signal);
    let status = failing.exit_within(WAIT).await;
    let first_run = failing.output();
    if signal != "KILL" {
        assert!(status.success(), "exit {status}:\n{first_run}");
    }
    assert_eq!(
        first_run.lines().filter(|l| *l == "attempt job-1").count(),
        1,
        "stopped during the first backoff:\n{first_run}"
    );

    let mut working =
        ServiceProcess::spawn(flaky_service(), &[&vars[..], &[("FAIL", "0")]].concat());
    working.wait_for_line("handled job-1", WAIT).await;
    assert!(
        probe
            .next_within(Duration::from_millis(500))
            .await
            .is_none(),
        "a dead letter was published for a message the broker delivers again"
    );
    working.signal("TERM");
    assert!(working.exit_within(WAIT).await.success());
    first_run
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_during_a_backoff_gets_the_message_again_after_restart() {
    interrupted_during_a_backoff_then_restarted("KILL").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_graceful_stop_during_a_backoff_leaves_the_message_for_redelivery() {
    let first_run = interrupted_during_a_backoff_then_restarted("TERM").await;
    assert!(
        first_run.contains("left unacknowledged, the broker delivers it again"),
        "{first_run}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_failing_messages_keeps_memory_bounded_and_the_heartbeat_on_cadence() {
    init_tracing();
    let vars = [
        ("QUIET", "1"),
        ("FAIL", "1"),
        ("TARS_RETRIES", "3"),
        ("TARS_BACKOFF", "100ms"),
        ("TARS_DEAD_LETTER_TOPIC", "dead/flaky"),
        ("RUST_LOG", "error"),
    ];
    let observed = flood_a_service(
        flaky_service(),
        "flaky/jobs",
        50_000,
        &vars,
        &["dead/flaky"],
    )
    .await;
    // A reader paused by the flood would stall the dead letters at the in-flight window
    // (100): their PUBACKs would sit unread behind the flood.
    eprintln!("{} dead letters during the flood", observed.watched);
    assert!(
        observed.watched > 3 * 100,
        "only {} dead letters: they stalled, or the flood never exercised the policy\n{}",
        observed.watched,
        observed
            .output
            .lines()
            .take(20)
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert_alive(&observed);
}
