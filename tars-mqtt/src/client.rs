//! The client: a cheap `Clone` handle on one broker connection and its tasks.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rumqttc::{AsyncClient, QoS};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

use crate::connection::event_loop::EventLoopTask;
use crate::connection::inbound::Inbound;
use crate::connection::options::{mqtt_options, network_options};
use crate::connection::queue::HandlerQueue;
use crate::connection::session::SessionTask;
use crate::connection::{heartbeat, worker, Control, Route, SessionInput, Shared, Status, Tasks};
use crate::envelope::{self, new_id};
use crate::handler::{EnvelopeFn, Handler, HandlerOptions, IntoHandlerResult, MessageFn};
use crate::health::{events, health_topic, keepalive_topic};
use crate::manifest::{manifest_topic, ServiceManifest, MANIFEST_EVENT_TYPE};
use crate::publish::{self, PublishOptions};
use crate::topic::validate_filter;
use crate::{Config, Context, Envelope, Error, Event, Message, Result};

/// Requests rumqttc's channel holds before `publish` waits for the event loop.
const REQUEST_CHANNEL_CAPACITY: usize = 1024;
/// How long `shutdown` waits for the event loop to say goodbye to the broker.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Counters of a client's traffic, for monitoring and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received from the broker.
    pub received: u64,
    /// QoS 0 deliveries dropped because a handler's queue was full.
    pub dropped: u64,
    /// Messages skipped by dedup.
    pub duplicates: u64,
    /// Messages no handler matched.
    pub unrouted: u64,
    /// Messages skipped because they exceed `MQTT_MAX_PACKET_SIZE`.
    pub oversized: u64,
    /// QoS 0 publishes dropped because the connection was down (QoS 1/2 ones wait in
    /// the outbox for the next connection).
    pub dropped_offline: u64,
    /// PUBLISH packets written to the broker.
    pub publishes_written: u64,
    /// Successful connections (1 + reconnects).
    pub connections: u64,
    /// Requests waiting for their reply.
    pub pending_requests: usize,
}

/// Counters of one subscription's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerStats {
    /// The subscription's filter.
    pub filter: String,
    /// Messages waiting in its queue.
    pub queued: usize,
    /// The queue's capacity.
    pub capacity: usize,
    /// The queue's overflow policy.
    pub overflow: crate::Overflow,
    /// Messages handled (successfully or not).
    pub handled: u64,
    /// Messages whose handler failed, panicked or could not decode them.
    pub failed: u64,
    /// Messages dropped by the overflow policy.
    pub dropped: u64,
}

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

type Installer = Box<dyn FnOnce(&Client) + Send>;

/// A client put together but not yet running: what its network tasks take.
struct Assembled {
    client: Client,
    inbound: Inbound,
    overflow: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    control: mpsc::UnboundedReceiver<Control>,
    session: mpsc::UnboundedReceiver<SessionInput>,
}

/// Registers subscriptions before connecting, so that they are in place (and health
/// says `ready`) by the time [`ClientBuilder::connect`] returns.
#[must_use = "a builder does nothing until `connect` is called"]
pub struct ClientBuilder {
    config: Config,
    installers: Vec<Installer>,
    manifest: Option<ServiceManifest>,
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
        if let Err(error) = check_filter(filter).and_then(|()| check_options(&options)) {
            self.error.get_or_insert(error);
            return self;
        }
        let filter = filter.to_owned();
        self.installers.push(Box::new(move |client| {
            client.add_route(filter, qos, options, handler);
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
    /// example by [`HandlerRegistration::name`](crate::registry::HandlerRegistration)).
    pub fn with_handlers(
        mut self,
        keep: impl Fn(&crate::registry::HandlerRegistration) -> bool,
    ) -> Self {
        for handler in crate::registry::handlers().into_iter().filter(|h| keep(h)) {
            tracing::info!(
                handler = handler.name,
                filter = handler.subscription(),
                qos = handler.qos as u8,
                "registering handler"
            );
            self = (handler.install)(self, handler);
        }
        self
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
        let (requests_tx, requests) = flume::bounded(crate::bench::REQUEST_CAPACITY);
        let mqtt = AsyncClient::from_senders(requests_tx);
        let parts = Client::assemble(self.config, self.installers, self.manifest, mqtt)?;
        parts.client.shared.tasks().overflow = Some(tokio::spawn(parts.overflow));
        // The caller plays the connection: it is up.
        parts
            .client
            .shared
            .status
            .send_modify(|s| s.connected = true);
        Ok(crate::bench::Detached::new(
            parts.client,
            parts.inbound,
            requests,
        ))
    }

    /// Connects (retrying with backoff while the broker is unreachable), subscribes
    /// every registered filter, publishes health `ready` when enabled, and returns.
    pub async fn connect(self) -> Result<Client> {
        if let Some(error) = self.error {
            return Err(error);
        }
        Client::start(self.config, self.installers, self.manifest).await
    }
}

/// Aborts the tasks of a client whose `connect` was abandoned.
struct AbortUnlessConnected(Option<Arc<Shared>>);

impl Drop for AbortUnlessConnected {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.closing.store(true, Ordering::Release);
            shared.tasks().abort_all();
        }
    }
}

fn check_options(options: &HandlerOptions) -> Result<()> {
    if options.concurrency == 0 || options.queue_capacity == Some(0) {
        return Err(Error::InvalidOptions(
            "a handler needs a concurrency and a queue capacity of at least 1",
        ));
    }
    Ok(())
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
            error: None,
        }
    }

    async fn start(
        config: Config,
        installers: Vec<Installer>,
        manifest: Option<ServiceManifest>,
    ) -> Result<Self> {
        let options = mqtt_options(&config)?;
        tracing::info!(%config, "connecting");
        let (mqtt, mut event_loop) = AsyncClient::new(options, REQUEST_CHANNEL_CAPACITY);
        event_loop.set_network_options(network_options());
        let parts = Self::assemble(config, installers, manifest, mqtt)?;
        let shared = parts.client.shared.clone();
        let mut guard = AbortUnlessConnected(Some(shared.clone()));
        {
            let mut tasks = shared.tasks();
            tasks.overflow = Some(tokio::spawn(parts.overflow));
            let event_loop =
                EventLoopTask::new(event_loop, shared.clone(), parts.control, parts.inbound);
            tasks.event_loop = Some(tokio::spawn(event_loop.run()));
            tasks.session = Some(tokio::spawn(
                SessionTask::new(shared.clone(), parts.session).run(),
            ));
            if shared.config.enable_heartbeat() {
                tasks.heartbeat = Some(tokio::spawn(heartbeat::run(shared.clone())));
            }
        }
        let mut status = shared.status.subscribe();
        let ready = status
            .wait_for(|s| s.subscribed_epoch > 0 || s.stopped)
            .await
            .map(|s| *s);
        match ready {
            Ok(status) if !status.stopped => {
                guard.0 = None;
                Ok(parts.client)
            }
            _ => Err(Error::Closed),
        }
    }

    /// The client, its handlers' workers (spawned) and the dispatcher, around `mqtt`;
    /// no network task runs yet.
    fn assemble(
        config: Config,
        installers: Vec<Installer>,
        manifest: Option<ServiceManifest>,
        mqtt: AsyncClient,
    ) -> Result<Assembled> {
        let manifest = match manifest {
            Some(manifest) => Some(envelope::encode(
                &new_id(),
                MANIFEST_EVENT_TYPE,
                config.source_name(),
                &manifest,
            )?),
            None => None,
        };
        let (control, control_rx) = mpsc::unbounded_channel();
        let (session, session_rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            health_topic: health_topic(config.client_id()),
            keepalive_topic: keepalive_topic(config.client_id()),
            manifest,
            config,
            mqtt,
            routes: Default::default(),
            status: watch::Sender::new(Status::default()),
            control,
            session,
            counters: Default::default(),
            requests: Default::default(),
            closing: Default::default(),
            tasks: Mutex::new(Tasks::default()),
        });
        let client = Client { shared };
        for install in installers {
            install(&client);
        }
        let (inbound, overflow) = Inbound::new(client.shared.clone());
        Ok(Assembled {
            client,
            inbound,
            overflow: Box::pin(overflow),
            control: control_rx,
            session: session_rx,
        })
    }

    /// Starts the workers of `handler` and routes `filter` to them (not yet subscribed).
    fn add_route<H: Handler>(
        &self,
        filter: String,
        qos: QoS,
        options: HandlerOptions,
        handler: H,
    ) -> usize {
        let capacity = options
            .queue_capacity
            .unwrap_or(self.shared.config.handler_queue_capacity());
        let queue = Arc::new(HandlerQueue::new(capacity, options.overflow));
        let handler = Arc::new(handler);
        {
            let mut tasks = self.shared.tasks();
            for _ in 0..options.concurrency {
                let ctx = Context::new(self.clone());
                tasks.workers.push(tokio::spawn(worker::run(
                    handler.clone(),
                    queue.clone(),
                    ctx,
                )));
            }
        }
        self.shared
            .routes_write()
            .insert(Route { filter, qos, queue })
    }

    /// Subscribes `filter` and runs `handler` for each matching message (one at a time,
    /// in arrival order). Every handler whose filter matches a message gets it.
    /// Returns once the broker acknowledged the subscription.
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
        check_options(&options)?;
        if self.shared.is_closing() {
            return Err(Error::Closed);
        }
        let route = self.add_route(filter.to_owned(), qos, options, handler);
        let (reply, answer) = oneshot::channel();
        let request = SessionInput::Subscribe {
            filter: filter.to_owned(),
            qos,
            reply,
        };
        let result = match self.shared.session.send(request) {
            Ok(()) => answer.await.unwrap_or(Err(Error::Closed)),
            Err(_) => Err(Error::Closed),
        };
        if result.is_err() {
            self.shared.routes_write().remove(route);
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
        publish::publish_envelope(&self.shared, topic, event_type, data, options).await
    }

    /// Publishes a typed event on its topic, with its QoS and retain flag (use
    /// [`Client::publish_event`] to choose the id or learn it).
    pub async fn publish<E: Event + Serialize>(&self, event: &E) -> Result<()> {
        publish::publish_event(&self.shared, event, None).await
    }

    /// Publishes a typed event whose envelope id is `correlation_id` (a reply).
    pub(crate) async fn publish_correlated<E: Event + Serialize>(
        &self,
        event: &E,
        correlation_id: &str,
    ) -> Result<()> {
        publish::publish_event(&self.shared, event, Some(correlation_id)).await
    }

    /// Publishes a raw payload (no envelope), e.g. plain JSON for non-tars consumers.
    pub async fn publish_bytes(
        &self,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> Result<()> {
        publish::publish_bytes(&self.shared, topic, qos, retain, payload.into()).await
    }

    /// Publishes a retained health status on `system/health/{client_id}`; does nothing
    /// when health is off.
    pub async fn publish_health(
        &self,
        ok: bool,
        event: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        publish::publish_health(&self.shared, ok, event, error).await
    }

    /// Whether the connection is up.
    pub fn is_connected(&self) -> bool {
        self.shared.status().connected
    }

    /// The underlying rumqttc client, for what tars does not wrap. Do not subscribe
    /// through it: tars would not restore such a subscription after a reconnect.
    pub fn mqtt(&self) -> &AsyncClient {
        &self.shared.mqtt
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Traffic counters.
    pub fn stats(&self) -> Stats {
        let c = &self.shared.counters;
        let load = |v: &std::sync::atomic::AtomicU64| v.load(Ordering::Relaxed);
        Stats {
            received: load(&c.received),
            dropped: load(&c.dropped),
            duplicates: load(&c.duplicates),
            unrouted: load(&c.unrouted),
            oversized: load(&c.oversized),
            dropped_offline: load(&c.dropped_offline),
            publishes_written: load(&c.publishes_written),
            connections: load(&c.connections),
            pending_requests: self.shared.requests.len(),
        }
    }

    /// Per-subscription counters: queued, handled, failed and dropped messages.
    pub fn handler_stats(&self) -> Vec<HandlerStats> {
        self.shared
            .routes_read()
            .iter()
            .map(|route| {
                let counters = &route.queue.counters;
                HandlerStats {
                    filter: route.filter.clone(),
                    queued: route.queue.len(),
                    capacity: route.queue.capacity(),
                    overflow: route.queue.policy(),
                    handled: counters.handled.load(Ordering::Relaxed),
                    failed: counters.failed.load(Ordering::Relaxed),
                    dropped: counters.dropped.load(Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Resolves once the client has stopped (after `shutdown` or `disconnect`).
    pub async fn closed(&self) {
        let mut status = self.shared.status.subscribe();
        let _ = status.wait_for(|s| s.stopped).await;
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
        let shared = &self.shared;
        if shared.closing.swap(true, Ordering::AcqRel) {
            self.closed().await;
            return Ok(());
        }
        tracing::info!(graceful, "shutting down");
        let mut tasks = std::mem::take(&mut *shared.tasks());
        abort(tasks.heartbeat.take());
        abort(tasks.overflow.take());
        // Dropping the routes closes the handler queues: workers end once theirs is empty.
        shared.routes_write().clear();
        if graceful {
            drain_workers(
                std::mem::take(&mut tasks.workers),
                shared.config.drain_timeout(),
            )
            .await;
        } else {
            tasks.workers.iter().for_each(JoinHandle::abort);
        }
        abort(tasks.session.take());
        let mut last_words = Vec::new();
        if graceful && shared.manifest.is_some() {
            last_words.push((manifest_topic(shared.config.client_id()), Vec::new()));
        }
        if graceful && shared.config.enable_health() {
            let payload = publish::health_payload(shared, false, Some(events::SHUTDOWN), None)?;
            last_words.push((shared.health_topic.clone(), payload));
        }
        let (done, stopped) = oneshot::channel();
        if shared
            .control
            .send(Control::Stop { last_words, done })
            .is_ok()
            && timeout(STOP_TIMEOUT, stopped).await.is_err()
        {
            tracing::warn!("the event loop did not stop within {STOP_TIMEOUT:?}");
        }
        if let Some(event_loop) = tasks.event_loop.take() {
            event_loop.abort();
            let _ = event_loop.await;
        }
        shared.status.send_modify(|s| {
            s.connected = false;
            s.stopped = true;
        });
        tracing::info!("shut down");
        Ok(())
    }
}

fn abort(task: Option<JoinHandle<()>>) {
    if let Some(task) = task {
        task.abort();
    }
}

/// Waits for workers to finish their queues until `limit`, then stops the rest.
async fn drain_workers(workers: Vec<JoinHandle<()>>, limit: Duration) {
    let deadline = Instant::now() + limit;
    let mut unfinished = 0;
    for mut worker in workers {
        if timeout_at(deadline, &mut worker).await.is_err() {
            worker.abort();
            unfinished += 1;
        }
    }
    if unfinished > 0 {
        tracing::warn!(
            unfinished,
            "handlers still busy after {limit:?} were stopped"
        );
    }
}
