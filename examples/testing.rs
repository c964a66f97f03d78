//! How to test handlers with `tars::testing`, with nothing installed.
//!
//! `cargo test --example testing` runs the tests at the bottom; `cargo run --example
//! testing` runs the same checks as a program. In your own crate, enable the feature:
//! `tars-mqtt = { version = "…", features = ["testing"] }` (under `[dev-dependencies]`).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::prelude::*;
use tars::testing::{TestBroker, TestClient, TestService};

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "wake/detected", qos = 1)]
pub struct WakeWord {
    pub word: String,
    pub confidence: f32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "tts/say", qos = 1)]
pub struct TtsSay {
    pub text: String,
}

/// The handler under test: greet on a confident wake word.
#[tars::handler(qos = 1)]
async fn greet(wake: WakeWord) -> Option<TtsSay> {
    (wake.confidence >= 0.8).then(|| TtsSay {
        text: format!("Yes? ({} heard)", wake.word),
    })
}

/// Publishing a confident `WakeWord` makes the service say something, correlated.
async fn a_confident_wake_word_gets_a_greeting() {
    let broker = TestBroker::start().await;
    let service = TestService::start(&broker).await;
    let bus = TestClient::connect(&broker).await;

    let id = bus
        .publish(&WakeWord {
            word: "tars".into(),
            confidence: 0.93,
        })
        .await;
    let say = bus.next_event::<TtsSay>().await;
    assert_eq!(say.data.text, "Yes? (tars heard)");
    assert_eq!(say.id, id, "the reply carries the wake word's envelope id");
    assert_eq!(say.source, service.client_id());
    service.shutdown().await;
}

/// An unsure `WakeWord` gets no answer.
async fn an_unsure_wake_word_gets_nothing() {
    let broker = TestBroker::start().await;
    let _service = TestService::with_handlers(&broker, &["greet"]).await;
    let bus = TestClient::connect(&broker).await;

    bus.publish(&WakeWord {
        word: "tar".into(),
        confidence: 0.4,
    })
    .await;
    bus.expect_nothing("tts/say", Duration::from_millis(300))
        .await;
}

#[tokio::main]
async fn main() {
    a_confident_wake_word_gets_a_greeting().await;
    an_unsure_wake_word_gets_nothing().await;
    println!("all checks passed");
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn a_confident_wake_word_gets_a_greeting() {
        super::a_confident_wake_word_gets_a_greeting().await;
    }

    #[tokio::test]
    async fn an_unsure_wake_word_gets_nothing() {
        super::an_unsure_wake_word_gets_nothing().await;
    }
}
