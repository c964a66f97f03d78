//! `State<T>`: typed state built once per service instance and taken by handlers; each
//! `TestService` has its own, and a handler whose state nobody provides is refused at
//! start, naming the type.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tars::testing::{TestClient, TestService};
use tars::{Client, Event, Message, State};
use tars_tests::{init_tracing, test_broker, WAIT};

/// What a Python service keeps in `self`: the current voice and a count.
#[derive(Default)]
struct Voice {
    current: Mutex<String>,
    said: AtomicU32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "state/said", qos = 1)]
struct Said {
    text: String,
    voice: String,
    count: u32,
}

#[tars::handler(topic = "state/voice", qos = 1)]
async fn set_voice(msg: Message, voice: State<Voice>) {
    *voice.current.lock().unwrap() = String::from_utf8_lossy(msg.payload()).into_owned();
}

#[tars::handler(topic = "state/say", qos = 1)]
async fn say(msg: Message, voice: State<Voice>) -> Said {
    Said {
        text: String::from_utf8_lossy(msg.payload()).into_owned(),
        voice: voice.current.lock().unwrap().clone(),
        count: voice.said.fetch_add(1, Ordering::SeqCst) + 1,
    }
}

async fn say_with_voice(voice: &str) {
    let broker = test_broker().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let _service = TestService::with_state(&broker, &["set_voice", "say"], Voice::default()).await;
    bus.publish_raw("state/voice", voice).await;
    // Handlers have separate queues: wait for the voice before saying.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for text in ["one", "two"] {
        bus.publish_raw("state/say", text).await;
    }
    let first = bus.next_event::<Said>().await.data;
    let second = bus.next_event::<Said>().await.data;
    assert_eq!((first.voice.as_str(), first.count), (voice, 1));
    assert_eq!(
        (second.voice.as_str(), second.count),
        (voice, 2),
        "one state per service"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_share_the_state_of_their_service_instance() {
    init_tracing();
    say_with_voice("v1").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_test_services_do_not_share_state() {
    init_tracing();
    // Run beside the test above: its counts and voice would leak in with a static.
    say_with_voice("v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_whose_state_is_not_provided_is_refused_at_start_naming_the_type() {
    init_tracing();
    let broker = test_broker().await;
    let config = broker.config("stateless").build().unwrap();
    let error = Client::builder(config)
        .with_handlers(|h| h.name == "say")
        .connect()
        .await
        .expect_err("no Voice was provided");
    let text = error.to_string();
    assert!(
        text.contains("`say`") && text.contains("State<Voice>"),
        "{text}"
    );
}
