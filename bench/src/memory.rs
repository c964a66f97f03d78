//! Memory: the resident set of a tars service process, idle and under an inbound burst.
//! The service is this binary's `service` subcommand (one typed handler, logging at
//! info, a multi-thread runtime, as `#[tars::service]` sets up).

use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{Event, Packet, QoS};
use serde::Serialize;
use tokio::process::{Child, Command};

use crate::events::handlers;
use crate::measure::within;
use crate::raw;

const CLIENT_ID: &str = "bench-service";
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// How long the service sits idle before its resident set is read.
const SETTLE: Duration = Duration::from_secs(1);
/// How long sampling goes on after the burst was published.
const AFTER_BURST: Duration = Duration::from_secs(1);

/// Resident set sizes in KiB.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Memory {
    /// Connected and idle.
    pub idle_rss_kib: u64,
    /// Peak resident set (`VmHWM`) once the burst was consumed.
    pub load_rss_kib: u64,
    /// Messages in the burst (QoS 0).
    pub burst: u64,
}

/// Starts the service against the broker, reads its idle RSS, sends `payloads` and
/// reads its peak.
pub async fn run(url: &str, port: u16, payloads: &[Bytes]) -> Memory {
    let mut service = spawn_service(url);
    let pid = service.id().expect("the service is running");
    within(STARTUP_LIMIT, "bench service ready", wait_ready(port)).await;
    tokio::time::sleep(SETTLE).await;
    let idle_rss_kib = rss_kib(pid, "VmRSS:").expect("read the service's /proc status");
    let publisher = raw::Publisher::start(port, "bench-memory-publisher").await;
    publisher.publish_all(payloads, QoS::AtMostOnce).await;
    let published = Instant::now();
    while published.elapsed() < AFTER_BURST {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let load_rss_kib = rss_kib(pid, "VmHWM:").unwrap_or(0).max(idle_rss_kib);
    publisher.stop().await;
    stop(&mut service).await;
    Memory {
        idle_rss_kib,
        load_rss_kib,
        burst: payloads.len() as u64,
    }
}

fn spawn_service(url: &str) -> Child {
    let exe = std::env::current_exe().expect("the bench binary's path");
    Command::new(exe)
        .arg("service")
        .env("MQTT_URL", url)
        .env("MQTT_CLIENT_ID", CLIENT_ID)
        .env("MQTT_HEARTBEAT_INTERVAL", "5")
        .env("RUST_LOG", "info,rumqttd=off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start the bench service")
}

/// Waits for the service's retained health `ready`.
async fn wait_ready(port: u16) {
    let (client, mut event_loop) = raw::connect(port, "bench-memory-probe");
    let topic = tars::health::health_topic(CLIENT_ID);
    raw::subscribe(&client, &mut event_loop, &topic, QoS::AtLeastOnce).await;
    loop {
        if let Ok(Event::Incoming(Packet::Publish(publish))) = event_loop.poll().await {
            let health: serde_json::Value =
                serde_json::from_slice(&publish.payload).unwrap_or_default();
            if health["data"]["ok"] == true {
                break;
            }
        }
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_millis(100), event_loop.poll()).await;
}

/// Stops a child process with SIGTERM (a service shuts down gracefully), SIGKILL after
/// 10 s.
pub async fn stop(service: &mut Child) {
    if let Some(pid) = service.id() {
        // SIGTERM: the service shuts down gracefully (and clears its retained health).
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }
    if tokio::time::timeout(Duration::from_secs(10), service.wait())
        .await
        .is_err()
    {
        let _ = service.kill().await;
    }
}

/// A `kB` line of `/proc/PID/status`.
fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The `service` subcommand: a tars service with the QoS 0 sample handler, configured
/// from the environment, until SIGTERM or SIGINT.
pub fn serve() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .init();
    // The defaults of `#[tars::service]`: health and heartbeat on.
    let defaults = tars::EnvDefaults::service(Some(CLIENT_ID));
    let config = match tars::Config::from_env_with(&defaults) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    runtime.block_on(async move {
        let client = tars::Client::builder(config)
            .with_handlers(|h| h.name == handlers::AT_MOST_ONCE)
            .connect()
            .await
            .expect("the bench service connects");
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler");
        tokio::select! {
            _ = terminate.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        let _ = client.shutdown().await;
    });
    std::process::ExitCode::SUCCESS
}
