//! Extension pattern 1: a domain-specific wrapper with typed methods.
//!
//! Python services wrap `MQTTClient` in a class with methods such as `say(text)`. In
//! Rust the wrapper owns a `tars::Client` (cheap to clone) and exposes typed methods;
//! the topics, event types and QoS live in one place, and callers cannot get them wrong.
//!
//! The program plays both sides: a stand-in TTS service that answers every `TtsSay`
//! with a `TtsDone`, and a caller that uses the wrapper and waits for each utterance to
//! be done. It uses `MQTT_URL` when set, else an embedded broker.
//!
//! ```sh
//! cargo run --example wrapper
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::{Client, Config, Context, Envelope, Event, PublishOptions, QoS};
use tokio::sync::mpsc;

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "tts/say", qos = 1)]
pub struct TtsSay {
    pub text: String,
    pub voice: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "tts/done", qos = 1)]
pub struct TtsDone {
    pub text: String,
}

/// Typed access to the TTS service.
#[derive(Clone)]
pub struct Tts {
    client: Client,
    voice: String,
}

impl Tts {
    /// A wrapper speaking with `voice`.
    pub fn new(client: Client, voice: impl Into<String>) -> Self {
        Self {
            client,
            voice: voice.into(),
        }
    }

    /// Asks the TTS service to say `text`; returns the request's envelope id, which the
    /// service's `TtsDone` carries back.
    pub async fn say(&self, text: &str) -> tars::Result<String> {
        let request = TtsSay {
            text: text.to_owned(),
            voice: self.voice.clone(),
        };
        let options = PublishOptions::new().qos(TtsSay::QOS);
        self.client
            .publish_event(TtsSay::TOPIC, TtsSay::EVENT_TYPE, &request, options)
            .await
    }

    /// Calls `on_done` with the request id and text of every finished utterance.
    pub async fn on_done(
        &self,
        on_done: impl Fn(String, TtsDone) + Send + Sync + 'static,
    ) -> tars::Result<()> {
        let on_done = std::sync::Arc::new(on_done);
        self.client
            .subscribe_envelope(
                TtsDone::TOPIC,
                TtsDone::QOS,
                move |done: Envelope<TtsDone>, _ctx: Context| {
                    let on_done = on_done.clone();
                    async move { on_done(done.id, done.data) }
                },
            )
            .await
    }
}

/// A stand-in TTS service: "speaks" and answers with `TtsDone`, correlated.
async fn fake_tts_service(url: &str) -> tars::Result<Client> {
    let service = Client::connect(Config::builder(url, "fake-tts").build()?).await?;
    service
        .subscribe_envelope(
            TtsSay::TOPIC,
            QoS::AtLeastOnce,
            |say: Envelope<TtsSay>, ctx: Context| async move {
                let done = TtsDone {
                    text: say.data.text,
                };
                let options = PublishOptions::new()
                    .qos(TtsDone::QOS)
                    .correlation_id(say.id);
                ctx.publish_event(TtsDone::TOPIC, TtsDone::EVENT_TYPE, &done, options)
                    .await
                    .map(drop)
            },
        )
        .await?;
    Ok(service)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tars_examples::init_logging();
    let (url, _broker) = tars_examples::broker_url().await?;
    let tts_service = fake_tts_service(&url).await?;

    let client = Client::connect(Config::builder(&url, "wrapper-demo").build()?).await?;
    let tts = Tts::new(client.clone(), "calm");
    let (done_tx, mut done_rx) = mpsc::unbounded_channel();
    tts.on_done(move |id, done| {
        let _ = done_tx.send((id, done.text));
    })
    .await?;

    for text in ["Good morning.", "The kettle is on."] {
        let id = tts.say(text).await?;
        let (done_id, done_text) = tokio::time::timeout(Duration::from_secs(5), done_rx.recv())
            .await?
            .ok_or("the TTS service went away")?;
        assert_eq!((done_id.as_str(), done_text.as_str()), (id.as_str(), text));
        println!("said {text:?} (request {id})");
    }
    client.shutdown().await?;
    tts_service.shutdown().await?;
    println!("wrapper: every utterance acknowledged");
    Ok(())
}
