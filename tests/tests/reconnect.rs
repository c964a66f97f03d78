//! Losing the broker: starting while it is down, and restarting it under a running
//! client (same port), against a real mosquitto.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tars::{Client, Message, QoS};
use tars_tests::{config, init_tracing, Mosquitto, Probe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubscribes_after_broker_restart_and_reports_reconnected() {
    init_tracing();
    let mut broker = Mosquitto::start();
    let config = config(broker.port(), "phoenix")
        .enable_health(true)
        .build()
        .unwrap();
    let max_delay = config.reconnect_max_delay();
    let health_topic = format!("system/health/{}", config.client_id());
    let client = Client::connect(config).await.unwrap();
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = handled.clone();
    client
        .subscribe("commands/+", QoS::AtLeastOnce, move |_m: Message| {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();

    broker.restart();
    let restarted = Instant::now();
    let mut probe = Probe::start(broker.port(), &[&health_topic]).await;
    // Messages flow again within the max reconnect delay plus 2 s.
    let bound = max_delay + Duration::from_secs(2);
    while handled.load(Ordering::SeqCst) == 0 {
        assert!(
            restarted.elapsed() < bound,
            "no message handled {bound:?} after the restart"
        );
        probe.publish("commands/move", QoS::AtLeastOnce, "{}").await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let health = probe
        .expect_on(&health_topic, Duration::from_secs(5))
        .await
        .json();
    assert_eq!(health["data"]["event"], "reconnected");
    assert_eq!(health["data"]["ok"], true);
    assert!(client.is_connected());
    assert_eq!(client.stats().connections, 2);
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_while_the_broker_is_down_and_connects_once_it_is_up() {
    init_tracing();
    let port = tars_tests::free_port();
    let config = config(port, "early").build().unwrap();
    let connecting = tokio::spawn(Client::connect(config));
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !connecting.is_finished(),
        "connect returned while no broker was listening"
    );

    let broker = Mosquitto::start_on(port);
    let client = tokio::time::timeout(Duration::from_secs(5), connecting)
        .await
        .expect("connected within the max reconnect delay")
        .unwrap()
        .unwrap();
    assert!(client.is_connected());
    client.shutdown().await.unwrap();
    drop(broker);
}
