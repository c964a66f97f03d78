//! Publishing against a real mosquitto: envelopes on the wire, correlation, typed
//! events, and the checks made before anything is sent.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tars::{Client, Error, Event, PublishOptions, QoS};
use tars_tests::{config, init_tracing, Mosquitto, Probe};

use tars_tests::events::SttFinal;
use tars_tests::WAIT;

#[derive(Debug, Serialize, Deserialize)]
struct RoomState {
    occupied: bool,
}

impl Event for RoomState {
    const TOPIC: &'static str = "rooms/kitchen/state";
    const EVENT_TYPE: &'static str = "rooms.state";
    const RETAIN: bool = true;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_envelopes_with_every_field_right() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["stt/final"]).await;
    let client = Client::connect(
        config(broker.port(), "pub")
            .source_name("tars-stt")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();

    let before = tars::now_ts();
    let data = json!({"text": "hello world", "confidence": 0.95});
    let options = PublishOptions::new().qos(QoS::AtLeastOnce);
    let id = client
        .publish_event("stt/final", "stt.final", &data, options)
        .await
        .unwrap();

    let seen = probe.expect_on("stt/final", WAIT).await;
    let envelope = seen.json();
    let object = envelope.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["data", "id", "source", "ts", "type"],
        "exactly the five fields"
    );
    assert_eq!(envelope["id"], id.as_str());
    assert_eq!(id.len(), 32);
    assert!(
        id.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
    assert_eq!(envelope["type"], "stt.final");
    assert_eq!(envelope["source"], "tars-stt");
    assert_eq!(envelope["data"], data);
    let ts = envelope["ts"].as_f64().expect("ts is a float");
    assert!(
        ts >= before - 0.001 && ts <= tars::now_ts(),
        "ts {ts} not between {before} and now"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_may_name_its_own_source_and_the_next_one_has_the_clients() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["tts/say"]).await;
    let client = Client::connect(config(broker.port(), "tars-router").build().unwrap())
        .await
        .unwrap();
    let data = json!({"text": "System online."});
    let options = PublishOptions::new().qos(QoS::AtLeastOnce).source("router");
    client
        .publish_event("tts/say", "tts.say", &data, options)
        .await
        .unwrap();
    client
        .publish_event(
            "tts/say",
            "tts.say",
            &data,
            PublishOptions::new().qos(QoS::AtLeastOnce),
        )
        .await
        .unwrap();
    assert_eq!(
        probe.expect_on("tts/say", WAIT).await.json()["source"],
        "router"
    );
    let own = client.config().source_name().to_owned();
    assert_ne!(own, "router");
    assert_eq!(
        probe.expect_on("tts/say", WAIT).await.json()["source"],
        own.as_str()
    );
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_correlation_id_becomes_the_envelope_id() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["llm/response"]).await;
    let client = Client::connect(config(broker.port(), "corr").build().unwrap())
        .await
        .unwrap();

    let request_id = tars::new_id();
    let options = PublishOptions::new().correlation_id(request_id.clone());
    let returned = client
        .publish_event(
            "llm/response",
            "llm.response",
            &json!({"reply": "hi"}),
            options,
        )
        .await
        .unwrap();

    assert_eq!(returned, request_id);
    let envelope = probe.expect_on("llm/response", WAIT).await.json();
    assert_eq!(envelope["id"], request_id.as_str());
    assert!(
        envelope.get("correlate").is_none(),
        "no correlate field on the wire"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_events_go_to_their_topic_with_their_qos_and_retain_flag() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["stt/final"]).await;
    let client = Client::connect(config(broker.port(), "typed").build().unwrap())
        .await
        .unwrap();

    let event = SttFinal {
        text: "hi".into(),
        confidence: 0.5,
    };
    client.publish(&event).await.unwrap();
    client.publish(&RoomState { occupied: true }).await.unwrap();

    let envelope = probe.expect_on("stt/final", WAIT).await.json();
    assert_eq!(envelope["type"], "stt.final");
    assert_eq!(
        serde_json::from_value::<SttFinal>(envelope["data"].clone()).unwrap(),
        event
    );
    // A probe arriving later still gets the retained state.
    let mut late = Probe::start(broker.port(), &["rooms/+/state"]).await;
    let retained = late.expect_on("rooms/kitchen/state", WAIT).await;
    assert!(retained.retain);
    assert_eq!(retained.json()["data"], json!({"occupied": true}));
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_publishes_fail_before_anything_is_sent() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["#"]).await;
    let client = Client::connect(
        config(broker.port(), "bad")
            .max_packet_size(2048)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();

    let big = json!({"blob": "x".repeat(4096)});
    let err = client
        .publish_event("big/one", "big.one", &big, PublishOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::PacketTooLarge { max: 2048, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("MQTT_MAX_PACKET_SIZE"), "{err}");
    let err = client
        .publish_event("a/+/b", "x", &json!({}), PublishOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidTopic { .. }), "{err}");
    let err = client
        .publish_event("a/b", "x", &json!([1, 2]), PublishOptions::new())
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::DataNotObject { found: "an array" }),
        "{err}"
    );

    // The connection survived, and none of the above reached the broker.
    client
        .publish_event("ok/one", "ok.one", &json!({"n": 1}), PublishOptions::new())
        .await
        .unwrap();
    let seen = probe.expect_on("ok/one", WAIT).await;
    assert_eq!(seen.json()["data"]["n"], 1);
    assert!(client.is_connected());
    let others = probe.collect_for(Duration::from_millis(200)).await;
    assert!(
        others
            .iter()
            .all(|s| s.topic != "big/one" && s.topic != "a/b"),
        "{others:?}"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_after_shutdown_is_an_error() {
    init_tracing();
    let broker = Mosquitto::start();
    let client = Client::connect(config(broker.port(), "closed").build().unwrap())
        .await
        .unwrap();
    client.shutdown().await.unwrap();
    let err = client
        .publish_event("a/b", "a.b", &json!({}), PublishOptions::new())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Closed), "{err}");
    assert!(!client.is_connected());
    // A second shutdown returns at once.
    tokio::time::timeout(Duration::from_secs(1), client.shutdown())
        .await
        .unwrap()
        .unwrap();
}
