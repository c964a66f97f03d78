//! Liveness under load: a `#[tars::service]` whose handler is far slower than a flood
//! of QoS 0 messages fills its queue and its intake bound, so it stops reading from the
//! broker; its heartbeat, PINGREQ and acknowledgements keep going out all the same. No
//! last will, no reconnect, a heartbeat every interval, memory bounded.

use std::path::Path;

use tars_tests::init_tracing;
use tars_tests::liveness::{assert_alive, flood_a_service, Observed};

/// Floods the busy service's `busy/work` with `messages` QoS 0 messages.
async fn flood_a_busy_service(messages: u64, vars: &[(&str, &str)]) -> Observed {
    let binary = Path::new(env!("CARGO_BIN_EXE_busy-service"));
    let observed = flood_a_service(binary, "busy/work", messages, vars, &[]).await;
    assert!(
        observed.output.contains("reading from the broker paused"),
        "the flood never filled the intake bound, so this proves nothing:\n{}",
        observed.output
    );
    observed
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
