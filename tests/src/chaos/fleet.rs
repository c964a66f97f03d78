//! Runs the fleet under its faults and collects the [`RunRecord`].

use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tars::{Client, Message, QoS};
use tokio::sync::Mutex;

use super::events::{now_ms, Task, DEAD_LETTER_TOPIC};
use super::plan::{schedule, Brokers, Fault, Planned, CLUSTER_NODES, SERVICES};
use super::record::{Applied, Incarnation, Observed, RunRecord};
use super::{Options, BURST_BASE, HEARTBEAT, KEEPALIVE};
use crate::cluster::Cluster;
use crate::process::{cargo_build, target_dir, workspace_root, ServiceProcess};
use crate::proxy::{FaultProxy, Mode};
use crate::Mosquitto;

/// The services that send on their own: started once the others are subscribed,
/// stopped first at the end.
const SOURCES: [&str; 2] = ["chaos-publisher", "chaos-requester"];
/// How long a graceful stop may take before the run calls it a hang.
const STOP_BOUND: Duration = Duration::from_secs(20);
/// How long the run waits, after healing, for what is owed to be handled.
const SETTLE_MAX: Duration = Duration::from_secs(90);
/// The run is settled once nothing new was recorded for this long.
const SETTLE_QUIET: Duration = Duration::from_secs(8);
/// How long the cluster may take to route again after a node's restart (the surviving
/// nodes stall for 10 to 50 s after a kill, docs/scaling.md).
const CLUSTER_RECOVERY_BOUND: Duration = Duration::from_secs(120);

/// The binary of each service, by its index in [`SERVICES`].
fn binary_name(service: usize) -> &'static str {
    match SERVICES[service] {
        "chaos-publisher" => "chaos-publisher",
        "chaos-ordered" => "chaos-ordered",
        "chaos-retrying" => "chaos-retrying",
        "chaos-responder" => "chaos-responder",
        "chaos-requester" => "chaos-requester",
        _ => "chaos-worker",
    }
}

/// Builds the fleet's binaries (debug, as the rest of the suite).
fn build_binaries() -> PathBuf {
    let mut args = vec!["-p", "tars-tests"];
    for name in [
        "chaos-publisher",
        "chaos-worker",
        "chaos-ordered",
        "chaos-retrying",
        "chaos-responder",
        "chaos-requester",
    ] {
        args.extend(["--bin", name]);
    }
    cargo_build(&workspace_root(), &args);
    target_dir().join("debug")
}

/// One service: its proxies (one per broker node), its running process and its past
/// incarnations.
struct Service {
    index: usize,
    binary: PathBuf,
    proxies: Vec<FaultProxy>,
    outbox: tempfile::TempDir,
    process: Option<ServiceProcess>,
    current: Option<Incarnation>,
    next_incarnation: u64,
    past: Vec<Incarnation>,
}

impl Service {
    fn start(&mut self) {
        let name = SERVICES[self.index];
        let number = self.next_incarnation;
        self.next_incarnation += 1;
        // Every node through its proxy, starting with a different node per service.
        let count = self.proxies.len();
        let url = (0..count)
            .map(|i| self.proxies[(self.index + i) % count].url())
            .collect::<Vec<_>>()
            .join(",");
        let keepalive = KEEPALIVE.as_secs().to_string();
        let heartbeat = HEARTBEAT.as_secs().to_string();
        let incarnation = number.to_string();
        let outbox = self.outbox.path().display().to_string();
        let mut vars = vec![
            ("MQTT_URL", url.as_str()),
            ("MQTT_CLIENT_ID", name),
            ("MQTT_KEEPALIVE", keepalive.as_str()),
            ("MQTT_HEARTBEAT_INTERVAL", heartbeat.as_str()),
            ("MQTT_CLEAN_SESSION", "false"),
            ("TARS_REQUEST_TIMEOUT", "3s"),
            ("TARS_DRAIN_TIMEOUT", "2s"),
            ("CHAOS_INCARNATION", incarnation.as_str()),
        ];
        if name == "chaos-publisher" {
            vars.push(("TARS_OUTBOX_DIR", outbox.as_str()));
        }
        self.process = Some(ServiceProcess::spawn(&self.binary, &vars));
        self.current = Some(Incarnation {
            service: self.index,
            number,
            started_ms: now_ms(),
            ended_ms: None,
            ended_by: None,
            exit_code: None,
            output: String::new(),
        });
    }

    /// Signals the process (`KILL` or `TERM`) and waits for it to exit.
    async fn stop(&mut self, signal: &str, ended_by: &'static str) {
        let Some(mut process) = self.process.take() else {
            return;
        };
        if !process.has_exited() {
            process.signal(signal);
        }
        let status = process.exit_within(STOP_BOUND).await;
        self.end(process, status.code(), ended_by);
    }

    fn end(&mut self, process: ServiceProcess, code: Option<i32>, ended_by: &'static str) {
        if let Some(mut incarnation) = self.current.take() {
            incarnation.ended_ms = Some(now_ms());
            incarnation.ended_by = Some(ended_by);
            incarnation.exit_code = code;
            incarnation.output = process.output();
            self.past.push(incarnation);
        }
    }

    /// Restarts a process that exited without being asked (recorded as such).
    async fn revive_if_exited(&mut self) {
        let exited = self
            .process
            .as_mut()
            .is_some_and(ServiceProcess::has_exited);
        if exited {
            let mut process = self.process.take().expect("checked");
            let status = process.exit_within(STOP_BOUND).await;
            self.end(process, status.code(), "by itself");
            self.start();
        }
    }

    /// Cuts every connection of the service, whatever node it is on.
    fn cut_all(&self) {
        for proxy in &self.proxies {
            proxy.cut_all();
        }
    }

    fn set_mode(&self, mode: Mode) {
        for proxy in &self.proxies {
            proxy.set_mode(mode);
        }
    }

    fn rss_kib(&self) -> Option<u64> {
        let pid = self.process.as_ref()?.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Every incarnation with what it printed so far.
    fn incarnations(&self) -> Vec<Incarnation> {
        let mut all = self.past.clone();
        if let (Some(current), Some(process)) = (&self.current, &self.process) {
            let mut current = current.clone();
            current.output = process.output();
            all.push(current);
        }
        all
    }
}

/// The brokers of a run: one mosquitto with persistence on (and its folder for the
/// persistence file), or the rmqtt cluster.
enum Bus {
    Mosquitto {
        mosquitto: Mosquitto,
        _persistence: tempfile::TempDir,
    },
    Cluster(Cluster),
}

impl Bus {
    async fn start(brokers: Brokers) -> Self {
        match brokers {
            Brokers::Mosquitto => Self::start_mosquitto(),
            Brokers::Cluster => Self::Cluster(Cluster::start(CLUSTER_NODES).await),
        }
    }

    fn start_mosquitto() -> Self {
        use std::os::unix::fs::PermissionsExt;
        let persistence = tempfile::tempdir().expect("a folder for mosquitto's persistence");
        // Writable by the `mosquitto` user, which mosquitto switches to when started as
        // root (else nothing survives a restart).
        std::fs::set_permissions(persistence.path(), std::fs::Permissions::from_mode(0o777))
            .expect("open the persistence folder to mosquitto");
        let config = format!(
            "allow_anonymous true\nmax_queued_messages 0\npersistence true\npersistence_location {}/\n",
            persistence.path().display()
        );
        Self::Mosquitto {
            mosquitto: Mosquitto::start_with(&config),
            _persistence: persistence,
        }
    }

    /// Each node's MQTT port (mosquitto's alone).
    fn ports(&self) -> Vec<u16> {
        match self {
            Bus::Mosquitto { mosquitto, .. } => vec![mosquitto.port()],
            Bus::Cluster(cluster) => cluster.nodes.iter().map(|n| n.mqtt_port).collect(),
        }
    }

    /// `MQTT_URL` for a client of the run's own, straight to the brokers.
    fn url_from(&self, first: usize) -> String {
        match self {
            Bus::Mosquitto { mosquitto, .. } => format!("mqtt://127.0.0.1:{}", mosquitto.port()),
            Bus::Cluster(cluster) => cluster.urls_from(first % cluster.nodes.len()),
        }
    }

    fn mosquitto(&mut self, fault: Fault) -> &mut Mosquitto {
        match self {
            Bus::Mosquitto { mosquitto, .. } => mosquitto,
            Bus::Cluster(_) => panic!("{fault} is a fault of mosquitto, not of the cluster"),
        }
    }

    fn signal_mosquitto(&mut self, fault: Fault, signal: &str) {
        if let Some(pid) = self.mosquitto(fault).pid() {
            let _ = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status();
        }
    }

    /// Kills `node`, starts it again after `down` and waits until the cluster routes.
    async fn node_death(&mut self, fault: Fault, node: usize, down: Duration) {
        let Bus::Cluster(cluster) = self else {
            panic!("{fault} is a fault of the cluster, not of mosquitto")
        };
        cluster.kill(node).await;
        tokio::time::sleep(down).await;
        cluster.restart(node).await;
        assert!(
            cluster.routed_within(CLUSTER_RECOVERY_BOUND).await,
            "the rmqtt cluster did not route again within {CLUSTER_RECOVERY_BOUND:?} of node {}'s restart",
            node + 1
        );
    }
}

/// What the run shares between its fault tasks.
struct Fleet {
    bus: Mutex<Bus>,
    services: Vec<Mutex<Service>>,
    burster: Client,
    burst_acked: StdMutex<Vec<(u64, u64)>>,
    next_burst: std::sync::atomic::AtomicU64,
    applied: StdMutex<Vec<Applied>>,
}

impl Fleet {
    /// Applies `fault` once its target is free (faults on one target take turns), and
    /// records when it was under way.
    async fn apply(&self, fault: Fault) {
        let mut started_ms = now_ms();
        match fault {
            Fault::BrokerRestart => {
                let mut bus = self.bus.lock().await;
                started_ms = now_ms();
                let mosquitto = bus.mosquitto(fault);
                tokio::task::block_in_place(|| mosquitto.restart_gracefully());
            }
            Fault::BrokerPause(pause) => {
                let mut bus = self.bus.lock().await;
                started_ms = now_ms();
                bus.signal_mosquitto(fault, "STOP");
                tokio::time::sleep(pause).await;
                bus.signal_mosquitto(fault, "CONT");
            }
            Fault::NodeDeath(node, down) => {
                let mut bus = self.bus.lock().await;
                started_ms = now_ms();
                bus.node_death(fault, node, down).await;
            }
            Fault::Cut(service) => {
                let service = self.services[service].lock().await;
                started_ms = now_ms();
                service.cut_all();
            }
            Fault::BlackHole(service, hole) => {
                let service = self.services[service].lock().await;
                started_ms = now_ms();
                service.set_mode(Mode::BlackHole);
                tokio::time::sleep(hole).await;
                service.set_mode(Mode::Pass);
                // What was swallowed is gone: the connections must not carry on.
                service.cut_all();
            }
            Fault::Kill(service, down) => {
                let mut service = self.services[service].lock().await;
                started_ms = now_ms();
                service.stop("KILL", "SIGKILL").await;
                tokio::time::sleep(down).await;
                service.start();
            }
            Fault::Term(service) => {
                let mut service = self.services[service].lock().await;
                started_ms = now_ms();
                service.stop("TERM", "SIGTERM").await;
                service.start();
            }
            Fault::Burst(count) => self.burst(count).await,
        }
        self.applied.lock().unwrap().push(Applied {
            fault,
            started_ms,
            ended_ms: now_ms(),
        });
    }

    /// Publishes `count` tasks at once; those the broker acknowledged are owed.
    async fn burst(&self, count: u32) {
        use std::sync::atomic::Ordering;
        let mut sends = tokio::task::JoinSet::new();
        for _ in 0..count {
            let n = BURST_BASE + self.next_burst.fetch_add(1, Ordering::Relaxed);
            let burster = self.burster.clone();
            sends.spawn(async move { burster.publish_confirmed(&Task { n }).await.map(|_| n) });
        }
        while let Some(sent) = sends.join_next().await {
            if let Ok(Ok(n)) = sent {
                self.burst_acked.lock().unwrap().push((n, now_ms()));
            }
        }
    }

    /// Records from every incarnation of every service so far.
    async fn incarnations(&self) -> Vec<Incarnation> {
        let mut all = Vec::new();
        for service in &self.services {
            all.extend(service.lock().await.incarnations());
        }
        all
    }
}

/// A client of the run's own, straight to the brokers (`url`), on a persistent session.
fn direct_client(url: String, id: &str) -> tars::ClientBuilder {
    let config = tars::Config::builder(url, id)
        .clean_session(false)
        .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
        .mqtt_version(crate::mqtt_version())
        .build()
        .expect("a valid configuration");
    Client::builder(config)
}

/// Starts the observer: heartbeats, health and dead letters, as they arrive.
async fn observe(url: String, seen: Arc<StdMutex<Vec<Observed>>>) -> Client {
    let mut builder = direct_client(url, "chaos-observer");
    for (filter, qos) in [
        ("system/keepalive/+", QoS::AtMostOnce),
        ("system/health/+", QoS::AtLeastOnce),
        (DEAD_LETTER_TOPIC, QoS::AtLeastOnce),
    ] {
        let seen = seen.clone();
        builder = builder.subscribe(filter, qos, move |message: Message| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(Observed {
                    at_ms: now_ms(),
                    topic: message.topic().to_owned(),
                    payload: message.payload().to_vec(),
                });
            }
        });
    }
    builder.connect().await.expect("the observer connects")
}

/// Runs the fleet for `options.duration` under the seed's faults, heals it, lets it
/// settle and returns what it recorded (the checker judges it).
pub async fn run(options: Options) -> (Vec<Planned>, RunRecord) {
    let plan = schedule(options.seed, options.duration, KEEPALIVE, options.brokers);
    let binaries = build_binaries();
    let bus = Bus::start(options.brokers).await;
    let observed = Arc::new(StdMutex::new(Vec::new()));
    let observer = observe(bus.url_from(0), observed.clone()).await;
    let burster = direct_client(bus.url_from(1), "chaos-burster")
        .connect()
        .await
        .expect("the burster connects");
    // The consumers first, each subscribed (health `ready`) before anything is sent.
    let mut services = Vec::new();
    for index in 0..SERVICES.len() {
        let mut proxies = Vec::new();
        for port in bus.ports() {
            proxies.push(FaultProxy::start(port).await);
        }
        let service = Service {
            index,
            binary: binaries.join(binary_name(index)),
            proxies,
            outbox: tempfile::tempdir().expect("a folder for the durable outbox"),
            process: None,
            current: None,
            next_incarnation: 0,
            past: Vec::new(),
        };
        services.push(service);
    }
    for service in services
        .iter_mut()
        .filter(|s| !SOURCES.contains(&SERVICES[s.index]))
    {
        service.start();
    }
    wait_until_ready(&observed, |name| !SOURCES.contains(&name)).await;
    for service in services
        .iter_mut()
        .filter(|s| SOURCES.contains(&SERVICES[s.index]))
    {
        service.start();
    }
    let services: Vec<Mutex<Service>> = services.into_iter().map(Mutex::new).collect();
    let fleet = Arc::new(Fleet {
        bus: Mutex::new(bus),
        services,
        burster,
        burst_acked: StdMutex::new(Vec::new()),
        next_burst: 0.into(),
        applied: StdMutex::new(Vec::new()),
    });
    let started_ms = now_ms();
    let start = tokio::time::Instant::now();
    let max_rss = Arc::new(StdMutex::new(vec![0u64; SERVICES.len()]));
    let sampler = tokio::spawn(sample_memory(fleet.clone(), max_rss.clone()));

    let mut faults = tokio::task::JoinSet::new();
    for planned in &plan {
        tokio::time::sleep_until(start + planned.at).await;
        let fleet = fleet.clone();
        let fault = planned.fault;
        faults.spawn(async move { fleet.apply(fault).await });
    }
    tokio::time::sleep_until(start + options.duration).await;
    while let Some(done) = faults.join_next().await {
        if let Err(error) = done {
            panic!("a fault could not be applied: {error}");
        }
    }
    // Healed: every proxy forwards, every service runs.
    for service in &fleet.services {
        let mut service = service.lock().await;
        service.set_mode(Mode::Pass);
        service.revive_if_exited().await;
    }
    let healed_ms = now_ms();
    // Health settles first: every service reconnects after the last fault.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let final_health = last_health(&observed.lock().unwrap());
    settle(&fleet).await;
    sampler.abort();
    for service in &fleet.services {
        service.lock().await.stop("TERM", "final stop").await;
    }
    let _ = fleet.burster.shutdown().await;
    let _ = observer.shutdown().await;
    let record = RunRecord {
        seed: options.seed,
        brokers: options.brokers,
        started_ms,
        healed_ms,
        incarnations: fleet.incarnations().await,
        faults: fleet.applied.lock().unwrap().clone(),
        observed: observed.lock().unwrap().clone(),
        burst_acked: fleet.burst_acked.lock().unwrap().clone(),
        max_rss_kib: max_rss.lock().unwrap().clone(),
        final_health,
        heartbeat: HEARTBEAT,
    };
    (plan, record)
}

/// Stops the publisher and the requester (their streams end), then waits until
/// nothing new is recorded for [`SETTLE_QUIET`], at most [`SETTLE_MAX`].
async fn settle(fleet: &Fleet) {
    for service in &fleet.services {
        let mut service = service.lock().await;
        if SOURCES.contains(&SERVICES[service.index]) {
            service.stop("TERM", "final stop").await;
        }
    }
    let deadline = tokio::time::Instant::now() + SETTLE_MAX;
    let mut last = (0usize, tokio::time::Instant::now());
    while tokio::time::Instant::now() < deadline {
        let records: usize = fleet
            .incarnations()
            .await
            .iter()
            .map(|i| i.records().count())
            .sum();
        if records != last.0 {
            last = (records, tokio::time::Instant::now());
        } else if last.1.elapsed() >= SETTLE_QUIET {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Waits until every service `which` names has published its health `ready`.
async fn wait_until_ready(observed: &StdMutex<Vec<Observed>>, which: impl Fn(&str) -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let health = last_health(&observed.lock().unwrap());
        let waiting: Vec<&str> = health
            .iter()
            .filter(|(index, ok, _)| which(SERVICES[*index]) && *ok != Some(true))
            .map(|(index, _, _)| SERVICES[*index])
            .collect();
        if waiting.is_empty() {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the chaos fleet did not start: no health `ready` from {waiting:?} within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The last health each service published, as the observer saw it.
fn last_health(observed: &[Observed]) -> Vec<(usize, Option<bool>, String)> {
    SERVICES
        .iter()
        .enumerate()
        .map(|(index, name)| {
            let topic = format!("system/health/{name}");
            let last = observed.iter().rev().find(|o| o.topic == topic);
            let json =
                last.and_then(|o| serde_json::from_slice::<serde_json::Value>(&o.payload).ok());
            let ok = json.as_ref().and_then(|j| j["data"]["ok"].as_bool());
            let event = json
                .as_ref()
                .and_then(|j| j["data"]["event"].as_str())
                .unwrap_or("none")
                .to_owned();
            (index, ok, event)
        })
        .collect()
}

async fn sample_memory(fleet: Arc<Fleet>, max_rss: Arc<StdMutex<Vec<u64>>>) {
    loop {
        for (index, service) in fleet.services.iter().enumerate() {
            if let Some(rss) = service.lock().await.rss_kib() {
                let mut max = max_rss.lock().unwrap();
                max[index] = max[index].max(rss);
            }
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}
