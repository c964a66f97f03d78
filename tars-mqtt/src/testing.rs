//! Testing handlers without a broker of your own (feature `testing`).
//!
//! - [`TestBroker`]: an in-process broker on a free loopback port (retained messages,
//!   last will and wildcards behave as MQTT says);
//! - [`TestService`]: the handlers of the test binary (all of them, or some by name) run
//!   as a service against it, with health on;
//! - [`TestClient`]: a peer on the bus that publishes events or raw payloads as the
//!   Python stack would, and awaits what the service publishes.
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use tars::prelude::*;
//! use tars::testing::{TestBroker, TestClient, TestService};
//!
//! #[derive(Event, Serialize, Deserialize)]
//! #[event(topic = "stt/final")]
//! struct SttFinal { text: String }
//!
//! #[derive(Event, Serialize, Deserialize)]
//! #[event(topic = "tts/say")]
//! struct TtsSay { text: String }
//!
//! #[tars::handler]
//! async fn speak(ev: SttFinal) -> TtsSay {
//!     TtsSay { text: ev.text }
//! }
//!
//! #[tokio::test]
//! async fn stt_final_makes_the_service_say_it() {
//!     let broker = TestBroker::start().await;
//!     let _service = TestService::start(&broker).await;
//!     let bus = TestClient::connect(&broker).await;
//!     let id = bus.publish(&SttFinal { text: "hello".into() }).await;
//!     let say = bus.next_event::<TtsSay>().await;
//!     assert_eq!(say.data.text, "hello");
//!     assert_eq!(say.id, id, "the reply carries the request's id");
//! }
//! ```
//!
//! The helpers panic with a message that says what was awaited when something does not
//! happen within the timeout (5 s unless set with [`TestClient::with_timeout`]), as
//! assertions do.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::Notify;

use crate::broker::EmbeddedBroker;
use crate::contract::health::{health_topic, HealthStatus};
#[cfg(feature = "metrics")]
pub use crate::metrics::MetricsSnapshot;
use crate::topic::matches;
use crate::{
    Client, Config, ConfigBuilder, DeadLetter, Envelope, Event, Message, MqttVersion,
    PublishOptions, QoS, DEAD_LETTER_TYPE,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Messages a [`TestClient`] keeps before it forgets the oldest.
const BUFFER_LIMIT: usize = 10_000;

/// A broker for tests: an [`EmbeddedBroker`] on a free loopback port.
#[derive(Debug)]
pub struct TestBroker {
    broker: EmbeddedBroker,
    mqtt_version: MqttVersion,
}

impl TestBroker {
    /// Starts a broker on a free loopback port.
    ///
    /// # Panics
    /// If the broker cannot start (no free port).
    pub async fn start() -> Self {
        let broker = EmbeddedBroker::start()
            .await
            .expect("start the embedded test broker");
        Self {
            broker,
            mqtt_version: MqttVersion::default(),
        }
    }

    /// The same broker, with the services and clients of [`config`](Self::config)
    /// speaking `version` (the embedded broker speaks both).
    ///
    /// ```no_run
    /// # async fn demo() {
    /// use tars::testing::TestBroker;
    /// let broker = TestBroker::start().await.with_mqtt_version(tars::MqttVersion::V5);
    /// # }
    /// ```
    pub fn with_mqtt_version(mut self, version: MqttVersion) -> Self {
        self.mqtt_version = version;
        self
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        self.broker.url()
    }

    /// A configuration for a client of this broker: a unique client id starting with
    /// `name`, fast reconnects, health on, metrics recorded (see
    /// [`TestService::metrics`]).
    pub fn config(&self, name: &str) -> ConfigBuilder {
        Config::builder(self.url(), unique_id(name))
            .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
            .enable_health(true)
            .metrics(true)
            .mqtt_version(self.mqtt_version)
    }

    /// The embedded broker, e.g. to stop or restart it.
    pub fn broker(&self) -> &EmbeddedBroker {
        &self.broker
    }
}

fn unique_id(name: &str) -> String {
    format!("{name}-{}", &crate::new_id()[..8])
}

/// Handlers of the test binary running as a service against a [`TestBroker`].
#[derive(Debug)]
pub struct TestService {
    client: Client,
}

impl TestService {
    /// Runs every `#[tars::handler]` of the test binary; returns once they are subscribed.
    pub async fn start(broker: &TestBroker) -> Self {
        Self::start_with(broker.config("test-service"), |_| true).await
    }

    /// Runs only the handlers with these function names.
    ///
    /// # Panics
    /// If a name matches no handler of the binary.
    pub async fn with_handlers(broker: &TestBroker, names: &[&str]) -> Self {
        for name in names {
            assert!(
                crate::api::registry::handlers()
                    .iter()
                    .any(|h| h.name == *name),
                "no #[tars::handler] named `{name}` in this binary"
            );
        }
        Self::start_with(broker.config("test-service"), |h| names.contains(&h.name)).await
    }

    /// Runs only the handlers with these function names, with `state` as their
    /// `State<T>`: this service's own, so parallel tests do not share it.
    ///
    /// # Panics
    /// If a name matches no handler of the binary, or a handler takes a state of
    /// another type.
    pub async fn with_state<T: Send + Sync + 'static>(
        broker: &TestBroker,
        names: &[&str],
        state: T,
    ) -> Self {
        let config = broker.config("test-service");
        Self::start_built(config, |h| names.contains(&h.name), |b| b.state(state)).await
    }

    /// Runs only the handlers with these function names, with what `add` adds to the
    /// client: several states, settings built from pairs
    /// (`builder.state(TtsSettings::from_pairs(&[...])?)`), anything the builder takes.
    pub async fn with_builder(
        broker: &TestBroker,
        names: &[&str],
        add: impl FnOnce(crate::ClientBuilder) -> crate::ClientBuilder,
    ) -> Self {
        let config = broker.config("test-service");
        Self::start_built(config, |h| names.contains(&h.name), add).await
    }

    /// Runs the handlers `keep` accepts with a configuration of your own.
    pub async fn start_with(
        config: ConfigBuilder,
        keep: impl Fn(&crate::api::registry::HandlerRegistration) -> bool,
    ) -> Self {
        Self::start_built(config, keep, |builder| builder).await
    }

    async fn start_built(
        config: ConfigBuilder,
        keep: impl Fn(&crate::api::registry::HandlerRegistration) -> bool,
        add: impl FnOnce(crate::ClientBuilder) -> crate::ClientBuilder,
    ) -> Self {
        let config = config.build().expect("a valid test configuration");
        let client = add(Client::builder(config).with_handlers(keep))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("connect the test service: {e}"));
        Self { client }
    }

    /// The service's client id (its health is on `system/health/{client_id}`).
    pub fn client_id(&self) -> &str {
        self.client.config().client_id()
    }

    /// The service's client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The service's metrics now, as its `/metrics` endpoint would serve them (feature
    /// `metrics`, on by default).
    #[cfg(feature = "metrics")]
    pub fn metrics(&self) -> MetricsSnapshot {
        MetricsSnapshot::parse(&self.client.metrics_text())
    }

    /// Shuts the service down gracefully.
    pub async fn shutdown(self) {
        self.client
            .shutdown()
            .await
            .expect("shut the test service down");
    }
}

#[derive(Default)]
struct Inbox {
    messages: Mutex<VecDeque<Message>>,
    arrived: Notify,
}

/// A peer on the bus: it sees every message (it subscribes to `#` before anything
/// else happens, so nothing published after [`TestClient::connect`] is missed) and
/// publishes as a Python service would.
#[derive(Clone)]
pub struct TestClient {
    client: Client,
    inbox: Arc<Inbox>,
    timeout: Duration,
}

impl std::fmt::Debug for TestClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestClient")
            .field("client", &self.client)
            .finish()
    }
}

impl TestClient {
    /// Connects to the broker and starts recording every message.
    pub async fn connect(broker: &TestBroker) -> Self {
        let config = broker
            .config("test-client")
            .enable_health(false)
            .source_name("test-client");
        let inbox = Arc::new(Inbox::default());
        let recorder = inbox.clone();
        let client = Client::builder(config.build().expect("a valid test configuration"))
            .subscribe("#", QoS::AtLeastOnce, move |message: Message| {
                let inbox = recorder.clone();
                async move {
                    let mut messages = inbox.messages.lock().unwrap_or_else(|p| p.into_inner());
                    if messages.len() == BUFFER_LIMIT {
                        messages.pop_front();
                    }
                    messages.push_back(message);
                    drop(messages);
                    inbox.arrived.notify_waiters();
                }
            })
            .connect()
            .await
            .expect("connect the test client");
        Self {
            client,
            inbox,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same client with another timeout for the `next_*` helpers.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Publishes an event in an envelope on its topic (QoS 1); returns the envelope id.
    pub async fn publish<E: Event + Serialize>(&self, event: &E) -> String {
        self.publish_envelope(E::TOPIC, E::EVENT_TYPE, event).await
    }

    /// Answers a request the service sent, as a Python responder would
    /// (`correlate=request.id`): `event` on its topic, its envelope id the request's.
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct LlmRequest { prompt: String }
    /// # impl tars::Event for LlmRequest { const TOPIC: &'static str = "llm/request"; const EVENT_TYPE: &'static str = "llm.request"; }
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct LlmResponse { reply: String }
    /// # impl tars::Event for LlmResponse { const TOPIC: &'static str = "llm/response"; const EVENT_TYPE: &'static str = "llm.response"; }
    /// # async fn demo(bus: tars::testing::TestClient) {
    /// let request = bus.next_event::<LlmRequest>().await;
    /// bus.reply_to(&request, &LlmResponse { reply: "hi".into() }).await;
    /// # }
    /// ```
    pub async fn reply_to<T, E: Event + Serialize>(&self, request: &Envelope<T>, event: &E) {
        let options = PublishOptions::new()
            .qos(QoS::AtLeastOnce)
            .retain(E::RETAIN)
            .correlation_id(&request.id);
        self.client
            .publish_event(E::TOPIC, E::EVENT_TYPE, event, options)
            .await
            .unwrap_or_else(|e| panic!("reply on {}: {e}", E::TOPIC));
    }

    /// Publishes `data` in an envelope of type `event_type` on `topic` (QoS 1).
    pub async fn publish_envelope<D: Serialize + ?Sized>(
        &self,
        topic: &str,
        event_type: &str,
        data: &D,
    ) -> String {
        let options = PublishOptions::new().qos(QoS::AtLeastOnce);
        self.client
            .publish_event(topic, event_type, data, options)
            .await
            .unwrap_or_else(|e| panic!("publish on {topic}: {e}"))
    }

    /// Publishes a raw payload (QoS 1), e.g. something malformed.
    pub async fn publish_raw(&self, topic: &str, payload: impl Into<Vec<u8>>) {
        self.client
            .publish_bytes(topic, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap_or_else(|e| panic!("publish on {topic}: {e}"));
    }

    /// The next message whose topic matches `filter` (earlier messages on other topics
    /// stay for later calls).
    ///
    /// # Panics
    /// When none arrives within the timeout.
    pub async fn next_message(&self, filter: &str) -> Message {
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let arrived = self.inbox.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            if let Some(message) = self.take_first(filter) {
                return message;
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                panic!("no message on `{filter}` within {:?}", self.timeout);
            }
        }
    }

    fn take_first(&self, filter: &str) -> Option<Message> {
        let mut messages = self
            .inbox
            .messages
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let at = messages.iter().position(|m| matches(filter, m.topic()))?;
        messages.remove(at)
    }

    /// The next envelope on a topic matching `filter`, with `T` data.
    ///
    /// # Panics
    /// When none arrives within the timeout, or it does not decode.
    pub async fn next_envelope<T: DeserializeOwned>(&self, filter: &str) -> Envelope<T> {
        let message = self.next_message(filter).await;
        message.envelope().unwrap_or_else(|e| {
            panic!(
                "the message on {} is not the expected envelope: {e}",
                message.topic()
            )
        })
    }

    /// The next event of type `E` (on `E::TOPIC`), in its envelope.
    pub async fn next_event<E: Event + DeserializeOwned>(&self) -> Envelope<E> {
        self.next_envelope(E::TOPIC).await
    }

    /// The next dead letter on a topic matching `filter`: what a service's failure
    /// policy published once every attempt failed (see `docs/failure-policies.md`).
    ///
    /// ```no_run
    /// # async fn demo(bus: tars::testing::TestClient) {
    /// let letter = bus.next_dead_letter("dead/tts").await;
    /// assert_eq!(letter.data.attempts, 3);
    /// let original = letter.data.envelope::<serde_json::Value>().expect("an envelope");
    /// # }
    /// ```
    ///
    /// # Panics
    /// When none arrives within the timeout, or what arrives is not a dead letter.
    pub async fn next_dead_letter(&self, filter: &str) -> Envelope<DeadLetter> {
        let letter = self.next_envelope::<DeadLetter>(filter).await;
        assert_eq!(
            letter.event_type, DEAD_LETTER_TYPE,
            "the envelope on {filter} is not a dead letter"
        );
        letter
    }

    /// Asserts that nothing arrives on `filter` during `window`.
    pub async fn expect_nothing(&self, filter: &str, window: Duration) {
        tokio::time::sleep(window).await;
        if let Some(message) = self.take_first(filter) {
            panic!(
                "expected nothing on `{filter}`, got a message on {}",
                message.topic()
            );
        }
    }

    /// The health status of a client: the retained one, or the next one published.
    pub async fn health(&self, client_id: &str) -> HealthStatus {
        let topic = health_topic(client_id);
        self.next_envelope::<HealthStatus>(&topic).await.data
    }

    /// Waits for a health status of a client with the given event (`ready`,
    /// `shutdown`, …), skipping the others.
    pub async fn wait_health(&self, client_id: &str, event: &str) -> HealthStatus {
        loop {
            let status = self.health(client_id).await;
            if status.event.as_deref() == Some(event) {
                return status;
            }
        }
    }

    /// The latest health status of a client among those received, without waiting.
    pub fn latest_health(&self, client_id: &str) -> Option<HealthStatus> {
        let topic = health_topic(client_id);
        let messages = self
            .inbox
            .messages
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        messages
            .iter()
            .rev()
            .find(|m| m.topic() == topic)
            .and_then(|m| m.envelope::<HealthStatus>().ok())
            .map(|e| e.data)
    }
}
