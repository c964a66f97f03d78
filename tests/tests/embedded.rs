//! The embedded broker keeps MQTT's semantics, and `tars::testing` tests handlers
//! against it with nothing installed.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use rumqttc::{AsyncClient, LastWill, MqttOptions, QoS};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tars::broker::EmbeddedBroker;
use tars::prelude::*;
use tars::testing::{TestBroker, TestClient, TestService};
use tars_tests::{eventually, init_tracing, test_broker, Probe};

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "kit/question", qos = 1)]
struct Question {
    text: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "kit/answer", qos = 1)]
struct Answer {
    text: String,
}

#[tars::handler]
async fn answer(question: Question) -> Answer {
    Answer {
        text: format!("{}? yes", question.text),
    }
}

#[tars::handler(topic = "kit/rooms/{room}/light")]
async fn light(room: String, ctx: Context) -> tars::Result<()> {
    ctx.publish_event(
        "kit/lit",
        "kit.lit",
        &json!({ "room": room }),
        PublishOptions::new(),
    )
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_answers_through_the_test_kit_with_the_request_id() {
    init_tracing();
    let broker = test_broker().await;
    let service = TestService::start(&broker).await;
    let bus = TestClient::connect(&broker).await;

    assert_eq!(
        bus.health(service.client_id()).await.event.as_deref(),
        Some("ready")
    );
    let id = bus.publish(&Question { text: "tea".into() }).await;
    let reply = bus.next_event::<Answer>().await;
    assert_eq!(reply.data.text, "tea? yes");
    assert_eq!(reply.id, id);
    assert_eq!(reply.source, service.client_id());

    bus.publish_raw("kit/rooms/hall/light", "{}").await;
    let lit = bus.next_envelope::<serde_json::Value>("kit/lit").await;
    assert_eq!(lit.data, json!({"room": "hall"}));

    // The metrics say what happened, as the service's /metrics would.
    bus.publish_raw("kit/question", "not an envelope").await;
    eventually(
        Duration::from_secs(5),
        "the undecodable message counted",
        || service.metrics().handler_messages("answer", "undecodable") == 1,
    )
    .await;
    let metrics = service.metrics();
    assert_eq!(metrics.handler_messages("answer", "ok"), 1);
    assert_eq!(metrics.handler_messages("light", "ok"), 1);
    assert_eq!(metrics.published("kit.answer"), 1);
    assert_eq!(metrics.published("kit.lit"), 1);
    let timed = metrics.value(
        "tars_handler_duration_seconds_count",
        &[("handler", "answer")],
    );
    assert_eq!(timed, Some(2.0), "test services record durations");
    assert_eq!(metrics.value("tars_connected", &[]), Some(1.0));

    let client_id = service.client_id().to_owned();
    service.shutdown().await;
    let status = bus.wait_health(&client_id, "shutdown").await;
    assert!(!status.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_service_can_run_chosen_handlers_only() {
    init_tracing();
    let broker = test_broker().await;
    let _service = TestService::with_handlers(&broker, &["light"]).await;
    let bus = TestClient::connect(&broker)
        .await
        .with_timeout(Duration::from_secs(2));
    bus.publish(&Question {
        text: "anyone".into(),
    })
    .await;
    bus.expect_nothing("kit/answer", Duration::from_millis(300))
        .await;
    bus.publish_raw("kit/rooms/attic/light", "{}").await;
    assert_eq!(
        bus.next_envelope::<serde_json::Value>("kit/lit").await.data["room"],
        "attic"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_skipped_by_handlers_under_test() {
    init_tracing();
    let broker = test_broker().await;
    let _service = TestService::with_handlers(&broker, &["answer"]).await;
    let bus = TestClient::connect(&broker).await;
    bus.publish_raw("kit/question", "not json").await;
    bus.publish_envelope("kit/question", "kit.question", &json!({"txt": "wrong"}))
        .await;
    bus.publish(&Question {
        text: "still there".into(),
    })
    .await;
    assert_eq!(
        bus.next_event::<Answer>().await.data.text,
        "still there? yes"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_keeps_retained_messages_and_matches_wildcards() {
    init_tracing();
    let broker = EmbeddedBroker::start().await.unwrap();
    let publisher = Probe::start(broker.port(), &[]).await;
    publisher
        .client
        .publish("state/kitchen", "on", retained(QoS::AtLeastOnce))
        .await
        .unwrap();
    publisher
        .client
        .publish("state/hall", "off", retained(QoS::AtLeastOnce))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut late = Probe::start(broker.port(), &["state/+"]).await;
    let mut retained: Vec<(String, bool)> = Vec::new();
    for _ in 0..2 {
        let seen = late
            .next_within(Duration::from_secs(5))
            .await
            .expect("retained state");
        retained.push((seen.topic, seen.retain));
    }
    retained.sort();
    assert_eq!(
        retained,
        [
            ("state/hall".to_owned(), true),
            ("state/kitchen".to_owned(), true)
        ]
    );

    let mut deep = Probe::start(broker.port(), &["a/#"]).await;
    for topic in ["a", "a/b/c", "ab/c"] {
        publisher.publish(topic, QoS::AtLeastOnce, "x").await;
    }
    let mut topics: Vec<String> = deep
        .collect_for(Duration::from_millis(500))
        .await
        .into_iter()
        .map(|s| s.topic)
        .collect();
    topics.sort();
    assert_eq!(topics, ["a", "a/b/c"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_fires_the_last_will_of_a_vanished_client() {
    init_tracing();
    let broker = EmbeddedBroker::start().await.unwrap();
    let mut watcher = Probe::start(broker.port(), &["wills/#"]).await;
    let mut options = MqttOptions::new("doomed", ("127.0.0.1", broker.port()));
    options.set_last_will(LastWill::new(
        "wills/doomed",
        "gone",
        QoS::AtLeastOnce,
        false,
    ));
    let (_client, mut event_loop) = AsyncClient::builder(options).capacity(10).build();
    let connection = tokio::spawn(async move {
        loop {
            if event_loop.poll().await.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    connection.abort(); // the socket closes without DISCONNECT
    let will = watcher
        .expect_on("wills/doomed", Duration::from_secs(10))
        .await;
    assert_eq!(will.payload, b"gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_resubscribes_after_the_embedded_broker_restarts() {
    init_tracing();
    let broker = test_broker().await;
    let service = TestService::with_handlers(&broker, &["answer"]).await;
    assert!(broker.broker().is_running());

    broker.broker().restart().await.unwrap();
    eventually(Duration::from_secs(5), "the service to reconnect", || {
        service.client().stats().connections == 2
    })
    .await;
    let bus = TestClient::connect(&broker).await;
    bus.publish(&Question {
        text: "back".into(),
    })
    .await;
    assert_eq!(bus.next_event::<Answer>().await.data.text, "back? yes");
    assert!(bus.wait_health(service.client_id(), "reconnected").await.ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_embedded_broker_closes_connections_and_frees_the_port() {
    init_tracing();
    let broker = EmbeddedBroker::start().await.unwrap();
    let config = tars::Config::builder(broker.url(), "stopper")
        .mqtt_version(tars_tests::mqtt_version())
        .build()
        .unwrap();
    let client = tars::Client::connect(config).await.unwrap();
    broker.stop().await;
    assert!(!broker.is_running());
    eventually(
        Duration::from_secs(5),
        "the client to see the broker go",
        || !client.is_connected(),
    )
    .await;
    let rebound = std::net::TcpListener::bind(("127.0.0.1", broker.port()));
    assert!(rebound.is_ok(), "the port is free after stop");
    drop(rebound);
    client.disconnect().await.unwrap();
}

/// A test broker whose services and clients speak MQTT 5.
async fn v5_broker() -> TestBroker {
    TestBroker::start()
        .await
        .with_mqtt_version(tars::MqttVersion::V5)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_speaks_mqtt_5() {
    init_tracing();
    let broker = v5_broker().await;
    let service = TestService::with_handlers(&broker, &["answer"]).await;
    let bus = TestClient::connect(&broker).await;
    bus.client()
        .publish_event(
            "kit/question",
            "kit.question",
            &json!({"text": "five"}),
            PublishOptions::new()
                .qos(QoS::AtLeastOnce)
                .user_property("via", "rumqttd"),
        )
        .await
        .unwrap();
    let answer = bus.next_event::<Answer>().await;
    assert_eq!(answer.data.text, "five? yes");
    let message = bus.next_message("kit/question").await;
    assert_eq!(message.user_property("via"), Some("rumqttd"));
    assert_eq!(message.content_type(), Some(tars::ENVELOPE_CONTENT_TYPE));
    // Retained health reaches a late reader.
    assert!(bus.health(service.client_id()).await.ok);
    service.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_refuses_a_second_mqtt_version_with_a_clear_answer() {
    init_tracing();
    let broker = v5_broker().await;
    let bus = TestClient::connect(&broker).await;
    // A 3.1.1 CONNECT (client id "old") gets CONNACK "unacceptable protocol version".
    let mut old = tokio::net::TcpStream::connect(("127.0.0.1", broker.broker().port()))
        .await
        .unwrap();
    let connect = [
        0x10, 15, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 3, b'o', b'l', b'd',
    ];
    old.write_all(&connect).await.unwrap();
    let mut connack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(5), old.read_exact(&mut connack))
        .await
        .expect("an answer, not a hang")
        .unwrap();
    assert_eq!(connack, [0x20, 0x02, 0x00, 0x01]);
    // The broker still serves its MQTT 5 clients.
    bus.publish_raw("kit/after", "still here").await;
    assert_eq!(bus.next_message("kit/after").await.payload(), b"still here");
}

fn retained(qos: QoS) -> rumqttc::PublishOptions {
    rumqttc::PublishOptions::new(qos).retained()
}
