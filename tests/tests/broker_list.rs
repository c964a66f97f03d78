//! `MQTT_URL` listing several brokers, against two single mosquitto nodes: the first
//! that answers is used, a cut connection comes back to the broker that keeps its
//! session, a lost broker fails over to the next one within the backoff, and
//! subscriptions, health, the last will and the manifest follow to the new node.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tars::{Client, Config, QoS};
use tars_tests::process::{example_binary, ServiceProcess};
use tars_tests::proxy::FaultProxy;
use tars_tests::{eventually, free_port, init_tracing, mqtt_version, Mosquitto, Probe};

use tars_tests::WAIT;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_first_broker_that_answers_is_used() {
    init_tracing();
    let dead = free_port();
    let live = Mosquitto::start();
    let list = format!("mqtt://127.0.0.1:{dead},{}", live.url());
    let config = Config::builder(&list, format!("list-{}", &tars::new_id()[..8]))
        .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
        .mqtt_version(mqtt_version())
        .build()
        .unwrap();
    assert_eq!(config.brokers().len(), 2);
    let handled = Arc::new(AtomicUsize::new(0));
    let count = handled.clone();
    let client = tokio::time::timeout(
        WAIT,
        Client::builder(config)
            .subscribe("jobs/#", QoS::AtLeastOnce, move |_| {
                count.fetch_add(1, Ordering::SeqCst);
                async {}
            })
            .connect(),
    )
    .await
    .expect("connected through the list within 20 s")
    .expect("connected");
    let probe = Probe::start(live.port(), &[]).await;
    probe.publish("jobs/1", QoS::AtLeastOnce, "x").await;
    eventually(WAIT, "the job reaches the handler", || {
        handled.load(Ordering::SeqCst) == 1
    })
    .await;
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cut_connection_comes_back_to_the_same_broker_and_its_session() {
    init_tracing();
    let first = Mosquitto::start();
    let second = Mosquitto::start();
    let proxy = FaultProxy::start(first.port()).await;
    let list = format!("{},{}", proxy.url(), second.url());
    let config = Config::builder(&list, format!("cut-{}", &tars::new_id()[..8]))
        .clean_session(false)
        .reconnect_delays(Duration::from_secs(1), Duration::from_secs(2))
        .mqtt_version(mqtt_version())
        .build()
        .unwrap();
    let handled = Arc::new(AtomicUsize::new(0));
    let count = handled.clone();
    let client = Client::builder(config)
        .subscribe("jobs/#", QoS::AtLeastOnce, move |_| {
            count.fetch_add(1, Ordering::SeqCst);
            async {}
        })
        .connect()
        .await
        .expect("connected to the first broker");
    let on_first = Probe::start(first.port(), &[]).await;

    // The connection is cut on the way; the first broker stays up and keeps the session.
    // A job published there meanwhile waits in it.
    proxy.cut_all();
    eventually(WAIT, "the client sees the cut", || !client.is_connected()).await;
    on_first.publish("jobs/1", QoS::AtLeastOnce, "x").await;

    eventually(
        WAIT,
        "the job kept by the first broker's session is handled",
        || handled.load(Ordering::SeqCst) == 1,
    )
    .await;
    assert_eq!(
        proxy.accepted_connections(),
        2,
        "the client came back through the first broker"
    );
    client.disconnect().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_broker_fails_over_and_everything_follows_to_the_next() {
    init_tracing();
    let mut first = Mosquitto::start();
    let second = Mosquitto::start();
    let list = format!(
        "{},mqtt://bob:hunter2@127.0.0.1:{}",
        first.url(),
        second.port()
    );
    let second_shown = format!("mqtt://bob:***@127.0.0.1:{}", second.port());
    let mut on_first = Probe::start(first.port(), &["system/health/tars-pipeline"]).await;
    let mut on_second = Probe::start(
        second.port(),
        &[
            "system/health/tars-pipeline",
            "system/services/tars-pipeline",
            "llm/request",
        ],
    )
    .await;
    let service = ServiceProcess::spawn(
        &example_binary("pipeline"),
        &[
            ("MQTT_URL", list.as_str()),
            ("MQTT_KEEPALIVE", "2"),
            ("MQTT_RECONNECT_MIN_DELAY", "0.2"),
            ("MQTT_RECONNECT_MAX_DELAY", "1"),
        ],
    );
    let ready = on_first
        .expect_on("system/health/tars-pipeline", WAIT)
        .await;
    assert_eq!(
        ready.json()["data"]["event"],
        "ready",
        "started on the first broker"
    );

    first.stop();
    // Within the backoff (0.2–1 s) it is on the second broker: manifest naming the
    // node, health `reconnected`.
    let manifest = on_second
        .expect_on("system/services/tars-pipeline", Duration::from_secs(10))
        .await;
    assert_eq!(manifest.json()["data"]["broker"], second_shown.as_str());
    let health = on_second
        .expect_on("system/health/tars-pipeline", Duration::from_secs(10))
        .await;
    assert_eq!(health.json()["data"]["event"], "reconnected");

    // Subscriptions were restored there: a transcript gets its LLM request.
    let transcript = r#"{"id":"00000000000000000000000000000001","type":"stt.final","ts":1.0,"source":"test","data":{"text":"hello","confidence":0.9}}"#;
    on_second
        .publish("stt/final", QoS::AtLeastOnce, transcript)
        .await;
    let request = on_second
        .expect_on("llm/request", Duration::from_secs(10))
        .await;
    assert_eq!(request.json()["data"]["prompt"], "hello");

    // The last will was registered on the second broker too.
    service.signal("KILL");
    let will = on_second
        .expect_on("system/health/tars-pipeline", Duration::from_secs(10))
        .await;
    assert_eq!(will.json()["data"]["event"], "lost");

    let output = service.output();
    assert!(
        output.contains(&format!("broker={second_shown}"))
            && output.contains("reconnected to the broker"),
        "the log does not say which broker it is on:\n{output}"
    );
    assert!(
        !output.contains("hunter2"),
        "the password leaked into the log"
    );
}

#[test]
fn a_bad_entry_is_named_by_its_position_with_the_password_masked() {
    let error = Config::builder("mqtt://a:1883,mqtt://u:secret@:1883", "x")
        .build()
        .unwrap_err()
        .to_string();
    assert!(error.contains("entry 2 of 2"), "{error}");
    assert!(error.contains("MQTT_URL"), "{error}");
    assert!(!error.contains("secret"), "{error}");
}
