//! Request/reply against mosquitto: a reply's envelope id is its request's id.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::prelude::*;
use tars::Error;
use tars_tests::python::PythonPeer;
use tars_tests::{config, init_tracing, Mosquitto};

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "math/double", qos = 1)]
struct Double {
    n: u64,
    /// How long the responder waits before answering.
    delay_ms: u64,
}

#[derive(Event, Serialize, Deserialize, Debug, PartialEq)]
#[event(topic = "math/result", qos = 1)]
struct Doubled {
    n: u64,
    doubled: u64,
}

/// The responder: a handler that replies by returning the event.
#[tars::handler(concurrency = 64, queue = 4096)]
async fn double(request: Double) -> Doubled {
    tokio::time::sleep(Duration::from_millis(request.delay_ms)).await;
    Doubled {
        n: request.n,
        doubled: request.n * 2,
    }
}

async fn start(broker: &Mosquitto, timeout: Duration) -> (Client, Client) {
    let responder = Client::builder(config(broker.port(), "responder").build().unwrap())
        .with_registered_handlers()
        .connect()
        .await
        .unwrap();
    let requester = Client::connect(
        config(broker.port(), "requester")
            .request_timeout(timeout)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    (responder, requester)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_resolves_to_its_reply() {
    init_tracing();
    let broker = Mosquitto::start();
    let (responder, requester) = start(&broker, Duration::from_secs(5)).await;
    let reply: Doubled = requester
        .request(&Double { n: 21, delay_ms: 0 })
        .await
        .unwrap();
    assert_eq!(reply, Doubled { n: 21, doubled: 42 });
    let envelope = requester
        .request_envelope::<Double, Doubled>(&Double { n: 2, delay_ms: 0 }, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        (envelope.data.doubled, envelope.source.as_str()),
        (4, responder.config().client_id())
    );
    assert_eq!(requester.stats().pending_requests, 0);
    requester.shutdown().await.unwrap();
    responder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_requests_each_get_their_own_reply() {
    init_tracing();
    let broker = Mosquitto::start();
    let (responder, requester) = start(&broker, Duration::from_secs(30)).await;
    let mut requests = tokio::task::JoinSet::new();
    for n in 0..1000u64 {
        let requester = requester.clone();
        requests.spawn(async move {
            let reply: Doubled = requester.request(&Double { n, delay_ms: n % 7 }).await?;
            Ok::<_, Error>((n, reply))
        });
    }
    let mut answered = 0;
    while let Some(result) = requests.join_next().await {
        let (n, reply) = result.unwrap().unwrap();
        assert_eq!(
            reply,
            Doubled { n, doubled: 2 * n },
            "request {n} got someone else's reply"
        );
        answered += 1;
    }
    assert_eq!(answered, 1000);
    assert_eq!(requester.stats().pending_requests, 0);
    requester.shutdown().await.unwrap();
    responder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_times_out_and_its_late_reply_goes_to_nobody() {
    init_tracing();
    let broker = Mosquitto::start();
    let (responder, requester) = start(&broker, Duration::from_millis(200)).await;
    let err = requester
        .request::<_, Doubled>(&Double {
            n: 1,
            delay_ms: 600,
        })
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Timeout { .. }), "{err}");
    assert_eq!(
        requester.stats().pending_requests,
        0,
        "a timed-out request is forgotten"
    );
    // The late reply (n = 1) arrives while the next request waits: it must not take it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let reply: Doubled = requester
        .request(&Double {
            n: 5,
            delay_ms: 150,
        })
        .await
        .unwrap();
    assert_eq!(reply.n, 5);
    requester.shutdown().await.unwrap();
    responder.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_request_cancels_it() {
    init_tracing();
    let broker = Mosquitto::start();
    let (responder, requester) = start(&broker, Duration::from_secs(5)).await;
    let request = requester.request::<_, Doubled>(&Double {
        n: 3,
        delay_ms: 1000,
    });
    assert!(tokio::time::timeout(Duration::from_millis(200), request)
        .await
        .is_err());
    assert_eq!(requester.stats().pending_requests, 0);
    requester.shutdown().await.unwrap();
    responder.shutdown().await.unwrap();
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "interop/request", qos = 1)]
struct Question {
    question: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "interop/reply", event_type = "interop.reply", qos = 1)]
struct Answer {
    answer: String,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_services_already_answer_tars_requests() {
    init_tracing();
    let broker = Mosquitto::start();
    let requester = Client::connect(config(broker.port(), "asker").build().unwrap())
        .await
        .unwrap();
    let peer = PythonPeer::start(broker.port(), "nobody", 5).await;
    let answer: Answer = requester
        .request(&Question {
            question: "ping".into(),
        })
        .await
        .unwrap();
    assert_eq!(answer.answer, "ping!");
    requester.shutdown().await.unwrap();
    drop(peer);
}
