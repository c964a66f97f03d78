//! Putting a client together, starting its tasks, and stopping them.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::{timeout, timeout_at, Instant};

use super::acks::AckTracker;
use super::group::{Group, GroupHandler, Policies};
use super::inbound::Inbound;
use super::link::Link;
use super::presence::Presence;
use super::queue::HandlerQueue;
use super::retry::FailureHandling;
use super::session::SessionTask;
use super::wire::PublishPacket;
use super::{heartbeat, tls, worker, Command, Route, SessionInput, Shared, Status, Tasks};
use crate::config::Transport;
use crate::handler::{Handler, HandlerOptions};
use crate::manifest::ServiceManifest;
use crate::state::States;
use crate::{Client, Config, Context, Error, Overflow, QoS, Result};

/// Publishes the data lane holds before `publish` waits for the writer.
pub(crate) const DATA_LANE_CAPACITY: usize = 1024;
/// How long `shutdown` waits for the link to say goodbye to the broker.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);

/// Registers a subscription on a client being assembled.
pub(crate) type Installer = Box<dyn FnOnce(&Client) + Send>;

/// A client put together, its workers running, its network tasks not started yet.
pub(crate) struct Assembled {
    pub(crate) client: Client,
    pub(crate) inbound: Inbound,
    pub(crate) overflow: Pin<Box<dyn Future<Output = ()> + Send>>,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) data: mpsc::Receiver<PublishPacket>,
    pub(crate) session: mpsc::UnboundedReceiver<SessionInput>,
}

/// Builds the shared state, installs the subscriptions and starts their workers.
pub(crate) fn assemble(
    config: Config,
    installers: Vec<Installer>,
    manifest: Option<ServiceManifest>,
    states: States,
) -> Result<Assembled> {
    let presence = Presence::new(&config, manifest.as_ref())?;
    let (commands, commands_rx) = mpsc::unbounded_channel();
    let (data, data_rx) = mpsc::channel(DATA_LANE_CAPACITY);
    let (session, session_rx) = mpsc::unbounded_channel();
    let acks = AckTracker::new(commands.clone());
    let shared = Arc::new(Shared {
        config,
        presence,
        routes: Default::default(),
        status: watch::Sender::new(Status::default()),
        commands,
        data,
        force_reconnect: Default::default(),
        session,
        intake: Default::default(),
        counters: Default::default(),
        requests: Default::default(),
        events: Default::default(),
        closing: Default::default(),
        startup_failure: Default::default(),
        connect_failure: Default::default(),
        groups: Default::default(),
        states,
        tasks: Mutex::new(Tasks::default()),
    });
    let client = Client::from_shared(shared.clone());
    for install in installers {
        install(&client);
    }
    let (inbound, overflow) = Inbound::new(shared, acks);
    Ok(Assembled {
        client,
        inbound,
        overflow: Box::pin(overflow),
        commands: commands_rx,
        data: data_rx,
        session: session_rx,
    })
}

/// Aborts the tasks of a client whose start was abandoned or failed.
struct AbortUnlessStarted(Option<Arc<Shared>>);

impl Drop for AbortUnlessStarted {
    fn drop(&mut self) {
        if let Some(shared) = self.0.take() {
            shared.closing.store(true, Ordering::Release);
            shared.tasks().abort_all();
            shared.status.send_modify(|s| s.stopped = true);
        }
    }
}

/// Starts the network tasks and returns once connected and subscribed (retrying with
/// backoff while the broker is unreachable). A subscription the broker refuses at start
/// is an error.
pub(crate) async fn start(
    config: Config,
    installers: Vec<Installer>,
    manifest: Option<ServiceManifest>,
    states: States,
) -> Result<Client> {
    let needs_tls = config
        .brokers()
        .iter()
        .any(|broker| matches!(broker.transport, Transport::Tls | Transport::Wss));
    let tls = match needs_tls {
        true => Some(tls::client_config(&config)?),
        false => None,
    };
    #[cfg(feature = "metrics")]
    let metrics = match config.metrics_addr() {
        Some(addr) => Some(crate::metrics::server::bind(addr).await?),
        None => None,
    };
    tracing::info!(%config, "connecting");
    let parts = assemble(config, installers, manifest, states)?;
    let shared = parts.client.shared_arc();
    let mut guard = AbortUnlessStarted(Some(shared.clone()));
    {
        let mut tasks = shared.tasks();
        #[cfg(feature = "metrics")]
        if let Some(listener) = metrics {
            if let Ok(addr) = listener.local_addr() {
                tracing::info!(
                    "metrics on http://{addr}/metrics (health: /healthz, readiness: /readyz)"
                );
            }
            tasks.metrics = Some(tokio::spawn(crate::metrics::server::serve(
                listener,
                shared.clone(),
            )));
        }
        tasks.overflow = Some(tokio::spawn(parts.overflow));
        let link = Link::new(
            shared.clone(),
            parts.commands,
            parts.data,
            parts.inbound,
            tls,
        );
        tasks.link = Some(tokio::spawn(link.run()));
        tasks.session = Some(tokio::spawn(
            SessionTask::new(shared.clone(), parts.session).run(),
        ));
        if shared.config.enable_heartbeat() {
            tasks.heartbeat = Some(tokio::spawn(heartbeat::run(shared.clone())));
        }
    }
    let mut status = shared.status.subscribe();
    let ready = status
        .wait_for(|s| s.subscribed_epoch > 0 || s.stopped || s.failed)
        .await
        .map(|s| *s);
    match ready {
        Ok(status) if status.failed => {
            let error = shared.take_startup_failure().unwrap_or(Error::Closed);
            guard.0 = None;
            stop(&shared, false).await;
            Err(error)
        }
        Ok(status) if !status.stopped => {
            guard.0 = None;
            Ok(parts.client)
        }
        _ => Err(Error::Closed),
    }
}

/// Starts `options.concurrency` workers for `handler` and routes `filter` to them (not
/// yet subscribed); returns the route's id. A handler of an ordered group joins the
/// group's queue and worker instead.
pub(crate) fn add_route<H: Handler>(
    client: &Client,
    filter: String,
    qos: QoS,
    options: HandlerOptions,
    handler: H,
) -> usize {
    let shared = client.shared();
    let name = handler.name().map_or_else(|| filter.clone(), str::to_owned);
    let failures = Arc::new(FailureHandling {
        handler: name.clone(),
        policy: options
            .failure
            .or(shared.config.failure_policy())
            .effective(),
    });
    if let Some(group) = &options.group {
        let group_name = group.to_string();
        let group = join_group(client, &group_name);
        let member = group.add(handler, failures);
        return shared.routes_write().insert(Route {
            handler: group_name,
            filter,
            qos,
            queue: group.queue.clone(),
            member,
        });
    }
    let capacity = options
        .queue_capacity
        .unwrap_or(shared.config.handler_queue_capacity());
    let intake = options.intake_bytes.unwrap_or(shared.config.intake_bytes());
    let queue = Arc::new(HandlerQueue::new(
        capacity,
        options.overflow,
        options.concurrency,
        intake,
    ));
    spawn_workers(
        client,
        Arc::new(handler),
        &queue,
        options.concurrency,
        Policies::One(failures),
    );
    shared.routes_write().insert(Route {
        handler: name,
        filter,
        qos,
        queue,
        member: 0,
    })
}

/// The ordered group `name`: its queue and single worker, started by its first member.
fn join_group(client: &Client, name: &str) -> Arc<Group> {
    let shared = client.shared();
    let mut groups = shared.groups.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(group) = groups.get(name) {
        return group.clone();
    }
    let queue = Arc::new(HandlerQueue::new(
        shared.config.handler_queue_capacity(),
        Overflow::Block,
        1,
        shared.config.intake_bytes(),
    ));
    let group = Arc::new(Group::new(queue.clone()));
    let handler = Arc::new(GroupHandler(group.clone()));
    spawn_workers(client, handler, &queue, 1, Policies::Group(group.clone()));
    groups.insert(name.to_owned(), group.clone());
    group
}

fn spawn_workers<H: Handler>(
    client: &Client,
    handler: Arc<H>,
    queue: &Arc<HandlerQueue>,
    count: usize,
    policies: Policies,
) {
    let mut tasks = client.shared().tasks();
    for index in 0..count {
        let ctx = Context::new(client.clone());
        tasks.workers.push(tokio::spawn(worker::run(
            handler.clone(),
            queue.clone(),
            ctx,
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
    shared.closing.store(true, Ordering::Release);
    let mut tasks = std::mem::take(&mut *shared.tasks());
    abort(tasks.heartbeat.take());
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
    abort(tasks.overflow.take());
    abort(tasks.session.take());
    // Acknowledgements of what the handlers finished are on the command lane already:
    // the writer sends them before these last words and the DISCONNECT.
    let last_words = if graceful {
        shared.presence.withdraw().unwrap_or_else(|error| {
            tracing::warn!(%error, "could not build the shutdown health status");
            Vec::new()
        })
    } else {
        Vec::new()
    };
    let (done, stopped) = oneshot::channel();
    if shared
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
    shared.status.send_modify(|s| {
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
