//! The runtime: the session (`connection/`) and the dispatcher (`dispatch/`) put
//! together behind one [`Shared`], their tasks started, routes added, and everything
//! stopped. The API ([`Client`](crate::Client)) only calls these.

pub(crate) mod requests;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

use crate::config::Transport;
use crate::connection::durable_lane;
use crate::connection::link::Link;
use crate::connection::presence::Presence;
use crate::connection::subscriptions::SubscriptionsTask;
use crate::connection::{heartbeat, tls, Command, Connection, Receivers};
use crate::contract::manifest::ServiceManifest;
use crate::dispatch::acks::AckTracker;
use crate::dispatch::bound::{BoundBatchHandler, BoundHandler};
use crate::dispatch::group::{Group, GroupHandler, WorkerPolicy};
use crate::dispatch::inbound::Inbound;
use crate::dispatch::queue::HandlerQueue;
use crate::dispatch::retry::HandlerPolicy;
use crate::dispatch::routes::Route;
use crate::dispatch::Dispatch;
use crate::dispatch::{batch, worker};
use crate::durable::DurableOutbox;
use crate::model::handler_options::{BatchOptions, HandlerOptions};
use crate::model::state::States;
use crate::runtime::requests::Requests;
use crate::{Config, Error, Overflow, QoS, Result};

/// Publishes the data lane holds before `publish` waits for the writer.
pub(crate) const DATA_LANE_CAPACITY: usize = 1024;
/// How long `shutdown` waits for the link to say goodbye to the broker.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// What the handles of one client share: the session, the dispatcher, the requests
/// waiting for replies, the handlers' state, and the tasks to stop.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) connection: Arc<Connection>,
    pub(crate) dispatch: Arc<Dispatch>,
    pub(crate) requests: Requests,
    /// The handlers' shared state, by type (`State<T>`).
    pub(crate) states: States,
    pub(crate) tasks: Mutex<Tasks>,
}

impl Shared {
    /// Registers a request `id` that waits for a reply (of `event_type`, or any), and
    /// counts it as waiting so that a paused reader reads on for it. The reply comes on
    /// the receiver; the request is forgotten when the guard is dropped.
    pub(crate) fn await_reply(
        &self,
        id: String,
        event_type: Option<std::borrow::Cow<'static, str>>,
    ) -> (
        requests::PendingGuard<'_>,
        tokio::sync::oneshot::Receiver<crate::Message>,
    ) {
        self.requests
            .register(id, event_type, &self.connection.intake)
    }

    pub(crate) fn tasks(&self) -> std::sync::MutexGuard<'_, Tasks> {
        self.tasks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Background tasks, kept to stop them on shutdown.
#[derive(Debug, Default)]
pub(crate) struct Tasks {
    pub(crate) link: Option<JoinHandle<()>>,
    pub(crate) session: Option<JoinHandle<()>>,
    pub(crate) heartbeat: Option<JoinHandle<()>>,
    pub(crate) overflow: Option<JoinHandle<()>>,
    /// Hands what the durable outbox owes to the data lane (`TARS_OUTBOX_DIR`).
    pub(crate) outbox_feeder: Option<JoinHandle<()>>,
    pub(crate) workers: Vec<JoinHandle<()>>,
    /// The metrics endpoint (`TARS_METRICS_ADDR`).
    pub(crate) metrics: Option<JoinHandle<()>>,
}

impl Tasks {
    /// Aborts every task (used when `connect` is abandoned).
    pub(crate) fn abort_all(&mut self) {
        let singles = [
            &self.link,
            &self.session,
            &self.heartbeat,
            &self.overflow,
            &self.outbox_feeder,
            &self.metrics,
        ];
        for task in singles.into_iter().flatten() {
            task.abort();
        }
        for worker in &self.workers {
            worker.abort();
        }
    }
}

/// A client's state put together, its network tasks not started yet.
pub(crate) struct Assembled {
    pub(crate) shared: Arc<Shared>,
    pub(crate) inbound: Inbound,
    pub(crate) receivers: Receivers,
}

/// Builds the shared state. Routes may be added before [`start`].
pub(crate) fn assemble(
    config: Config,
    manifest: Option<ServiceManifest>,
    states: States,
) -> Result<Assembled> {
    let presence = Presence::new(&config, manifest.as_ref())?;
    let durable = open_outbox(&config)?;
    let (connection, receivers) = Connection::new(config, presence, DATA_LANE_CAPACITY, durable);
    let connection = Arc::new(connection);
    let dispatch = Arc::new(Dispatch::default());
    let acks = AckTracker::new(
        connection.commands.clone(),
        connection.config.clean_session(),
    );
    let (inbound, overflow) = Inbound::new(connection.clone(), dispatch.clone(), acks);
    let shared = Arc::new(Shared {
        connection,
        dispatch,
        requests: Requests::default(),
        states,
        tasks: Mutex::new(Tasks::default()),
    });
    shared.tasks().overflow = Some(tokio::spawn(overflow));
    if shared.connection.durable.is_some() {
        let feeder = durable_lane::feed(shared.connection.clone());
        shared.tasks().outbox_feeder = Some(tokio::spawn(feeder));
    }
    Ok(Assembled {
        shared,
        inbound,
        receivers,
    })
}

/// Opens the durable outbox when `TARS_OUTBOX_DIR` names one: a folder another
/// process holds, or one that cannot be written, is a configuration error naming it.
fn open_outbox(config: &Config) -> Result<Option<Arc<DurableOutbox>>> {
    DurableOutbox::open(config.outbox()).map_err(|error| {
        let dir = config
            .outbox()
            .dir
            .as_deref()
            .unwrap_or(std::path::Path::new(""));
        crate::Error::Config(crate::ConfigError::Invalid {
            variable: "TARS_OUTBOX_DIR",
            value: dir.display().to_string(),
            rule: error.to_string(),
        })
    })
}

/// Aborts the tasks of a client whose start was abandoned or failed.
struct AbortUnlessStarted(Option<Arc<Shared>>);

impl Drop for AbortUnlessStarted {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.connection.closing.store(true, Ordering::Release);
            shared.tasks().abort_all();
            shared.connection.status.send_modify(|s| s.stopped = true);
        }
    }
}

/// Starts the network tasks and returns once connected and subscribed (retrying with
/// backoff while the broker is unreachable). A subscription the broker refuses at start
/// is an error.
pub(crate) async fn start(assembled: Assembled) -> Result<()> {
    let Assembled {
        shared,
        inbound,
        receivers,
    } = assembled;
    let connection = &shared.connection;
    let mut guard = AbortUnlessStarted(Some(shared.clone()));
    let needs_tls = connection
        .config
        .brokers()
        .iter()
        .any(|broker| matches!(broker.transport, Transport::Tls | Transport::Wss));
    let tls = match needs_tls {
        true => Some(tls::client_config(&connection.config)?),
        false => None,
    };
    tracing::info!(config = %connection.config, "connecting");
    {
        let mut tasks = shared.tasks();
        let link = Link::new(
            connection.clone(),
            receivers.commands,
            receivers.data,
            inbound,
            tls,
        );
        tasks.link = Some(tokio::spawn(link.run()));
        let subscriptions = SubscriptionsTask::new(
            connection.clone(),
            shared.dispatch.clone(),
            receivers.subscribe,
        );
        tasks.session = Some(tokio::spawn(subscriptions.run()));
        if connection.config.enable_heartbeat() {
            tasks.heartbeat = Some(tokio::spawn(heartbeat::run(connection.clone())));
        }
    }
    let mut status = connection.status.subscribe();
    let ready = status
        .wait_for(|s| s.subscribed_epoch > 0 || s.stopped || s.failed)
        .await
        .map(|s| *s);
    match ready {
        Ok(status) if status.failed => {
            let error = connection.take_startup_failure().unwrap_or(Error::Closed);
            guard.0 = None;
            stop(&shared, false).await;
            Err(error)
        }
        Ok(status) if !status.stopped => {
            guard.0 = None;
            Ok(())
        }
        _ => Err(Error::Closed),
    }
}

/// Starts `options.concurrency` workers for `handler` and routes `filter` to them (not
/// yet subscribed); returns the route's id. `name` labels the handler in metrics. A
/// handler of an ordered group joins the group's queue and worker instead.
pub(crate) fn add_route<B: BoundHandler>(
    shared: &Shared,
    filter: String,
    qos: QoS,
    options: HandlerOptions,
    name: String,
    handler: B,
) -> usize {
    let failures = handler_policy(shared, &options, &name);
    if let Some(group) = &options.group {
        let group_name = group.to_string();
        let group = join_group(shared, &group_name);
        let member = group.add(handler, failures);
        let route = Route {
            handler: group_name,
            filter,
            qos,
            queue: group.queue.clone(),
            member,
            subscribe: options.subscribe,
        };
        return shared.dispatch.routes_write().insert(route);
    }
    let queue = handler_queue(shared, &options, options.concurrency);
    spawn_workers(
        shared,
        Arc::new(handler),
        &queue,
        options.concurrency,
        WorkerPolicy::One(failures),
    );
    insert_route(shared, name, filter, qos, queue, options.subscribe)
}

/// Adds the route of a handler outside a group.
fn insert_route(
    shared: &Shared,
    handler: String,
    filter: String,
    qos: QoS,
    queue: Arc<HandlerQueue>,
    subscribe: crate::SubscribeOptions,
) -> usize {
    shared.dispatch.routes_write().insert(Route {
        handler,
        filter,
        qos,
        queue,
        member: 0,
        subscribe,
    })
}

/// A handler's failure policy: its own, completed by the service's.
fn handler_policy(shared: &Shared, options: &HandlerOptions, name: &str) -> Arc<HandlerPolicy> {
    let config = &shared.connection.config;
    Arc::new(HandlerPolicy {
        handler: name.to_owned(),
        policy: options.failure.or(config.failure_policy()).effective(),
    })
}

/// A handler's queue, for `workers` workers: its own capacity and intake bound, else
/// the configuration's.
fn handler_queue(shared: &Shared, options: &HandlerOptions, workers: usize) -> Arc<HandlerQueue> {
    let config = &shared.connection.config;
    let capacity = options
        .queue_capacity
        .unwrap_or(config.handler_queue_capacity());
    let intake = options.intake_bytes.unwrap_or(config.intake_bytes());
    Arc::new(HandlerQueue::new(
        capacity,
        options.overflow,
        workers,
        intake,
    ))
}

/// Routes `filter` to a batch handler: its queue and the one worker that gathers its
/// batches (see `dispatch/batch`); returns the route's id.
pub(crate) fn add_batch_route<B: BoundBatchHandler>(
    shared: &Shared,
    filter: String,
    qos: QoS,
    options: HandlerOptions,
    batch: BatchOptions,
    name: String,
    handler: B,
) -> usize {
    let failures = handler_policy(shared, &options, &name);
    let queue = handler_queue(shared, &options, 1);
    shared.tasks().workers.push(tokio::spawn(batch::run(
        Arc::new(handler),
        queue.clone(),
        shared.connection.clone(),
        failures,
        batch,
    )));
    insert_route(shared, name, filter, qos, queue, options.subscribe)
}

/// Removes a route (its subscription was refused); its workers end.
pub(crate) fn remove_route(shared: &Shared, route: usize) {
    shared.dispatch.routes_write().remove(route);
}

/// The ordered group `name`: its queue and single worker, started by its first member.
fn join_group(shared: &Shared, name: &str) -> Arc<Group> {
    let mut groups = shared.dispatch.groups();
    if let Some(group) = groups.get(name) {
        return group.clone();
    }
    let config = &shared.connection.config;
    let queue = Arc::new(HandlerQueue::new(
        config.handler_queue_capacity(),
        Overflow::Block,
        1,
        config.intake_bytes(),
    ));
    let group = Arc::new(Group::new(queue.clone()));
    let handler = Arc::new(GroupHandler(group.clone()));
    spawn_workers(
        shared,
        handler,
        &queue,
        1,
        WorkerPolicy::Group(group.clone()),
    );
    groups.insert(name.to_owned(), group.clone());
    group
}

fn spawn_workers<B: BoundHandler>(
    shared: &Shared,
    handler: Arc<B>,
    queue: &Arc<HandlerQueue>,
    count: usize,
    policies: WorkerPolicy,
) {
    let mut tasks = shared.tasks();
    for index in 0..count {
        tasks.workers.push(tokio::spawn(worker::run(
            handler.clone(),
            queue.clone(),
            shared.connection.clone(),
            index,
            policies.clone(),
        )));
    }
}

/// Stops the client. Graceful: stop taking messages, let handlers finish what they
/// have (bounded by the drain timeout), acknowledge what they finished, publish the
/// presence's last words (manifest cleared, health `shutdown`), wait for the broker's
/// acknowledgements (bounded), then DISCONNECT so the last will does not fire.
/// Otherwise: handlers are stopped where they are and DISCONNECT goes at once.
pub(crate) async fn stop(shared: &Shared, graceful: bool) {
    tracing::info!(graceful, "shutting down");
    let connection = &shared.connection;
    connection.closing.store(true, Ordering::Release);
    let mut tasks = std::mem::take(&mut *shared.tasks());
    abort(tasks.heartbeat.take());
    // Dropping the routes closes the handler queues: workers end once theirs is empty.
    shared.dispatch.routes_write().clear();
    if graceful {
        drain_workers(
            std::mem::take(&mut tasks.workers),
            connection.config.drain_timeout(),
        )
        .await;
    } else {
        tasks.workers.iter().for_each(JoinHandle::abort);
    }
    abort(tasks.overflow.take());
    abort(tasks.session.take());
    // Acknowledgements of what the handlers finished are on the command lane already:
    // the writer sends them before these last words and the DISCONNECT.
    let last_words = if graceful {
        connection.presence.withdraw().unwrap_or_else(|error| {
            tracing::warn!(%error, "could not build the shutdown health status");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let (done, stopped) = oneshot::channel();
    if connection
        .commands
        .send(Command::Stop { last_words, done })
        .is_ok()
        && timeout(STOP_TIMEOUT, stopped).await.is_err()
    {
        tracing::warn!("the connection did not stop within {STOP_TIMEOUT:?}");
    }
    if let Some(link) = tasks.link.take() {
        link.abort();
        let _ = link.await;
    }
    connection.status.send_modify(|s| {
        s.connected = false;
        s.stopped = true;
    });
    abort(tasks.metrics.take());
    tracing::info!("shut down");
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
