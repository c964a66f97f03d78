//! A tars client and a Python TARS peer (paho-mqtt + pydantic models with
//! `extra="forbid"`, as the Python stack validates) on the same mosquitto.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;
use tars::{Client, Context, Envelope, MqttVersion, PublishOptions, QoS};
use tars_tests::python::PythonPeer;
use tars_tests::{config, init_tracing, Mosquitto};
use tokio::sync::mpsc;

#[derive(Debug, Deserialize)]
struct Reply {
    answer: String,
}

#[derive(Debug, Deserialize)]
struct Greeting {
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_services_accept_everything_tars_publishes_and_answer_its_requests() {
    python_services_accept_everything_from(MqttVersion::V3_1_1).await;
}

/// A mixed fleet: the Python peer speaks 3.1.1, tars MQTT 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_services_accept_everything_a_v5_tars_client_publishes() {
    python_services_accept_everything_from(MqttVersion::V5).await;
}

async fn python_services_accept_everything_from(version: MqttVersion) {
    init_tracing();
    let broker = Mosquitto::start();
    let config = config(broker.port(), "interop")
        .mqtt_version(version)
        .enable_health(true)
        .enable_heartbeat(true)
        .heartbeat_interval(Duration::from_secs(1))
        .build()
        .unwrap();
    let peer = PythonPeer::start(broker.port(), config.client_id(), 30).await;

    let (replies_tx, mut replies) = mpsc::unbounded_channel();
    let client = Client::connect(config).await.unwrap();
    client
        .subscribe_envelope(
            "interop/reply",
            QoS::AtLeastOnce,
            move |env: Envelope<Reply>, _ctx: Context| {
                let tx = replies_tx.clone();
                async move {
                    let _ = tx.send(env);
                }
            },
        )
        .await
        .unwrap();
    let request_id = client
        .publish_event(
            "interop/request",
            "interop.request",
            &json!({"question": "ping"}),
            PublishOptions::new().qos(QoS::AtLeastOnce),
        )
        .await
        .unwrap();
    client
        .publish_event(
            "interop/event",
            "interop.event",
            &json!({"n": 1, "nested": {"a": [1, 2]}}),
            PublishOptions::new(),
        )
        .await
        .unwrap();

    let reply = tokio::time::timeout(Duration::from_secs(10), replies.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        reply.id, request_id,
        "the Python reply carries the request's id"
    );
    assert_eq!(reply.event_type, "interop.reply");
    assert_eq!(reply.source, "py-peer");
    assert_eq!(reply.data.answer, "ping!");

    tokio::time::sleep(Duration::from_millis(1500)).await; // at least one more heartbeat
    client.shutdown().await.unwrap();

    let summary = peer.summary().await;
    assert_eq!(
        summary["failures"],
        json!([]),
        "the Python models rejected: {summary}"
    );
    assert_eq!(summary["envelopes"], 2, "{summary}");
    assert_eq!(summary["replies"], 1, "{summary}");
    assert!(
        summary["heartbeats"].as_u64().unwrap() >= 1,
        "heartbeats validated: {summary}"
    );
    assert_eq!(summary["health"], json!(["ready", "shutdown"]), "{summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelopes_published_by_python_decode_into_typed_data() {
    init_tracing();
    let broker = Mosquitto::start();
    let (tx, mut greetings) = mpsc::unbounded_channel();
    let client = Client::builder(config(broker.port(), "from-py").build().unwrap())
        .subscribe_handler(
            "interop/from-python",
            QoS::AtLeastOnce,
            tars::handler_fn(move |message: tars::Message, _ctx: Context| {
                let tx = tx.clone();
                async move {
                    let env: Envelope<Greeting> = message.envelope()?;
                    let _ = tx.send(env);
                    Ok::<(), tars::DecodeError>(())
                }
            }),
        )
        .connect()
        .await
        .unwrap();
    // The peer publishes its greeting once subscribed, after our subscription is in place.
    let peer = PythonPeer::start(broker.port(), "nobody", 1).await;
    let greeting = tokio::time::timeout(Duration::from_secs(10), greetings.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(greeting.data.text, "hello from python");
    assert_eq!(greeting.event_type, "interop.greeting");
    assert_eq!(greeting.source, "py-peer");
    assert_eq!(greeting.id.len(), 32);
    assert!(greeting.ts > 0.0);
    client.shutdown().await.unwrap();
    drop(peer);
}
