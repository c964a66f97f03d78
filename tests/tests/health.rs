//! Health, last will and heartbeat against a real mosquitto.

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tars::{Client, Message, QoS};
use tars_tests::{config, init_tracing, Mosquitto, Probe};
use tokio::io::{AsyncBufReadExt, BufReader};

use tars_tests::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_ready_while_up_and_shutdown_after_a_graceful_stop() {
    init_tracing();
    let broker = Mosquitto::start();
    let config = config(broker.port(), "health")
        .enable_health(true)
        .build()
        .unwrap();
    let topic = format!("system/health/{}", config.client_id());
    let client = Client::connect(config).await.unwrap();

    let mut late = Probe::start(broker.port(), &[&topic]).await;
    let ready = late.expect_on(&topic, WAIT).await;
    assert!(ready.retain, "health is retained");
    let data = ready.health();
    assert_eq!(
        (data["ok"].as_bool(), data["event"].as_str()),
        (Some(true), Some("ready"))
    );
    assert_eq!(data["message_id"].as_str().unwrap().len(), 32);
    assert!(data.get("err").is_none(), "absent err is omitted: {data}");

    client.shutdown().await.unwrap();
    let shutdown = late.expect_on(&topic, WAIT).await.health();
    assert_eq!(
        (shutdown["ok"].as_bool(), shutdown["event"].as_str()),
        (Some(false), Some("shutdown"))
    );

    // What stays retained is `shutdown`, and no last will followed the clean DISCONNECT.
    let mut after = Probe::start(broker.port(), &[&topic]).await;
    let retained = after.expect_on(&topic, WAIT).await.health();
    assert_eq!(retained["event"], "shutdown");
    assert!(
        late.collect_for(Duration::from_millis(500))
            .await
            .is_empty(),
        "no last will"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_in_flight_handlers_finish_first() {
    init_tracing();
    let broker = Mosquitto::start();
    let config = config(broker.port(), "drain")
        .enable_health(true)
        .build()
        .unwrap();
    let topic = format!("system/health/{}", config.client_id());
    let client = Client::connect(config).await.unwrap();
    let started = Arc::new(AtomicBool::new(false));
    let finished = Arc::new(AtomicBool::new(false));
    let (s, f) = (started.clone(), finished.clone());
    client
        .subscribe("slow/job", QoS::AtLeastOnce, move |_m: Message| {
            let (s, f) = (s.clone(), f.clone());
            async move {
                s.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(400)).await;
                f.store(true, Ordering::SeqCst);
            }
        })
        .await
        .unwrap();
    let mut probe = Probe::start(broker.port(), &[&topic]).await;
    probe.expect_on(&topic, WAIT).await; // retained ready
    probe.publish("slow/job", QoS::AtLeastOnce, "{}").await;
    tars_tests::eventually(WAIT, "the handler to start", || {
        started.load(Ordering::SeqCst)
    })
    .await;

    client.shutdown().await.unwrap();
    assert!(
        finished.load(Ordering::SeqCst),
        "shutdown returned before the handler finished"
    );
    let data = probe.expect_on(&topic, WAIT).await.health();
    assert_eq!(data["event"], "shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_will_says_lost_when_the_process_is_killed() {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("doomed-{}", &tars::new_id()[..8]);
    let topic = format!("system/health/{client_id}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_hold-connection"))
        .env("MQTT_URL", broker.url())
        .env("MQTT_CLIENT_ID", &client_id)
        .env("MQTT_ENABLE_HEALTH", "true")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn hold-connection");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(line.as_deref(), Some("connected"));

    let mut probe = Probe::start(broker.port(), &[&topic]).await;
    assert_eq!(
        probe.expect_on(&topic, WAIT).await.health()["event"],
        "ready"
    );
    child.start_kill().unwrap(); // SIGKILL: no chance to say goodbye
    child.wait().await.unwrap();

    let lost = probe.expect_on(&topic, WAIT).await;
    let data = lost.health();
    assert_eq!(
        (data["ok"].as_bool(), data["event"].as_str()),
        (Some(false), Some("lost"))
    );
    let mut after = Probe::start(broker.port(), &[&topic]).await;
    let retained = after.expect_on(&topic, WAIT).await;
    assert!(retained.retain);
    assert_eq!(retained.health()["event"], "lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_its_interval() {
    init_tracing();
    let broker = Mosquitto::start();
    let config = config(broker.port(), "beat")
        .enable_heartbeat(true)
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    let topic = format!("system/keepalive/{}", config.client_id());
    let mut probe = Probe::start(broker.port(), &[&topic]).await;
    let client = Client::connect(config).await.unwrap();

    let beats = probe.collect_for(Duration::from_millis(3500)).await;
    assert!(
        (3..=5).contains(&beats.len()),
        "{} heartbeats in 3.5 s",
        beats.len()
    );
    let stamps: Vec<f64> = beats
        .iter()
        .map(|seen| {
            let beat = seen.json();
            assert_eq!(
                beat.as_object().unwrap().len(),
                3,
                "plain heartbeat, not an envelope: {beat}"
            );
            assert_eq!(
                (beat["ok"].as_bool(), beat["event"].as_str()),
                (Some(true), Some("heartbeat"))
            );
            assert!(!seen.retain);
            beat["timestamp"].as_f64().unwrap()
        })
        .collect();
    for gap in stamps.windows(2).map(|w| w[1] - w[0]) {
        assert!((0.8..1.3).contains(&gap), "heartbeats {gap:.3} s apart");
    }
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_client_publishes_no_health_and_no_heartbeat() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["system/#"]).await;
    let client = Client::connect(config(broker.port(), "quiet").build().unwrap())
        .await
        .unwrap();
    client
        .publish_health(true, Some("ready"), None)
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    assert!(probe
        .collect_for(Duration::from_millis(500))
        .await
        .is_empty());
}
