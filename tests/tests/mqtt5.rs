//! MQTT 5 beside 3.1.1, on mosquitto: a v5 tars service answers a paho v5 requester on
//! its response topic with its correlation data, still answers 3.1.1 peers as before,
//! and message properties travel both ways.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tars::{Client, Event, Message, MqttVersion, PublishOptions, QoS};
use tars_tests::process::ServiceProcess;
use tars_tests::python::INSTALL_HINT;
use tars_tests::{config, forward_to, init_tracing, python_style_envelope, Mosquitto, Probe};
use tokio::sync::mpsc;

use tars_tests::WAIT;

/// A handler that hands every message to `tx`.
/// A tars client speaking MQTT 5 to the broker on `port`.
async fn v5_client(port: u16, name: &str) -> Client {
    Client::connect(
        config(port, name)
            .mqtt_version(MqttVersion::V5)
            .build()
            .unwrap(),
    )
    .await
    .unwrap()
}

fn answering_service() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_answering-service"))
}

async fn start_v5_service(broker: &Mosquitto) -> ServiceProcess {
    let url = broker.url();
    let client_id = format!("answering-{}", &tars::new_id()[..8]);
    let vars = [
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", client_id.as_str()),
        ("MQTT_VERSION", "5"),
        ("RUST_LOG", "info"),
    ];
    let service = ServiceProcess::spawn(answering_service(), &vars);
    service.wait_for_output("service ready", WAIT).await;
    service
}

/// Runs `tests/python/v5_requester.py` against the broker; its `ANSWER` line as JSON.
async fn ask_with_paho_v5(port: u16, topic: &str) -> Value {
    ask_with("v5_requester.py", port, topic).await
}

/// Runs the requester `script` of `tests/python/`; its `ANSWER` line as JSON.
async fn ask_with(name: &str, port: u16, topic: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(name);
    let output = tokio::process::Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &port.to_string(), topic, "10"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("could not run python3 ({e}); {INSTALL_HINT}"));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let answer = stdout
        .lines()
        .find_map(|line| line.strip_prefix("ANSWER "))
        .unwrap_or_else(|| panic!("the {name} requester got no answer: {stdout}; {INSTALL_HINT}"));
    serde_json::from_str(answer).expect("the ANSWER line is JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paho_v5_requester_gets_its_answer_on_its_response_topic_with_its_correlation_data() {
    init_tracing();
    let broker = Mosquitto::start();
    let _service = start_v5_service(&broker).await;
    let mut probe = Probe::start(broker.port(), &["v5/seen", "v5/answer"]).await;

    let answer = ask_with_paho_v5(broker.port(), "v5/question").await;

    let topic = answer["topic"].as_str().unwrap();
    assert!(topic.starts_with("py5/replies/"), "answered on {topic}");
    assert_eq!(
        answer["correlation"], answer["expected_correlation"],
        "the answer carries the request's correlation data: {answer}"
    );
    assert_eq!(answer["content_type"], "application/json", "{answer}");
    // The answer continues the requester's trace: its trace id, a new span id.
    let traceparent = answer["user_properties"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p[0] == "traceparent")
        .map(|p| p[1].as_str().unwrap().to_owned())
        .unwrap_or_else(|| panic!("the answer carries a traceparent: {answer}"));
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts[0], "00");
    assert_eq!(parts[1], "4bf92f3577b34da6a3ce929d0e0e4736", "the trace id");
    assert_eq!(parts[2].len(), 16);
    assert_ne!(parts[2], "00f067aa0ba902b7", "a new span id");
    let envelope = &answer["payload"];
    assert_eq!(
        envelope["id"], answer["request_id"],
        "the envelope id is the request's"
    );
    assert_eq!(envelope["data"]["text"], "ping!");
    assert_eq!(
        envelope.as_object().unwrap().len(),
        5,
        "the envelope has exactly the Python fields: {envelope}"
    );

    let seen = probe.expect_on("v5/seen", WAIT).await.json();
    let data = &seen["data"];
    assert_eq!(data["response_topic"], topic);
    assert_eq!(data["content_type"], "application/json");
    assert!(
        data["user_properties"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p[0] == "traceparent"),
        "the handler sees the user properties: {data}"
    );
    let expiry = data["expiry_secs"].as_u64().expect("an expiry");
    assert!((1..=30).contains(&expiry), "what is left of 30 s: {expiry}");

    // The answer went to the response topic only, not to the event's own topic.
    let elsewhere = probe.collect_for(Duration::from_millis(300)).await;
    assert!(
        elsewhere.iter().all(|m| m.topic != "v5/answer"),
        "also answered on v5/answer"
    );
}

/// The answering service's question and answer, as a requester declares them.
#[derive(tars::Event, serde::Serialize, serde::Deserialize)]
#[event(topic = "v5/question", event_type = "question", qos = 1)]
struct Question {
    text: String,
}

#[derive(tars::Event, serde::Serialize, serde::Deserialize)]
#[event(topic = "v5/answer", qos = 1)]
struct Answer {
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_request_is_answered_on_the_clients_private_response_topic() {
    init_tracing();
    let broker = Mosquitto::start();
    let _service = start_v5_service(&broker).await;
    let mut probe = Probe::start(broker.port(), &["v5/answer", "tars/replies/#"]).await;
    let client = v5_client(broker.port(), "v5-requester").await;
    let answer: Answer = client
        .request(&Question {
            text: "marco".into(),
        })
        .await
        .unwrap();
    assert_eq!(answer.text, "marco!");
    let seen = probe.collect_for(Duration::from_millis(300)).await;
    let private = format!("tars/replies/{}", client.config().client_id());
    assert!(
        seen.iter().any(|m| m.topic == private),
        "answered on {private}: {:?}",
        seen.iter().map(|m| &m.topic).collect::<Vec<_>>()
    );
    assert!(seen.iter().all(|m| m.topic != "v5/answer"));
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_request_is_answered_by_a_3_1_1_peer_on_the_reply_topic() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut peer = Probe::start(broker.port(), &["v5/question"]).await;
    let client = v5_client(broker.port(), "v5-requester").await;
    let asking = tokio::spawn({
        let client = client.clone();
        async move {
            client
                .request::<Question, Answer>(&Question {
                    text: "polo".into(),
                })
                .await
        }
    });
    // The 3.1.1 peer answers as the Python services do: on the reply's topic, with
    // the request's id.
    let question = peer.expect_on("v5/question", WAIT).await.json();
    let id = question["id"].as_str().unwrap().to_owned();
    let reply = python_style_envelope(Answer::EVENT_TYPE, json!({"text": "polo?"}), Some(&id));
    peer.publish("v5/answer", QoS::AtLeastOnce, reply).await;
    let answer = asking.await.unwrap().unwrap();
    assert_eq!(answer.text, "polo?");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_faststream_request_gets_its_answer() {
    init_tracing();
    let broker = Mosquitto::start();
    let _service = start_v5_service(&broker).await;
    // FastStream's `broker.request()` names its own response topic and correlation data
    // and waits for the answer there.
    let answer = ask_with("faststream_requester.py", broker.port(), "v5/question").await;
    let envelope = &answer["payload"];
    assert_eq!(envelope["id"], answer["request_id"]);
    assert_eq!(envelope["data"]["text"], "fast!");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_v5_service_answers_a_3_1_1_peer_as_before() {
    init_tracing();
    let broker = Mosquitto::start();
    let _service = start_v5_service(&broker).await;
    // The probe speaks 3.1.1, as the Python services do.
    let mut probe = Probe::start(broker.port(), &["v5/answer"]).await;
    let request_id = tars::new_id();
    let request = python_style_envelope("question", json!({"text": "hello"}), Some(&request_id));
    probe
        .publish("v5/question", QoS::AtLeastOnce, request)
        .await;
    let answer = probe.expect_on("v5/answer", WAIT).await.json();
    assert_eq!(answer["id"], request_id);
    assert_eq!(answer["data"]["text"], "hello!");
    assert_eq!(answer.as_object().unwrap().len(), 5, "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_properties_and_expiry_travel_between_v5_clients() {
    init_tracing();
    let broker = Mosquitto::start();
    let (tx, mut received) = mpsc::unbounded_channel::<Message>();
    let subscriber = Client::builder(
        config(broker.port(), "v5-sub")
            .mqtt_version(MqttVersion::V5)
            .build()
            .unwrap(),
    )
    .subscribe_handler("v5/props", QoS::AtLeastOnce, forward_to(tx))
    .connect()
    .await
    .unwrap();
    let publisher = v5_client(broker.port(), "v5-pub").await;
    publisher
        .publish_event(
            "v5/props",
            "props",
            &json!({"n": 1}),
            PublishOptions::new()
                .qos(QoS::AtLeastOnce)
                .user_property("room", "kitchen")
                .user_property("room", "hall")
                .message_expiry(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let message = tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("delivered")
        .unwrap();
    assert_eq!(
        message.user_properties()[..2],
        [
            ("room".to_owned(), "kitchen".to_owned()),
            ("room".to_owned(), "hall".to_owned())
        ]
    );
    // Published outside a handler: a new trace.
    let traceparent = message.user_property("traceparent").expect("a traceparent");
    assert_eq!(traceparent.len(), 55, "{traceparent}");
    assert_eq!(message.user_property("room"), Some("kitchen"));
    assert_eq!(message.content_type(), Some(tars::ENVELOPE_CONTENT_TYPE));
    let expiry = message.message_expiry().expect("an expiry");
    assert!(expiry <= Duration::from_secs(60) && expiry >= Duration::from_secs(50));
    assert_eq!(message.response_topic(), None);
    publisher.shutdown().await.unwrap();
    subscriber.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_3_1_1_messages_have_no_properties() {
    init_tracing();
    let broker = Mosquitto::start();
    let (tx, mut received) = mpsc::unbounded_channel::<Message>();
    let client = Client::builder(config(broker.port(), "v3-sub").build().unwrap())
        .subscribe_handler("v3/props", QoS::AtLeastOnce, forward_to(tx))
        .connect()
        .await
        .unwrap();
    client
        .publish_event(
            "v3/props",
            "props",
            &json!({}),
            PublishOptions::new()
                .qos(QoS::AtLeastOnce)
                .user_property("dropped", "under 3.1.1"),
        )
        .await
        .unwrap();
    let message = tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("delivered")
        .unwrap();
    assert!(message.properties().is_none());
    assert!(message.user_properties().is_empty());
    client.shutdown().await.unwrap();
}

/// A command that is useless once stale.
#[derive(tars::Event, serde::Serialize, serde::Deserialize)]
#[event(topic = "v5/later/say", qos = 1, expiry = "1s")]
struct Say {
    text: String,
}

/// A command that keeps.
#[derive(tars::Event, serde::Serialize, serde::Deserialize)]
#[event(topic = "v5/later/log", qos = 1)]
struct Log {
    text: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_with_an_expiry_is_not_delivered_late() {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("v5-away-{}", &tars::new_id()[..8]);
    let away_config = || {
        tars::Config::builder(broker.url(), client_id.clone())
            .mqtt_version(MqttVersion::V5)
            .clean_session(false)
            .session_expiry(Duration::from_secs(60))
            .build()
            .unwrap()
    };
    let (tx, mut received) = mpsc::unbounded_channel::<Message>();
    // Subscribe with a persistent session, then go away.
    let away = Client::builder(away_config())
        .subscribe_handler("v5/later/#", QoS::AtLeastOnce, forward_to(tx.clone()))
        .connect()
        .await
        .unwrap();
    away.shutdown().await.unwrap();

    let publisher = v5_client(broker.port(), "v5-commander").await;
    publisher
        .publish(&Say { text: "now".into() })
        .await
        .unwrap();
    publisher
        .publish(&Log {
            text: "kept".into(),
        })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;

    // Back after the command went stale: the broker kept only what does not expire.
    let back = Client::builder(away_config())
        .subscribe_handler("v5/later/#", QoS::AtLeastOnce, forward_to(tx))
        .connect()
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("the lasting command is delivered")
        .unwrap();
    assert_eq!(first.topic(), "v5/later/log");
    let more = tokio::time::timeout(Duration::from_millis(500), received.recv()).await;
    assert!(
        more.is_err(),
        "the stale command was delivered late: {:?}",
        more.ok().flatten().map(|m| m.topic().to_owned())
    );
    back.shutdown().await.unwrap();
    publisher.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_brokers_limits_are_honoured() {
    init_tracing();
    // mosquitto grants MQTT 5 clients a receive maximum of max_inflight_messages and
    // announces its max_packet_size in the CONNACK.
    let broker = Mosquitto::start_with(
        "allow_anonymous true\nmax_packet_size 2000\nmax_inflight_messages 3\n",
    );
    let (tx, mut received) = mpsc::unbounded_channel::<Message>();
    let subscriber = Client::builder(config(broker.port(), "v5-limits-sub").build().unwrap())
        .subscribe_handler("v5/limits", QoS::AtLeastOnce, forward_to(tx))
        .connect()
        .await
        .unwrap();
    let publisher = v5_client(broker.port(), "v5-limits").await;
    // Over the broker's maximum: refused here with the broker's limit, the connection
    // stays (the broker would otherwise drop it).
    let error = publisher
        .publish_bytes("v5/limits", QoS::AtLeastOnce, false, vec![b'x'; 5_000])
        .await
        .expect_err("over the broker's max_packet_size");
    assert!(
        matches!(error, tars::Error::PacketTooLarge { max, .. } if max < 2000),
        "{error}"
    );
    // A burst of QoS 1 within a receive maximum of 3 (a data window of 1: the rest is
    // room for control publishes): all delivered, in order. mosquitto itself does not
    // refuse a client over its receive maximum, so the window's size is checked by the
    // unit tests of `in_flight_window` and the outbox.
    for n in 0..50u32 {
        publisher
            .publish_bytes(
                "v5/limits",
                QoS::AtLeastOnce,
                false,
                n.to_string().into_bytes(),
            )
            .await
            .unwrap();
    }
    for n in 0..50u32 {
        let message = tokio::time::timeout(WAIT, received.recv())
            .await
            .expect("delivered")
            .unwrap();
        assert_eq!(message.payload(), n.to_string().as_bytes());
    }
    assert_eq!(
        publisher.stats().connections,
        1,
        "the broker never dropped us"
    );
    publisher.shutdown().await.unwrap();
    subscriber.shutdown().await.unwrap();
}

/// How many QoS 1 messages a client with handler queues of 5 and a stuck handler has
/// received, a second after 50 were published to its persistent session.
async fn received_while_stuck(version: MqttVersion) -> u64 {
    let broker = Mosquitto::start();
    let client_id = format!("recv-max-{}", &tars::new_id()[..8]);
    let config = tars::Config::builder(broker.url(), client_id)
        .mqtt_version(version)
        .clean_session(false)
        .handler_queue_capacity(5)
        .build()
        .unwrap();
    let client = Client::connect(config).await.unwrap();
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let wait = gate.clone();
    client
        .subscribe("recv/max", QoS::AtLeastOnce, move |_m: Message| {
            let wait = wait.clone();
            async move {
                let _ = wait.acquire().await.map(|p| p.forget());
            }
        })
        .await
        .unwrap();
    let probe = Probe::start(broker.port(), &[]).await;
    for n in 0..50 {
        probe
            .publish("recv/max", QoS::AtLeastOnce, format!("{n}"))
            .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let received = client.stats().received;
    gate.add_permits(100);
    client.shutdown().await.unwrap();
    received
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_announces_a_receive_maximum_of_one_queue_and_the_broker_keeps_to_it() {
    init_tracing();
    // MQTT 5: the broker sends at most 5 unacknowledged messages (the queue's capacity).
    assert_eq!(received_while_stuck(MqttVersion::V5).await, 5);
    // 3.1.1 has no receive maximum: mosquitto sends up to its own in-flight limit (20).
    assert_eq!(received_while_stuck(MqttVersion::V3_1_1).await, 20);
}

/// A v5 client whose handler of `filter`, with these subscription options, forwards
/// what it gets.
async fn subscribed_with(
    broker: &Mosquitto,
    name: &str,
    filter: &str,
    subscribe: tars::SubscribeOptions,
) -> (Client, mpsc::UnboundedReceiver<Message>) {
    let client = v5_client(broker.port(), name).await;
    let (tx, rx) = mpsc::unbounded_channel();
    let options = tars::HandlerOptions {
        subscribe,
        ..tars::HandlerOptions::default()
    };
    client
        .subscribe_handler_with(filter, QoS::AtLeastOnce, options, forward_to(tx))
        .await
        .unwrap();
    (client, rx)
}

/// The payloads that arrive within `window`.
async fn arriving(
    rx: &mut mpsc::UnboundedReceiver<Message>,
    window: Duration,
) -> Vec<(String, bool)> {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + window;
    while let Ok(Some(message)) = tokio::time::timeout_at(deadline, rx.recv()).await {
        got.push((
            String::from_utf8_lossy(message.payload()).into_owned(),
            message.retain(),
        ));
    }
    got
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_local_keeps_a_client_from_hearing_its_own_publishes() {
    init_tracing();
    let broker = Mosquitto::start();
    let probe = Probe::start(broker.port(), &[]).await;
    for (no_local, expected) in [(true, vec!["theirs"]), (false, vec!["mine", "theirs"])] {
        let subscribe = tars::SubscribeOptions {
            no_local,
            ..Default::default()
        };
        let (client, mut rx) =
            subscribed_with(&broker, "no-local", "movement/status", subscribe).await;
        client
            .publish_bytes("movement/status", QoS::AtLeastOnce, false, b"mine".to_vec())
            .await
            .unwrap();
        probe
            .publish("movement/status", QoS::AtLeastOnce, "theirs")
            .await;
        let got: Vec<String> = arriving(&mut rx, Duration::from_millis(500))
            .await
            .into_iter()
            .map(|(payload, _)| payload)
            .collect();
        assert_eq!(got, expected, "no_local = {no_local}");
        client.shutdown().await.unwrap();
    }
    // The runtime refuses it on a shared subscription, as MQTT 5 does.
    let client = v5_client(broker.port(), "no-local-shared").await;
    let options = tars::HandlerOptions {
        subscribe: tars::SubscribeOptions {
            no_local: true,
            ..Default::default()
        },
        ..tars::HandlerOptions::default()
    };
    let (tx, _rx) = mpsc::unbounded_channel();
    let error = client
        .subscribe_handler_with(
            "$share/g/movement/status",
            QoS::AtLeastOnce,
            options,
            forward_to(tx),
        )
        .await
        .unwrap_err();
    assert!(error.to_string().contains("No Local"), "{error}");
    client.shutdown().await.unwrap();
}

/// Publishes `name` as the retained current character, as a third party would.
async fn retain_character(probe: &Probe, name: &'static str) {
    probe
        .client
        .publish(
            "system/character/current",
            name,
            rumqttc::PublishOptions::at_least_once().retained(),
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retain_handling_and_retain_as_published_shape_what_a_subscription_gets() {
    init_tracing();
    let broker = Mosquitto::start();
    let probe = Probe::start(broker.port(), &[]).await;
    retain_character(&probe, "tars").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cases = [
        // (retain handling, retain as published, what arrives: payload and retain flag)
        (
            tars::RetainHandling::OnSubscribe,
            false,
            vec![("tars", true), ("case", false)],
        ),
        (tars::RetainHandling::Never, false, vec![("case", false)]),
        (tars::RetainHandling::Never, true, vec![("case", true)]),
    ];
    for (retain_handling, retain_as_published, expected) in cases {
        let subscribe = tars::SubscribeOptions {
            retain_handling,
            retain_as_published,
            ..Default::default()
        };
        let (client, mut rx) =
            subscribed_with(&broker, "retained", "system/character/current", subscribe).await;
        retain_character(&probe, "case").await;
        let got = arriving(&mut rx, Duration::from_millis(500)).await;
        let expected: Vec<(String, bool)> = expected
            .into_iter()
            .map(|(p, r)| (p.to_owned(), r))
            .collect();
        assert_eq!(
            got, expected,
            "{retain_handling:?}, retain_as_published = {retain_as_published}"
        );
        // Put the first retained message back for the next case.
        retain_character(&probe, "tars").await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        client.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_by_topic_alias_reach_subscribers_on_their_topics() {
    init_tracing();
    // mosquitto takes 10 aliases from a client: 15 topics make it reuse them.
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["alias/#"]).await;
    let config = config(broker.port(), "aliasing")
        .mqtt_version(MqttVersion::V5)
        .topic_aliases(true)
        .build()
        .unwrap();
    let client = Client::connect(config).await.unwrap();
    let mut sent = Vec::new();
    for round in 0..3 {
        for topic in 0..15 {
            let topic = format!("alias/room{topic}");
            let payload = format!("{round}");
            client
                .publish_bytes(&topic, QoS::AtLeastOnce, false, payload.clone())
                .await
                .unwrap();
            sent.push((topic, payload));
        }
    }
    let mut got = Vec::new();
    while got.len() < sent.len() {
        let seen = probe
            .next_within(WAIT)
            .await
            .expect("every publish arrives");
        got.push((seen.topic, String::from_utf8(seen.payload).unwrap()));
    }
    assert_eq!(got, sent, "each on its own topic, in order");
    client.shutdown().await.unwrap();
}

/// The Server Reference property (0x1C, a UTF-8 string) naming `reference`.
fn server_reference(reference: &str) -> Vec<u8> {
    let mut property = vec![0x1C];
    property.extend((reference.len() as u16).to_be_bytes());
    property.extend(reference.as_bytes());
    property
}

/// A v5 client of `client_id` pointed at the listener on `port`, announcing its
/// manifest on every connection, and a probe on mosquitto of `moved/#` and that
/// manifest's topic.
async fn announced_client(broker: &Mosquitto, port: u16, name: &str) -> (Client, Probe, String) {
    let client_id = format!("{name}-{}", &tars::new_id()[..8]);
    let manifest_topic = tars::manifest::manifest_topic(&client_id);
    let probe = Probe::start(broker.port(), &["moved/#", &manifest_topic]).await;
    let config = tars::Config::builder(format!("mqtt://127.0.0.1:{port}"), &client_id)
        .mqtt_version(MqttVersion::V5)
        .build()
        .unwrap();
    let manifest = tars::manifest::ServiceManifest::from_registry(&client_id, "1");
    let client = tokio::time::timeout(WAIT, Client::builder(config).announce(manifest).connect())
        .await
        .expect("connected")
        .unwrap();
    (client, probe, manifest_topic)
}

/// Waits for the manifest announced on mosquitto and checks that it names mosquitto.
async fn expect_announced_on_mosquitto(
    probe: &mut Probe,
    manifest_topic: &str,
    broker: &Mosquitto,
) {
    let announced = probe.expect_on(manifest_topic, WAIT).await.json();
    assert_eq!(
        announced["data"]["broker"],
        format!("mqtt://127.0.0.1:{}", broker.port()),
        "{announced}"
    );
}

/// A listener that answers every CONNECT with an MQTT 5 CONNACK "use another server"
/// (0x9C) whose Server Reference is `reference`, then closes.
async fn redirecting_listener(reference: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reference = reference.clone();
            tokio::spawn(async move {
                let mut connect = [0u8; 1024];
                let _ = socket.read(&mut connect).await;
                let properties = server_reference(&reference);
                let mut connack = vec![0x20, (3 + properties.len()) as u8, 0x00, 0x9C];
                connack.push(properties.len() as u8);
                connack.extend(properties);
                let _ = socket.write_all(&connack).await;
            });
        }
    });
    port
}

/// A listener that accepts the first CONNECT, and a moment later sends an MQTT 5
/// DISCONNECT "server moved" (0x9D) whose Server Reference is `reference`.
async fn moving_listener(reference: String) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let reference = reference.clone();
            tokio::spawn(async move {
                let mut connect = [0u8; 1024];
                let _ = socket.read(&mut connect).await;
                // CONNACK: no session, success, no properties.
                let _ = socket.write_all(&[0x20, 0x03, 0x00, 0x00, 0x00]).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let properties = server_reference(&reference);
                let mut disconnect = vec![0xE0, (2 + properties.len()) as u8, 0x9D];
                disconnect.push(properties.len() as u8);
                disconnect.extend(properties);
                let _ = socket.write_all(&disconnect).await;
                // Whatever the client sends is read and dropped until it goes.
                let mut rest = [0u8; 1024];
                while socket.read(&mut rest).await.unwrap_or(0) > 0 {}
            });
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_in_a_disconnect_moves_the_client_to_the_server_it_names() {
    init_tracing();
    let broker = Mosquitto::start();
    let mover = moving_listener(format!("127.0.0.1:{}", broker.port())).await;
    let (client, mut probe, manifest_topic) = announced_client(&broker, mover, "moving").await;
    // Sent while still on the listener, which never acknowledges it: it is sent again
    // on the server the DISCONNECT names.
    client
        .publish_bytes("moved/there", QoS::AtLeastOnce, false, b"hello".to_vec())
        .await
        .unwrap();
    probe.expect_on("moved/there", WAIT).await;
    // Announced again on the server it moved to, naming it.
    expect_announced_on_mosquitto(&mut probe, &manifest_topic, &broker).await;
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redirect_in_the_connack_is_followed_to_the_server_it_names() {
    init_tracing();
    let broker = Mosquitto::start();
    let redirector = redirecting_listener(format!("127.0.0.1:{}", broker.port())).await;
    let (client, mut probe, manifest_topic) =
        announced_client(&broker, redirector, "redirected").await;
    // The manifest, announced on connecting, names the server the client is on.
    expect_announced_on_mosquitto(&mut probe, &manifest_topic, &broker).await;
    client
        .publish_bytes("moved/here", QoS::AtLeastOnce, false, b"hello".to_vec())
        .await
        .unwrap();
    probe.expect_on("moved/here", WAIT).await;
    client.shutdown().await.unwrap();
}

type FilterLog = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// Subscribes `filter` on `client` with a handler that logs the filter per message.
async fn log_filter(client: &Client, filter: &'static str, log: &FilterLog) {
    let log = log.clone();
    client
        .subscribe(filter, QoS::AtLeastOnce, move |_: Message| {
            let log = log.clone();
            async move { log.lock().unwrap().push(filter.to_owned()) }
        })
        .await
        .unwrap();
}

/// The filters logged, sorted, once `count` are in and nothing more came for 300 ms.
async fn logged(log: &FilterLog, count: usize) -> Vec<String> {
    tars_tests::eventually(WAIT, "the deliveries", || {
        log.lock().unwrap().len() >= count
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut filters = log.lock().unwrap().clone();
    filters.sort();
    filters
}

const OVERLAPPING: [&str; 5] = ["a/b", "a/+", "a/#", "+/b", "$share/g/a/b"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_subscription_of_a_message_reaches_its_own_handlers_by_identifier() {
    init_tracing();
    // mosquitto sends an MQTT 5 client one copy per matching subscription, each with
    // that subscription's identifier. Matched by topic, each copy would reach all five
    // handlers (25 calls); routed by identifier, each handler is called once.
    let broker = Mosquitto::start();
    let client = v5_client(broker.port(), "identified").await;
    let log = FilterLog::default();
    for filter in OVERLAPPING {
        log_filter(&client, filter, &log).await;
    }
    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("a/b", QoS::AtLeastOnce, "{}").await;
    let mut expected: Vec<String> = OVERLAPPING.iter().map(|f| f.to_string()).collect();
    expected.sort();
    assert_eq!(logged(&log, 5).await, expected, "each handler once");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_kept_for_a_persistent_session_keep_their_routes_across_a_restart() {
    init_tracing();
    // The messages the broker keeps for an absent session carry the identifiers of the
    // subscriptions of the first run: the restarted client gives each filter the same one.
    let broker = Mosquitto::start();
    let client_id = format!("kept-{}", &tars::new_id()[..8]);
    let persistent = || {
        tars::Config::builder(format!("mqtt://127.0.0.1:{}", broker.port()), &client_id)
            .mqtt_version(MqttVersion::V5)
            .clean_session(false)
            .build()
            .unwrap()
    };
    let filters = ["a/b", "a/+", "a/#"];
    let first = Client::connect(persistent()).await.unwrap();
    let log = FilterLog::default();
    for filter in filters {
        log_filter(&first, filter, &log).await;
    }
    first.shutdown().await.unwrap();

    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("a/b", QoS::AtLeastOnce, "{}").await;
    let log = FilterLog::default();
    let again = Client::builder(persistent());
    let again = filters.iter().fold(again, |builder, &filter| {
        let log = log.clone();
        builder.subscribe(filter, QoS::AtLeastOnce, move |_: Message| {
            let log = log.clone();
            async move { log.lock().unwrap().push(filter.to_owned()) }
        })
    });
    let again = again.connect().await.unwrap();
    assert_eq!(
        logged(&log, 3).await,
        ["a/#", "a/+", "a/b"],
        "each handler once"
    );
    again.shutdown().await.unwrap();
}

/// A broker that takes no subscription identifiers (its CONNACK says so): it records
/// the properties of the SUBSCRIBE it gets, grants it and sends one message on `topic`.
async fn broker_without_identifiers(
    topic: &'static str,
) -> (u16, mpsc::UnboundedReceiver<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut read = Vec::new();
        let mut buffer = [0u8; 4096];
        // CONNACK: accepted, properties: Subscription Identifier Available (0x29) = 0.
        let _ = socket.read(&mut buffer).await;
        socket
            .write_all(&[0x20, 0x05, 0x00, 0x00, 0x02, 0x29, 0x00])
            .await
            .unwrap();
        loop {
            let n = socket.read(&mut buffer).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            read.extend_from_slice(&buffer[..n]);
            // A SUBSCRIBE whose remaining length is under 128 bytes: type 0x82, length,
            // packet id, property length (one byte), properties.
            let Some(at) = read.iter().position(|&b| b == 0x82) else {
                continue;
            };
            if read.len() < at + 5 || read.len() < at + 2 + read[at + 1] as usize {
                continue;
            }
            let pkid = [read[at + 2], read[at + 3]];
            let properties_len = read[at + 4] as usize;
            let _ = tx.send(read[at + 5..at + 5 + properties_len].to_vec());
            // SUBACK (granted QoS 1), then the message.
            socket
                .write_all(&[0x90, 0x04, pkid[0], pkid[1], 0x00, 0x01])
                .await
                .unwrap();
            let mut publish = vec![0x30, (2 + topic.len() + 1 + 2) as u8];
            publish.extend((topic.len() as u16).to_be_bytes());
            publish.extend(topic.as_bytes());
            publish.push(0x00); // no properties
            publish.extend(b"{}");
            socket.write_all(&publish).await.unwrap();
            // Keep the connection open until the client goes.
            while socket.read(&mut buffer).await.unwrap_or(0) > 0 {}
            return;
        }
    });
    (port, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_without_subscription_identifiers_gets_none_and_messages_are_matched() {
    init_tracing();
    let (port, mut subscribe_properties) = broker_without_identifiers("rooms/kitchen").await;
    let config = tars::Config::builder(format!("mqtt://127.0.0.1:{port}"), "no-identifiers")
        .mqtt_version(MqttVersion::V5)
        .enable_heartbeat(false)
        .enable_health(false)
        .build()
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let client = Client::builder(config)
        .subscribe_handler("rooms/+", QoS::AtMostOnce, forward_to(tx))
        .connect()
        .await
        .unwrap();
    let properties = tokio::time::timeout(WAIT, subscribe_properties.recv())
        .await
        .expect("the SUBSCRIBE arrives")
        .unwrap();
    assert!(
        !properties.contains(&0x0B),
        "no Subscription Identifier property: {properties:02x?}"
    );
    let message = tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("the message is matched to its handler")
        .unwrap();
    assert_eq!(message.topic(), "rooms/kitchen");
    client.shutdown().await.unwrap();
}
