//! Ordered groups: handlers of one group share one queue, so messages across their
//! topics are handled in arrival order, as the Python client handles them.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tars::{Client, Event, Message, QoS, State};
use tars_tests::{config, init_tracing, Mosquitto, Probe, WAIT};

#[derive(Default)]
struct Voice(Mutex<String>);

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "group/said", qos = 1)]
struct Said {
    text: String,
    voice: String,
}

#[tars::handler(topic = "group/voice", qos = 1, group = "voice")]
async fn change_voice(msg: Message, voice: State<Voice>) {
    // Slower than saying: without the group, the says would overtake it.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    *voice.0.lock().unwrap() = String::from_utf8_lossy(msg.payload()).into_owned();
}

#[tars::handler(topic = "group/say", qos = 1, group = "voice")]
async fn say_in_voice(msg: Message, voice: State<Voice>) -> Said {
    Said {
        text: String::from_utf8_lossy(msg.payload()).into_owned(),
        voice: voice.0.lock().unwrap().clone(),
    }
}

/// Sends six voice/say pairs through mosquitto (which keeps one client's messages in
/// arrival order across topics; the embedded broker delivers per topic) and returns
/// the voice of each say, in order.
async fn voices_of_six_says() -> (Vec<(String, String)>, tars::testing::MetricsSnapshot) {
    let broker = Mosquitto::start();
    let config = config(broker.port(), "grouped")
        .metrics(true)
        .build()
        .unwrap();
    let service = Client::builder(config)
        .with_handlers(|h| ["change_voice", "say_in_voice"].contains(&h.name))
        .state(Voice::default())
        .connect()
        .await
        .unwrap();
    let mut probe = Probe::start(broker.port(), &["group/said"]).await;
    for n in 1..=6 {
        probe
            .publish("group/voice", QoS::AtLeastOnce, format!("v{n}"))
            .await;
        probe
            .publish("group/say", QoS::AtLeastOnce, format!("say {n}"))
            .await;
    }
    let mut said = Vec::new();
    for _ in 1..=6 {
        let seen = probe.expect_on("group/said", WAIT).await.json();
        said.push((
            seen["data"]["text"].as_str().unwrap_or("").to_owned(),
            seen["data"]["voice"].as_str().unwrap_or("").to_owned(),
        ));
    }
    let metrics = tars::testing::MetricsSnapshot::parse(&service.metrics_text());
    service.shutdown().await.unwrap();
    (said, metrics)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_handles_messages_across_its_topics_in_arrival_order() {
    init_tracing();
    let (said, metrics) = voices_of_six_says().await;
    for (n, (text, voice)) in (1..=6).zip(said) {
        assert_eq!(text, format!("say {n}"));
        assert_eq!(voice, format!("v{n}"), "say {n} came after voice v{n}");
    }
    assert_eq!(
        metrics.handler_messages("voice", "ok"),
        12,
        "counted once, as the group"
    );
}
