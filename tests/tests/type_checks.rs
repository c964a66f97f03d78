//! An envelope whose `type` is not the handler's event is skipped and counted like an
//! undecodable one, for `ev: Event` and `Envelope<Event>` alike; `any_type = true` takes
//! it.

use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::json;
use tars::testing::{TestClient, TestService};
use tars::{Envelope, Event};
use tars_tests::{init_tracing, test_broker, WAIT};

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "voice/say", qos = 1)]
struct Say {
    text: String,
}

/// What each handler took: (handler, envelope type, text).
static TAKEN: Mutex<Vec<(&str, String)>> = Mutex::new(Vec::new());

fn took(handler: &'static str, text: String) {
    TAKEN.lock().unwrap().push((handler, text));
}

fn taken_by(handler: &str) -> Vec<String> {
    let all = TAKEN.lock().unwrap();
    all.iter()
        .filter(|(h, _)| *h == handler)
        .map(|(_, text)| text.clone())
        .collect()
}

#[tars::handler(qos = 1)]
async fn strict_event(ev: Say) {
    took("strict_event", ev.text);
}

#[tars::handler(qos = 1)]
async fn strict_envelope(ev: Envelope<Say>) {
    took("strict_envelope", ev.data.text);
}

#[tars::handler(qos = 1, any_type = true)]
async fn lenient(ev: Say) {
    took("lenient", ev.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_envelope_of_another_type_is_skipped_unless_any_type() {
    init_tracing();
    let broker = test_broker().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let service =
        TestService::with_handlers(&broker, &["strict_event", "strict_envelope", "lenient"]).await;
    bus.publish_envelope("voice/say", "voice.other", &json!({"text": "wrong type"}))
        .await;
    bus.publish(&Say {
        text: "right type".into(),
    })
    .await;
    tars_tests::eventually(WAIT, "every handler took the right one", || {
        ["strict_event", "strict_envelope", "lenient"]
            .iter()
            .all(|h| taken_by(h).contains(&"right type".to_owned()))
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(taken_by("strict_event"), ["right type"]);
    assert_eq!(taken_by("strict_envelope"), ["right type"]);
    assert_eq!(taken_by("lenient"), ["wrong type", "right type"]);
    let metrics = service.metrics();
    for strict in ["strict_event", "strict_envelope"] {
        assert_eq!(
            metrics.handler_messages(strict, "undecodable"),
            1,
            "{strict}"
        );
        assert_eq!(metrics.handler_messages(strict, "ok"), 1, "{strict}");
    }
    assert_eq!(metrics.handler_messages("lenient", "ok"), 2);
}
