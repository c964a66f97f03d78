//! `tars-bench processes`: throughput and CPU time measured the way users run a
//! service: the tars side is a real `#[tars::service]` process (`bench-service`: its
//! default runtime, health and heartbeat on, logging at info), the raw side a separate
//! hand-written rumqttc process (`raw-consumer`), all on one mosquitto. Inbound: the
//! burst comes from this third process. Outbound: the process under test publishes
//! (tars: `ctx.publish(&event)`; raw: serde_json of a fresh envelope per message) and
//! this process counts what arrives. Sides alternate; medians of N runs.
//!
//! CPU time is the sum over the consumer's threads of `/proc/PID/task/*/schedstat`
//! (nanoseconds on the CPU), read just before the burst and once the consumer says it
//! counted everything.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{Event, Packet, PublishOptions, QoS};

use crate::raw;
use tars::MqttVersion;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

pub(crate) const READY_TIMEOUT: Duration = Duration::from_secs(30);
pub(crate) const BURST_TIMEOUT: Duration = Duration::from_secs(120);

/// Which consumer process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Raw,
    Tars,
}

impl Side {
    /// Which side goes first in run `run`: they alternate, so that both meet the same
    /// moments of a noisy machine.
    fn order(run: usize) -> [Side; 2] {
        if run.is_multiple_of(2) {
            [Side::Raw, Side::Tars]
        } else {
            [Side::Tars, Side::Raw]
        }
    }
}

/// Who publishes an inbound burst: a publisher's pattern decides how the broker's
/// writes line up with the consumer's reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Publisher {
    /// A rumqttc client inside this benchmark process (its request channel of 1,024).
    Own,
    /// A rumqttc client in a process of its own (`bench-publisher`): a request channel
    /// of 10,000, publishing as fast as the client accepts.
    Rumqttc,
    /// paho-mqtt in a Python process (`bench/python/paho_publisher.py`), as the py-tars
    /// services publish: `publish()` from the main thread, a network thread.
    Paho,
}

impl Publisher {
    pub const ALL: [Publisher; 3] = [Publisher::Own, Publisher::Rumqttc, Publisher::Paho];

    /// `own`, `rumqttc` or `paho`.
    pub fn parse(name: &str) -> Result<Self, String> {
        match name {
            "own" => Ok(Self::Own),
            "rumqttc" => Ok(Self::Rumqttc),
            "paho" => Ok(Self::Paho),
            other => Err(format!(
                "unknown publisher {other:?}: expected own, rumqttc, paho or all"
            )),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Own => "own",
            Self::Rumqttc => "rumqttc",
            Self::Paho => "paho",
        }
    }
}

/// What one row measures: a direction and QoS, as fast as it goes or paced, under one
/// MQTT version (both sides speak it; the burst's publisher and counter stay 3.1.1),
/// an inbound burst from one publisher.
#[derive(Debug, Clone, Copy)]
struct Scenario {
    direction: Direction,
    qos: QoS,
    pace: Option<u64>,
    version: MqttVersion,
    publisher: Publisher,
}

impl Scenario {
    const fn new(direction: Direction, qos: QoS, version: MqttVersion) -> Self {
        Self {
            direction,
            qos,
            pace: None,
            version,
            publisher: Publisher::Own,
        }
    }

    /// "inbound qos 0", with "100k/s" when paced, "v5" under MQTT 5 and the publisher
    /// when it is not this process ("inbound qos 0 paho").
    fn label(&self) -> String {
        let mut label = format!("{:?} qos {}", self.direction, self.qos as u8).to_lowercase();
        if let Some(rate) = self.pace {
            label = format!("{label} {}k/s", rate / 1_000);
        }
        if self.version == MqttVersion::V5 {
            label.push_str(" v5");
        }
        if self.publisher != Publisher::Own {
            label = format!("{label} {}", self.publisher.name());
        }
        label
    }

    /// The scenarios to run with these publishers: every one with this process's own
    /// publisher, and the unpaced 3.1.1 inbound bursts with each other one.
    fn with_publishers(publishers: &[Publisher]) -> Vec<Scenario> {
        let mut all = Vec::new();
        for publisher in publishers {
            for scenario in Self::ALL {
                let burst = scenario.direction == Direction::Inbound
                    && scenario.pace.is_none()
                    && scenario.version == MqttVersion::V3_1_1;
                if *publisher == Publisher::Own || burst {
                    all.push(Scenario {
                        publisher: *publisher,
                        ..scenario
                    });
                }
            }
        }
        all
    }

    const ALL: [Scenario; 7] = [
        Self::new(Direction::Inbound, QoS::AtMostOnce, MqttVersion::V3_1_1),
        Self {
            pace: Some(PACED_PER_S),
            ..Self::new(Direction::Inbound, QoS::AtMostOnce, MqttVersion::V3_1_1)
        },
        Self::new(Direction::Inbound, QoS::AtLeastOnce, MqttVersion::V3_1_1),
        Self::new(Direction::Outbound, QoS::AtMostOnce, MqttVersion::V3_1_1),
        Self::new(Direction::Inbound, QoS::AtMostOnce, MqttVersion::V5),
        Self::new(Direction::Inbound, QoS::AtLeastOnce, MqttVersion::V5),
        Self::new(Direction::Outbound, QoS::AtMostOnce, MqttVersion::V5),
    ];
}

/// One side's figures for one burst.
#[derive(Debug, Clone, Copy)]
struct Burst {
    rate: f64,
    cpu_per_100k: f64,
}

/// What a row measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The medians of one scenario, both sides, with the range of the per-run ratios.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// "inbound qos 1 v5": what `--only` matches.
    pub label: String,
    pub direction: Direction,
    pub qos: u8,
    /// Messages per second the publisher keeps to; `None`: as fast as it goes.
    pub paced_per_s: Option<u64>,
    /// The MQTT version both sides speak: `3.1.1` or `5`.
    pub mqtt_version: &'static str,
    /// Who published the burst.
    pub publisher: Publisher,
    pub messages: u64,
    pub runs: usize,
    pub raw_rate: f64,
    pub tars_rate: f64,
    pub rate_ratio: f64,
    pub rate_ratio_range: (f64, f64),
    pub raw_cpu_s_per_100k: f64,
    pub tars_cpu_s_per_100k: f64,
    pub cpu_ratio: f64,
    pub cpu_ratio_range: (f64, f64),
}

/// Pings answered one at a time: medians over the runs of each run's percentiles.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RoundTrips {
    pub pings: usize,
    pub runs: usize,
    pub raw_p50_us: f64,
    pub tars_p50_us: f64,
    pub raw_p99_us: f64,
    pub tars_p99_us: f64,
}

/// Everything `tars-bench processes` measures.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Table {
    pub rows: Vec<Row>,
    pub round_trips: RoundTrips,
}

const PINGS: usize = 2_000;

/// The paced inbound scenario's rate: a steady stream the consumer keeps up with, as
/// most services see, rather than a burst that fills its socket.
const PACED_PER_S: u64 = 100_000;

/// Messages the paced publisher sends at once.
const PACED_SLICE: u64 = 4;

/// Whether the tars side serves its metrics endpoint (`processes --metrics`), set once
/// by [`run`] for every process it starts.
static METRICS_ENDPOINT: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs every scenario; prints and returns the table. With `metrics`, the tars service
/// serves `TARS_METRICS_ADDR` (its handler durations timed), to measure what that costs.
/// What `tars-bench processes` was asked for.
#[derive(Debug)]
pub struct Options {
    pub runs: usize,
    pub messages: u64,
    /// The service serves its metrics endpoint meanwhile.
    pub metrics: bool,
    /// Only the rows whose label contains this.
    pub only: Option<String>,
    /// mosquitto's `max_inflight_messages` (its default, 20, when `None`).
    pub inflight: Option<u64>,
    /// Who publishes the inbound bursts (each a row of its own).
    pub publishers: Vec<Publisher>,
    /// Records each inbound consumer's burst with `perf record -g` and `perf stat`
    /// (system calls, context switches) into this folder.
    pub perf: Option<PathBuf>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            runs: 5,
            messages: 200_000,
            metrics: false,
            only: None,
            inflight: None,
            publishers: vec![Publisher::Own],
            perf: None,
        }
    }
}

pub fn run(options: &Options) -> Result<Table, String> {
    let &Options {
        runs,
        messages,
        metrics,
        ..
    } = options;
    METRICS_ENDPOINT.store(metrics, std::sync::atomic::Ordering::Relaxed);
    let runtime = one_thread_runtime()?;
    runtime.block_on(async {
        let mut config = String::from("allow_anonymous true\nmax_queued_messages 0\n");
        if let Some(inflight) = options.inflight {
            config.push_str(&format!("max_inflight_messages {inflight}\n"));
        }
        let broker = tars_tests::Mosquitto::start_with(&config);
        let mut rows = Vec::new();
        let payloads = tars_bench::burst_payloads(messages);
        let scenarios = Scenario::with_publishers(&options.publishers);
        // `--only` names a row exactly, or else any row whose label contains it.
        let exact = options
            .only
            .as_ref()
            .is_some_and(|only| scenarios.iter().any(|s| s.label() == *only));
        for scenario in scenarios {
            let Scenario {
                direction,
                qos,
                pace,
                version,
                publisher,
            } = scenario;
            if let Some(only) = &options.only {
                let label = scenario.label();
                if (exact && label != *only) || !label.contains(only.as_str()) {
                    continue;
                }
            }
            let mut raw = Vec::new();
            let mut tars = Vec::new();
            for run in 0..runs {
                for side in Side::order(run) {
                    let burst = match direction {
                        Direction::Inbound => {
                            let perf = options.perf.as_deref().map(|dir| (dir, broker.pid()));
                            inbound(side, broker.port(), scenario, &payloads, perf, run).await?
                        }
                        Direction::Outbound => {
                            outbound(side, broker.port(), version, messages).await?
                        }
                    };
                    eprintln!(
                        "  {direction:?} qos {} {pace:?} MQTT {version} from {} run {} {side:?}: {:.0} msg/s, {:.3} CPU s per 100k",
                        qos as u8,
                        publisher.name(),
                        run + 1,
                        burst.rate,
                        burst.cpu_per_100k
                    );
                    match side {
                        Side::Raw => raw.push(burst),
                        Side::Tars => tars.push(burst),
                    }
                }
            }
            rows.push(row(scenario, messages, &raw, &tars));
        }
        let mut raw = Vec::new();
        let mut tars = Vec::new();
        for run in 0..runs {
            for side in Side::order(run) {
                let latencies = round_trips(side, broker.port(), PINGS).await?;
                eprintln!(
                    "  round trip run {} {side:?}: p50 {:.1} µs, p99 {:.1} µs",
                    run + 1,
                    latencies.0,
                    latencies.1
                );
                match side {
                    Side::Raw => raw.push(latencies),
                    Side::Tars => tars.push(latencies),
                }
            }
        }
        let round_trips = RoundTrips {
            pings: PINGS,
            runs,
            raw_p50_us: median(raw.iter().map(|l| l.0)),
            tars_p50_us: median(tars.iter().map(|l| l.0)),
            raw_p99_us: median(raw.iter().map(|l| l.1)),
            tars_p99_us: median(tars.iter().map(|l| l.1)),
        };
        let table = Table { rows, round_trips };
        print(&table);
        Ok(table)
    })
}

fn row(scenario: Scenario, messages: u64, raw: &[Burst], tars: &[Burst]) -> Row {
    let rate_ratios: Vec<f64> = raw.iter().zip(tars).map(|(r, t)| t.rate / r.rate).collect();
    let cpu_ratios: Vec<f64> = raw
        .iter()
        .zip(tars)
        .map(|(r, t)| t.cpu_per_100k / r.cpu_per_100k)
        .collect();
    let raw_rate = median(raw.iter().map(|b| b.rate));
    let tars_rate = median(tars.iter().map(|b| b.rate));
    let raw_cpu = median(raw.iter().map(|b| b.cpu_per_100k));
    let tars_cpu = median(tars.iter().map(|b| b.cpu_per_100k));
    Row {
        label: scenario.label(),
        direction: scenario.direction,
        qos: scenario.qos as u8,
        paced_per_s: scenario.pace,
        mqtt_version: scenario.version.as_str(),
        publisher: scenario.publisher,
        messages,
        runs: raw.len(),
        raw_rate,
        tars_rate,
        rate_ratio: tars_rate / raw_rate,
        rate_ratio_range: range(&rate_ratios),
        raw_cpu_s_per_100k: raw_cpu,
        tars_cpu_s_per_100k: tars_cpu,
        cpu_ratio: tars_cpu / raw_cpu,
        cpu_ratio_range: range(&cpu_ratios),
    }
}

fn print(table: &Table) {
    let rows = &table.rows;
    println!(
        "separate processes on mosquitto: a #[tars::service] vs a hand-written rumqttc consumer"
    );
    println!(
        "{:<24} {:>12} {:>12} {:>7} {:>15} {:>14} {:>14} {:>7} {:>15}",
        "",
        "raw msg/s",
        "tars msg/s",
        "ratio",
        "(range)",
        "raw CPU s/100k",
        "tars CPU s/100k",
        "ratio",
        "(range)"
    );
    for row in rows {
        println!(
            "{:<24} {:>12.0} {:>12.0} {:>7.3} {:>15} {:>14.3} {:>14.3} {:>7.3} {:>15}",
            row.label,
            row.raw_rate,
            row.tars_rate,
            row.rate_ratio,
            format!(
                "{:.2}–{:.2}",
                row.rate_ratio_range.0, row.rate_ratio_range.1
            ),
            row.raw_cpu_s_per_100k,
            row.tars_cpu_s_per_100k,
            row.cpu_ratio,
            format!("{:.2}–{:.2}", row.cpu_ratio_range.0, row.cpu_ratio_range.1),
        );
    }
    let trips = &table.round_trips;
    println!(
        "{:<24} p50 raw {:.1} µs, tars {:.1} µs ({:+.1} µs); p99 raw {:.1} µs, tars {:.1} µs",
        "round trip",
        trips.raw_p50_us,
        trips.tars_p50_us,
        trips.tars_p50_us - trips.raw_p50_us,
        trips.raw_p99_us,
        trips.tars_p99_us
    );
    if let Some(first) = rows.first() {
        println!(
            "{} messages per burst, {} pings one at a time, medians of {} runs per side, sides alternating",
            first.messages, trips.pings, first.runs
        );
    }
}

/// Feeds the publisher a steady stream: [`PACED_SLICE`] messages every few tens of
/// microseconds (a thread's sleep is that precise; tokio's timer counts milliseconds,
/// which would send bursts of a hundred).
fn paced(client: &rumqttc::AsyncClient, topic: &str, rate: u64, payloads: Vec<Bytes>) {
    let started = Instant::now();
    for (sent, payload) in (0u64..).zip(payloads) {
        if sent.is_multiple_of(PACED_SLICE) {
            let due = started + Duration::from_secs_f64(sent as f64 / rate as f64);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        loop {
            match client.try_publish(topic, payload.clone(), PublishOptions::new(QoS::AtMostOnce)) {
                Ok(()) => break,
                Err(rumqttc::ClientError::RequestChannelFull(_)) => {
                    std::thread::sleep(Duration::from_micros(50));
                }
                Err(_) => return,
            }
        }
    }
}

/// The runtime of a benchmark that measures other processes: one worker thread, so that
/// the measuring takes as little of the machine as it can.
pub(crate) fn one_thread_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// The middle value (the upper one of an even count).
pub(crate) fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The lowest and the highest value.
pub(crate) fn range(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

/// A binary of this package, built beside the benchmark (which is an example, one
/// folder down: `target/release/examples/`).
pub(crate) fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the bench's own path");
    let folder = exe.parent().expect("the bench is in a folder");
    let folder = match folder.file_name() {
        Some(last) if last == "examples" => folder.parent().unwrap_or(folder),
        _ => folder,
    };
    let path = folder.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build --release -p tars-bench --bins --examples`",
        path.display()
    );
    path
}

/// A process under test, started and subscribed.
pub(crate) struct Running {
    pub(crate) child: Child,
    pub(crate) pid: u32,
    pub(crate) lines: Lines<BufReader<ChildStdout>>,
    pub(crate) name: &'static str,
}

pub(crate) async fn spawn(
    side: Side,
    port: u16,
    version: MqttVersion,
    vars: &[(&str, String)],
) -> Result<Running, String> {
    let name = match side {
        Side::Raw => "raw-consumer",
        Side::Tars => "bench-service",
    };
    let mut command = Command::new(binary(name));
    if side == Side::Tars && METRICS_ENDPOINT.load(std::sync::atomic::Ordering::Relaxed) {
        let addr = format!("127.0.0.1:{}", tars_tests::free_port());
        command.env("TARS_METRICS_ADDR", addr);
    }
    let mut child = command
        .env("MQTT_URL", format!("mqtt://127.0.0.1:{port}"))
        .env("MQTT_CLIENT_ID", format!("{name}-{}", &tars::new_id()[..8]))
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("MQTT_VERSION", version.as_str())
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start {name}: {e}"))?;
    let pid = child.id().ok_or("the process exited at once")?;
    let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
    wait_for(&mut lines, "ready", READY_TIMEOUT, name).await?;
    Ok(Running {
        child,
        pid,
        lines,
        name,
    })
}

/// One consumer process, one burst from this process: its rate and CPU time.
async fn inbound(
    side: Side,
    port: u16,
    scenario: Scenario,
    payloads: &[Bytes],
    perf: Option<(&std::path::Path, Option<u32>)>,
    run: usize,
) -> Result<Burst, String> {
    let Scenario {
        qos,
        pace,
        publisher,
        ..
    } = scenario;
    let messages = payloads.len() as u64;
    let expect = [("BENCH_EXPECT", messages.to_string())];
    let mut running = spawn(side, port, scenario.version, &expect).await?;
    let mut external = match publisher {
        Publisher::Own => None,
        other => Some(PublisherProcess::start(other, port, qos, messages).await?),
    };
    let profile = match perf {
        Some((folder, broker)) => {
            Some(Profile::start(folder, running.pid, broker, &scenario, side, run).await?)
        }
        None => None,
    };
    let cpu_before = cpu_ns(running.pid);
    let started = Instant::now();
    let own = match &mut external {
        None => Some(tokio::spawn(publish(port, qos, pace, payloads.to_vec()))),
        Some(process) => {
            process.go().await?;
            None
        }
    };
    let done = format!("done {messages}");
    wait_for(&mut running.lines, &done, BURST_TIMEOUT, running.name).await?;
    let elapsed = started.elapsed();
    let cpu = cpu_ns(running.pid).saturating_sub(cpu_before);
    if let Some(profile) = profile {
        profile.stop().await;
    }
    if let Some(own) = own {
        own.await.map_err(|e| e.to_string())?;
    }
    if let Some(mut process) = external {
        let published = format!("published {messages}");
        wait_for(&mut process.lines, &published, READY_TIMEOUT, process.name).await?;
        crate::memory::stop(&mut process.child).await;
    }
    crate::memory::stop(&mut running.child).await;
    Ok(Burst::of(messages, elapsed, cpu))
}

/// `perf record -g` and `perf stat` attached to a consumer for one burst, and
/// `perf stat` to the broker (what the consumer's pattern costs mosquitto).
struct Profile {
    recorders: Vec<Child>,
}

impl Profile {
    /// The events `perf stat` counts: what a consumer costs per wake-up.
    const EVENTS: &'static str = "task-clock,context-switches,syscalls:sys_enter_recvfrom,\
syscalls:sys_enter_read,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex,\
syscalls:sys_enter_sendto,syscalls:sys_enter_writev,syscalls:sys_enter_sched_yield";

    async fn start(
        folder: &std::path::Path,
        pid: u32,
        broker: Option<u32>,
        scenario: &Scenario,
        side: Side,
        run: usize,
    ) -> Result<Self, String> {
        std::fs::create_dir_all(folder).map_err(|e| format!("{}: {e}", folder.display()))?;
        let name = format!(
            "{}-{}-{}",
            scenario.label().replace([' ', '/'], "-"),
            format!("{side:?}").to_lowercase(),
            run + 1
        );
        let pid = pid.to_string();
        let broker = broker.map(|pid| pid.to_string());
        let record = folder.join(format!("{name}.data"));
        let stat = folder.join(format!("{name}.stat"));
        let broker_stat = folder.join(format!("{name}.mosquitto.stat"));
        let mut runs = vec![
            (
                vec!["record", "-F", "1999", "-g", "-p", &pid, "-o"],
                &record,
            ),
            (vec!["stat", "-e", Self::EVENTS, "-p", &pid, "-o"], &stat),
        ];
        if let Some(broker) = &broker {
            runs.push((
                vec!["stat", "-e", Self::EVENTS, "-p", broker, "-o"],
                &broker_stat,
            ));
        }
        let mut recorders = Vec::new();
        for (args, output) in runs {
            let child = Command::new("perf")
                .args(&args)
                .arg(output)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("could not start perf ({e}): apt-get install linux-perf"))?;
            recorders.push(child);
        }
        // perf attaches to the process's threads before the burst starts.
        tokio::time::sleep(Duration::from_millis(300)).await;
        Ok(Self { recorders })
    }

    /// Stops recording (SIGINT, as perf expects) and waits for the files.
    async fn stop(mut self) {
        for recorder in &mut self.recorders {
            if let Some(pid) = recorder.id() {
                let _ = Command::new("kill")
                    .args(["-INT", &pid.to_string()])
                    .status()
                    .await;
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), recorder.wait()).await;
        }
    }
}

/// A publisher in a process of its own, connected and waiting for `go`.
struct PublisherProcess {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    name: &'static str,
}

impl PublisherProcess {
    async fn start(publisher: Publisher, port: u16, qos: QoS, count: u64) -> Result<Self, String> {
        let (mut command, name) = match publisher {
            Publisher::Rumqttc => (Command::new(binary("bench-publisher")), "bench-publisher"),
            _ => {
                let script = concat!(env!("CARGO_MANIFEST_DIR"), "/python/paho_publisher.py");
                let mut command = Command::new("python3");
                command.arg(script);
                (command, "the paho publisher")
            }
        };
        let topic = match qos {
            QoS::AtMostOnce => "bench/proc/q0",
            _ => "bench/proc/q1",
        };
        let mut child = command
            .env("BENCH_PORT", port.to_string())
            .env("BENCH_COUNT", count.to_string())
            .env("BENCH_QOS", (qos as u8).to_string())
            .env("BENCH_TOPIC", topic)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!("could not start {name}: {e} (the paho publisher needs python3 with paho-mqtt: pip install -r tests/python/requirements.txt)")
            })?;
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        wait_for(&mut lines, "ready", READY_TIMEOUT, name)
            .await
            .map_err(|e| format!("{e} (the paho publisher needs python3 with paho-mqtt: pip install -r tests/python/requirements.txt)"))?;
        Ok(Self { child, lines, name })
    }

    /// Starts the burst.
    async fn go(&mut self) -> Result<(), String> {
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        stdin
            .write_all(b"go\n")
            .await
            .map_err(|e| format!("could not start {}: {e}", self.name))?;
        stdin.flush().await.map_err(|e| e.to_string())
    }
}

/// One producer process publishing `messages` QoS 0 envelopes, counted here: its rate
/// and CPU time.
async fn outbound(
    side: Side,
    port: u16,
    version: MqttVersion,
    messages: u64,
) -> Result<Burst, String> {
    let (counter, mut counted) = count_on(port, "bench/proc/out", messages).await;
    let publish = [("BENCH_PUBLISH", messages.to_string())];
    let mut running = spawn(side, port, version, &publish).await?;
    let mut stdin = running.child.stdin.take().ok_or("no stdin")?;
    let cpu_before = cpu_ns(running.pid);
    let started = Instant::now();
    stdin
        .write_all(b"go\n")
        .await
        .map_err(|e| format!("could not start the burst: {e}"))?;
    tokio::time::timeout(BURST_TIMEOUT, &mut counted)
        .await
        .map_err(|_| {
            format!(
                "{} messages did not all arrive within {BURST_TIMEOUT:?}",
                messages
            )
        })?
        .map_err(|_| "the counting subscriber stopped".to_owned())?;
    let elapsed = started.elapsed();
    let cpu = cpu_ns(running.pid).saturating_sub(cpu_before);
    counter.abort();
    crate::memory::stop(&mut running.child).await;
    Ok(Burst::of(messages, elapsed, cpu))
}

/// `pings` pings to a responder process, one at a time; its p50 and p99 in µs.
async fn round_trips(side: Side, port: u16, pings: usize) -> Result<(f64, f64), String> {
    let mut running = spawn(side, port, MqttVersion::V3_1_1, &[]).await?;
    let (client, mut event_loop) =
        raw::connect(port, &format!("bench-pinger-{}", &tars::new_id()[..8]));
    raw::subscribe(&client, &mut event_loop, "bench/proc/pong", QoS::AtMostOnce).await;
    let (pongs_tx, mut pongs) = tokio::sync::mpsc::unbounded_channel();
    let poller = tokio::spawn(async move {
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    let _ = pongs_tx.send((Instant::now(), publish.payload));
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    let mut latencies = Vec::with_capacity(pings);
    for seq in 0..pings as u64 {
        let id = tars::new_id();
        let ping = serde_json::json!({
            "id": id, "type": "bench.proc.ping", "ts": tars::now_ts(),
            "source": "bench-pinger", "data": {"seq": seq},
        });
        let payload = serde_json::to_vec(&ping).map_err(|e| e.to_string())?;
        let sent = Instant::now();
        client
            .publish(
                "bench/proc/ping",
                payload,
                PublishOptions::new(QoS::AtMostOnce),
            )
            .await
            .map_err(|e| e.to_string())?;
        loop {
            let (arrived, payload) = tokio::time::timeout(Duration::from_secs(5), pongs.recv())
                .await
                .map_err(|_| format!("{} did not answer ping {seq} within 5 s", running.name))?
                .ok_or("the pinger stopped")?;
            let pong: serde_json::Value = serde_json::from_slice(&payload).unwrap_or_default();
            if pong["id"] == id.as_str() && pong["data"]["seq"] == seq {
                latencies.push(arrived.duration_since(sent).as_secs_f64() * 1e6);
                break;
            }
        }
    }
    poller.abort();
    crate::memory::stop(&mut running.child).await;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok((at(0.50), at(0.99)))
}

impl Burst {
    fn of(messages: u64, elapsed: Duration, cpu_ns: u64) -> Self {
        Self {
            rate: messages as f64 / elapsed.as_secs_f64(),
            cpu_per_100k: cpu_ns as f64 / 1e9 / messages as f64 * 100_000.0,
        }
    }
}

/// A raw subscriber to `topic` in this process; the receiver resolves once `expect`
/// messages arrived. Returns once subscribed.
pub(crate) async fn count_on(
    port: u16,
    topic: &'static str,
    expect: u64,
) -> (
    tokio::task::JoinHandle<()>,
    tokio::sync::oneshot::Receiver<()>,
) {
    let (client, mut event_loop) =
        raw::connect(port, &format!("bench-counter-{}", &tars::new_id()[..8]));
    raw::subscribe(&client, &mut event_loop, topic, QoS::AtMostOnce).await;
    let (done_tx, done) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let _client = client;
        let mut done_tx = Some(done_tx);
        let mut count = 0u64;
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(_))) => {
                    count += 1;
                    if count == expect {
                        if let Some(tx) = done_tx.take() {
                            let _ = tx.send(());
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    (task, done)
}

pub(crate) async fn wait_for(
    lines: &mut Lines<BufReader<ChildStdout>>,
    want: &str,
    within: Duration,
    name: &str,
) -> Result<(), String> {
    let found = tokio::time::timeout(within, async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line == want {
                return true;
            }
        }
        false
    })
    .await;
    match found {
        Ok(true) => Ok(()),
        Ok(false) => Err(format!("{name} exited before saying {want:?}")),
        Err(_) => Err(format!("{name} did not say {want:?} within {within:?}")),
    }
}

/// Nanoseconds process `pid` spent on a CPU, summed over its threads.
pub(crate) fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// Publishes every payload from a raw client in this process, as fast as it goes or,
/// when paced, at a steady rate.
async fn publish(port: u16, qos: QoS, pace: Option<u64>, payloads: Vec<Bytes>) {
    let (client, mut event_loop) =
        raw::connect(port, &format!("bench-publisher-{}", &tars::new_id()[..8]));
    let count = payloads.len();
    let topic = match qos {
        QoS::AtMostOnce => "bench/proc/q0",
        _ => "bench/proc/q1",
    };
    let feeder = match pace {
        None => tokio::spawn(async move {
            for payload in payloads {
                if client
                    .publish(topic, payload, PublishOptions::new(qos))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        }),
        Some(rate) => tokio::task::spawn_blocking(move || paced(&client, topic, rate, payloads)),
    };
    raw::drive_publishes(&mut event_loop, count as u64).await;
    let _ = feeder.await;
    raw::settle(&mut event_loop).await;
}
