//! The client: a cheap `Clone` handle on one broker connection and its tasks.

use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::api::batch::{BatchHandler, BoundBatch};
use crate::api::handler::{Bound, EnvelopeFn, Handler, IntoHandlerResult, MessageFn};
use crate::api::raw::MqttHandle;
use crate::connection::publish::{self, Confirmation, PublishOptions, ResponseTo};
use crate::contract::manifest::ServiceManifest;
use crate::metrics::stats::{self, HandlerStats, Stats};
use crate::model::handler_options::HandlerOptions;
use crate::model::state::{StateNeed, States};
use crate::runtime::{self, Assembled, Shared};
use crate::topic::validate_filter;
use crate::{BatchOptions, Config, Context, Envelope, Error, Event, Message, QoS, Result};

/// A connection to the broker with everything the Python `MQTTClient` offers:
/// envelopes, health, heartbeat, dedup, reconnect with backoff that restores
/// subscriptions, and graceful shutdown.
///
/// Cloning is cheap; all clones share the connection.
///
/// ```no_run
/// use tars::{Client, Config, PublishOptions, QoS};
///
/// # async fn demo() -> tars::Result<()> {
/// let client = Client::connect(Config::from_env()?).await?;
/// client
///     .subscribe("stt/#", QoS::AtLeastOnce, |message: tars::Message| async move {
///         println!("{} bytes on {}", message.payload().len(), message.topic());
///     })
///     .await?;
/// let data = serde_json::json!({"text": "hello"});
/// client.publish_event("tts/say", "tts.say", &data, PublishOptions::new()).await?;
/// client.shutdown().await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    shared: Arc<Shared>,
}

/// Adds a subscription's route to a client being put together.
type Installer = Box<dyn FnOnce(&Client) + Send>;

/// Registers subscriptions before connecting, so that they are in place (and health
/// says `ready`) by the time [`ClientBuilder::connect`] returns.
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ClientBuilder {
    config: Config,
    installers: Vec<Installer>,
    manifest: Option<ServiceManifest>,
    states: States,
    /// The state types the registered handlers take, by handler.
    state_needs: Vec<(&'static str, StateNeed)>,
    error: Option<Error>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .field("subscriptions", &self.installers.len())
            .finish()
    }
}

impl ClientBuilder {
    /// Adds a subscription whose handler is a [`Handler`].
    pub fn subscribe_handler<H: Handler>(self, filter: &str, qos: QoS, handler: H) -> Self {
        self.subscribe_handler_with(filter, qos, HandlerOptions::default(), handler)
    }

    /// Adds a subscription with flow-control options (concurrency, queue, overflow).
    pub fn subscribe_handler_with<H: Handler>(
        mut self,
        filter: &str,
        qos: QoS,
        options: HandlerOptions,
        handler: H,
    ) -> Self {
        if let Err(error) = check_filter(filter).and_then(|()| check_options(filter, &options)) {
            self.error.get_or_insert(error);
            return self;
        }
        let filter = filter.to_owned();
        self.installers.push(Box::new(move |client| {
            client.add_route(filter, qos, options, handler);
        }));
        self
    }

    /// Adds a subscription whose handler takes its messages in batches; see
    /// [`Client::subscribe_batch_with`].
    pub fn subscribe_batch_with<H: BatchHandler>(
        mut self,
        filter: &str,
        qos: QoS,
        options: HandlerOptions,
        batch: BatchOptions,
        handler: H,
    ) -> Self {
        let checked = check_filter(filter)
            .and_then(|()| check_options(filter, &options))
            .and_then(|()| check_batch(&options, &batch));
        if let Err(error) = checked {
            self.error.get_or_insert(error);
            return self;
        }
        let filter = filter.to_owned();
        self.installers.push(Box::new(move |client| {
            client.add_batch_route(filter, qos, options, batch, handler);
        }));
        self
    }

    /// Adds a subscription whose handler takes the raw [`Message`].
    pub fn subscribe<F, Fut, R>(self, filter: &str, qos: QoS, handler: F) -> Self
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoHandlerResult,
    {
        self.subscribe_handler(filter, qos, MessageFn(handler))
    }

    /// Adds every handler declared with `#[tars::handler]` in the binary.
    pub fn with_registered_handlers(self) -> Self {
        self.with_handlers(|_| true)
    }

    /// Adds the handlers declared with `#[tars::handler]` that `keep` accepts (for
    /// example by [`HandlerRegistration::name`](crate::api::registry::HandlerRegistration)).
    pub fn with_handlers(
        mut self,
        keep: impl Fn(&crate::api::registry::HandlerRegistration) -> bool,
    ) -> Self {
        for handler in crate::api::registry::handlers()
            .into_iter()
            .filter(|h| keep(h))
        {
            tracing::info!(
                handler = handler.name,
                filter = handler.subscription(),
                qos = handler.qos as u8,
                "registering handler"
            );
            self = (handler.install)(self, handler);
            self.state_needs
                .extend(handler.states.iter().map(|need| (handler.name, *need)));
        }
        self
    }

    /// Provides state of type `T` to the handlers, which take it as a
    /// [`State<T>`](crate::State) argument; one value per type.
    pub fn state<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// A handler that takes a state nobody provided is an error now, not at its first
    /// message.
    fn check_states(&self) -> Result<()> {
        match self
            .state_needs
            .iter()
            .find(|(_, need)| !self.states.contains(need))
        {
            Some((handler, need)) => Err(Error::MissingState {
                handler,
                type_name: need.type_name,
            }),
            None => Ok(()),
        }
    }

    /// Announces `manifest`, retained on `system/services/{client_id}`, after every
    /// connection; a graceful shutdown clears it.
    pub fn announce(mut self, manifest: ServiceManifest) -> Self {
        self.manifest = Some(manifest);
        self
    }

    /// A client without a connection, for the benchmark suite (feature `bench`): its
    /// handlers run, the caller feeds and drains it. Not a public API.
    #[cfg(feature = "bench")]
    #[doc(hidden)]
    pub fn detached(self) -> Result<crate::bench::Detached> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.check_states()?;
        let (client, assembled) = self.assemble()?;
        crate::bench::Detached::start(client, assembled)
    }

    /// The client's state put together, with every registered route added.
    fn assemble(self) -> Result<(Client, Assembled)> {
        let assembled = runtime::assemble(self.config, self.manifest, self.states)?;
        let client = Client {
            shared: assembled.shared.clone(),
        };
        for install in self.installers {
            install(&client);
        }
        Ok((client, assembled))
    }

    /// Connects (retrying with backoff while the broker is unreachable), subscribes
    /// every registered filter, publishes health `ready` when enabled, and returns.
    /// A subscription the broker refuses is an error
    /// ([`Error::SubscriptionRefused`]), and the client is then disconnected.
    pub async fn connect(self) -> Result<Client> {
        if let Some(error) = self.error {
            return Err(error);
        }
        self.check_states()?;
        #[cfg(feature = "metrics")]
        let metrics = match self.config.metrics_addr() {
            Some(addr) => Some(crate::metrics::server::bind(addr).await?),
            None => None,
        };
        let (client, assembled) = self.assemble()?;
        #[cfg(feature = "metrics")]
        if let Some(listener) = metrics {
            crate::metrics::server::spawn(listener, &client.shared);
        }
        runtime::start(assembled).await?;
        Ok(client)
    }
}

fn check_options(filter: &str, options: &HandlerOptions) -> Result<()> {
    if options.subscribe.no_local && filter.starts_with("$share/") {
        return Err(Error::InvalidOptions(
            format!(
                "No Local cannot be set on the shared subscription {filter:?}: MQTT 5 forbids it \
                 (a share group's members would not hear each other); remove no_local, or the share"
            )
            .into(),
        ));
    }
    if options.concurrency == 0 || options.queue_capacity == Some(0) {
        return Err(Error::InvalidOptions(
            "a handler needs a concurrency and a queue capacity of at least 1".into(),
        ));
    }
    if let Some(bytes) = options.intake_bytes {
        if !(crate::config::MIN_INTAKE_BYTES..=crate::config::MAX_INTAKE_BYTES).contains(&bytes) {
            return Err(Error::InvalidOptions(
                format!(
                    "intake_bytes = {bytes}: {}",
                    crate::config::INTAKE_BYTES_RULE
                )
                .into(),
            ));
        }
    }
    options
        .failure
        .check()
        .map_err(|rule| Error::InvalidOptions(format!("failure policy: {rule}").into()))
}

/// A batch handler runs one batch at a time, outside ordered groups, with batches of at
/// least one message and a window of at least a millisecond.
fn check_batch(options: &HandlerOptions, batch: &BatchOptions) -> Result<()> {
    let rule = if batch.size == 0 {
        "a batch needs a size of at least 1"
    } else if batch.window < std::time::Duration::from_millis(1) {
        "a batch window must be at least 1ms"
    } else if options.concurrency != 1 {
        "a batch handler handles one batch at a time: its concurrency must be 1"
    } else if options.group.is_some() {
        "a batch handler cannot be in an ordered group: a group handles one message at a time across its topics"
    } else {
        return Ok(());
    };
    Err(Error::InvalidOptions(rule.into()))
}

fn check_filter(filter: &str) -> Result<()> {
    validate_filter(filter).map_err(|source| Error::InvalidFilter {
        filter: filter.to_owned(),
        source,
    })
}

impl Client {
    /// Connects with the given configuration; see [`ClientBuilder::connect`].
    pub async fn connect(config: Config) -> Result<Self> {
        Self::builder(config).connect().await
    }

    /// A builder to register subscriptions before connecting.
    pub fn builder(config: Config) -> ClientBuilder {
        ClientBuilder {
            config,
            installers: Vec::new(),
            manifest: None,
            states: States::default(),
            state_needs: Vec::new(),
            error: None,
        }
    }

    /// Routes `filter` to `handler`, bound to a context of this client (not yet
    /// subscribed); returns the route's id.
    fn add_route<H: Handler>(
        &self,
        filter: String,
        qos: QoS,
        options: HandlerOptions,
        handler: H,
    ) -> usize {
        let name = handler.name().map_or_else(|| filter.clone(), str::to_owned);
        let bound = Bound {
            handler,
            ctx: Context::new(self.clone()),
        };
        runtime::add_route(&self.shared, filter, qos, options, name, bound)
    }

    /// Subscribes `filter` and runs `handler` for each matching message (one at a time,
    /// in arrival order; a failed one goes to the service's failure policy). Every
    /// handler whose filter matches a message gets it. Returns once the broker
    /// acknowledged the subscription.
    pub async fn subscribe<F, Fut, R>(&self, filter: &str, qos: QoS, handler: F) -> Result<()>
    where
        F: Fn(Message) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoHandlerResult,
    {
        self.subscribe_handler(filter, qos, MessageFn(handler))
            .await
    }

    /// Subscribes `filter` with a handler that takes decoded envelopes; payloads that
    /// are not an `Envelope<T>` are logged and skipped.
    pub async fn subscribe_envelope<T, F, Fut, R>(
        &self,
        filter: &str,
        qos: QoS,
        handler: F,
    ) -> Result<()>
    where
        T: DeserializeOwned + Send + 'static,
        F: Fn(Envelope<T>, Context) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
        R: IntoHandlerResult,
    {
        let handler = EnvelopeFn {
            f: handler,
            _data: std::marker::PhantomData,
        };
        self.subscribe_handler(filter, qos, handler).await
    }

    /// Subscribes `filter` with a handler that takes its messages in batches of at most
    /// `batch.size`, each handed over when full or `batch.window` after its first
    /// message. Each message of a batch is settled (with a persistent session,
    /// acknowledged) once the handler returned for the batch. See `docs/batching.md`.
    pub async fn subscribe_batch<H: BatchHandler>(
        &self,
        filter: &str,
        qos: QoS,
        batch: BatchOptions,
        handler: H,
    ) -> Result<()> {
        self.subscribe_batch_with(filter, qos, HandlerOptions::default(), batch, handler)
            .await
    }

    /// [`Client::subscribe_batch`] with flow control (queue, overflow, intake bound) and
    /// a failure policy: a failed batch is tried again after the handler's backoff, and
    /// after the last attempt each of its messages is dead-lettered with the batch's
    /// error (only the items a [`BatchError::Items`](crate::BatchError::Items) names).
    pub async fn subscribe_batch_with<H: BatchHandler>(
        &self,
        filter: &str,
        qos: QoS,
        options: HandlerOptions,
        batch: BatchOptions,
        handler: H,
    ) -> Result<()> {
        check_filter(filter)?;
        check_options(filter, &options)?;
        check_batch(&options, &batch)?;
        if self.connection().is_closing() {
            return Err(Error::Closed);
        }
        let subscribe = options.subscribe;
        let route = self.add_batch_route(filter.to_owned(), qos, options, batch, handler);
        let result = self.connection().subscribe(filter, qos, subscribe).await;
        if result.is_err() {
            runtime::remove_route(&self.shared, route);
        }
        result
    }

    /// Routes `filter` to a batch handler bound to a context of this client.
    fn add_batch_route<H: BatchHandler>(
        &self,
        filter: String,
        qos: QoS,
        options: HandlerOptions,
        batch: BatchOptions,
        handler: H,
    ) -> usize {
        let name = handler.name().map_or_else(|| filter.clone(), str::to_owned);
        let bound = BoundBatch {
            handler,
            ctx: Context::new(self.clone()),
        };
        runtime::add_batch_route(&self.shared, filter, qos, options, batch, name, bound)
    }

    /// Subscribes `filter` with any [`Handler`].
    pub async fn subscribe_handler<H: Handler>(
        &self,
        filter: &str,
        qos: QoS,
        handler: H,
    ) -> Result<()> {
        self.subscribe_handler_with(filter, qos, HandlerOptions::default(), handler)
            .await
    }

    /// Subscribes `filter` with any [`Handler`] and flow-control options.
    pub async fn subscribe_handler_with<H: Handler>(
        &self,
        filter: &str,
        qos: QoS,
        options: HandlerOptions,
        handler: H,
    ) -> Result<()> {
        check_filter(filter)?;
        check_options(filter, &options)?;
        if self.connection().is_closing() {
            return Err(Error::Closed);
        }
        let subscribe = options.subscribe;
        let route = self.add_route(filter.to_owned(), qos, options, handler);
        let result = self.connection().subscribe(filter, qos, subscribe).await;
        if result.is_err() {
            runtime::remove_route(&self.shared, route);
        }
        result
    }

    /// Publishes `data` in an envelope of type `event_type` on `topic`; returns the
    /// envelope id (the correlation id when one is given).
    pub async fn publish_event<D: Serialize + ?Sized>(
        &self,
        topic: &str,
        event_type: &str,
        data: &D,
        options: PublishOptions,
    ) -> Result<String> {
        publish::publish_envelope(self.connection(), topic, event_type, data, options).await
    }

    /// Publishes a typed event on its topic, with its QoS and retain flag (use
    /// [`Client::publish_event`] to choose the id or learn it).
    pub async fn publish<E: Event + Serialize>(&self, event: &E) -> Result<()> {
        publish::publish_event(self.connection(), event, None).await
    }

    /// Publishes a typed event and waits until the broker has it: at QoS 1/2 until its
    /// acknowledgement (across reconnects), at QoS 0 until it is written to the
    /// socket. Under MQTT 5 a refusal (the broker's ACL, a quota) is
    /// [`Error::PublishRefused`](crate::Error::PublishRefused) with the reason code in
    /// words; under 3.1.1 a broker cannot refuse a publish, and acknowledges what it
    /// drops (see `docs/reliability.md`).
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize)] struct TtsSay { text: String }
    /// # impl tars::Event for TtsSay { const TOPIC: &'static str = "tts/say"; const EVENT_TYPE: &'static str = "tts.say"; const QOS: tars::QoS = tars::QoS::AtLeastOnce; }
    /// # async fn demo(client: tars::Client) -> tars::Result<()> {
    /// let confirmed = client.publish_confirmed(&TtsSay { text: "hi".into() }).await?;
    /// assert_eq!(confirmed, tars::Confirmation::Acknowledged);
    /// # Ok(()) }
    /// ```
    pub async fn publish_confirmed<E: Event + Serialize>(&self, event: &E) -> Result<Confirmation> {
        publish::publish_event_confirmed(self.connection(), event).await
    }

    /// Publishes a typed event whose envelope id is `correlation_id` (a reply).
    pub(crate) async fn publish_correlated<E: Event + Serialize>(
        &self,
        event: &E,
        correlation_id: &str,
    ) -> Result<()> {
        publish::publish_event(self.connection(), event, Some(correlation_id)).await
    }

    /// Publishes a typed event as the answer to an MQTT 5 request: on its response
    /// topic, with its correlation data.
    pub(crate) async fn publish_response<E: Event + Serialize>(
        &self,
        event: &E,
        request_id: &str,
        to: ResponseTo<'_>,
    ) -> Result<()> {
        publish::publish_response(self.connection(), event, request_id, to).await
    }

    /// Publishes a raw payload (no envelope), e.g. plain JSON for non-tars consumers.
    pub async fn publish_bytes(
        &self,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> Result<()> {
        publish::publish_bytes(self.connection(), topic, qos, retain, payload.into()).await
    }

    /// Publishes a retained health status on `system/health/{client_id}`; does nothing
    /// when health is off.
    pub async fn publish_health(
        &self,
        ok: bool,
        event: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        publish::publish_health(self.connection(), ok, event, error).await
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.connection().is_connected()
    }

    /// The connection underneath, for what tars does not wrap: publishes built with
    /// the MQTT library's own packet type ([`rumqttc::Publish`]).
    pub fn mqtt(&self) -> MqttHandle {
        MqttHandle::new(self.shared.connection.clone())
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        self.connection().config()
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// The session this client publishes through.
    pub(crate) fn connection(&self) -> &crate::connection::Connection {
        &self.shared.connection
    }

    /// Traffic counters.
    pub fn stats(&self) -> Stats {
        stats::stats(&self.shared)
    }

    /// Per-subscription counters: queued, handled, failed and dropped messages.
    pub fn handler_stats(&self) -> Vec<HandlerStats> {
        stats::handler_stats(&self.shared)
    }

    /// Every metric, in the Prometheus text format: what `/metrics` serves when
    /// `TARS_METRICS_ADDR` is set (see `docs/observability.md`). Durations are recorded
    /// only while metrics are on ([`ConfigBuilder::metrics`](crate::ConfigBuilder::metrics)).
    #[cfg(feature = "metrics")]
    pub fn metrics_text(&self) -> String {
        crate::metrics::render(&self.shared)
    }

    /// Resolves once the client has stopped (after `shutdown` or `disconnect`).
    pub async fn closed(&self) {
        self.connection().stopped().await;
    }

    /// Graceful shutdown: stops taking messages, lets in-flight and queued handlers
    /// finish (bounded by the drain timeout, default 5 s), publishes health
    /// `shutdown` and waits for the broker's acknowledgement, then disconnects cleanly
    /// so that the last will does not fire. Calling it again waits for the first call.
    pub async fn shutdown(&self) -> Result<()> {
        self.stop(true).await
    }

    /// Disconnects cleanly at once: handlers are stopped where they are and no health
    /// is published (prefer [`Client::shutdown`]).
    pub async fn disconnect(&self) -> Result<()> {
        self.stop(false).await
    }

    async fn stop(&self, graceful: bool) -> Result<()> {
        if !self.connection().begin_closing() {
            self.closed().await;
            return Ok(());
        }
        runtime::stop(&self.shared, graceful).await;
        Ok(())
    }
}
