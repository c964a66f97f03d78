//! Harness for the workspace integration tests: a real mosquitto on a free loopback port
//! that a test can stop and restart, a raw rumqttc probe to watch the bus, and helpers.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, Instant};

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::mpsc;

pub mod chaos;
pub mod cluster;
pub mod events;
pub mod fleet;
pub mod http;
pub mod liveness;
pub mod otlp;
pub mod process;
pub mod proxy;
pub mod python;

/// How long a test waits for something that should happen (a message, a process
/// exiting, a reconnect): generous, since a passing test never waits it out and the
/// suite shares two cores with its brokers.
pub const WAIT: Duration = Duration::from_secs(20);

/// How to get mosquitto when it is missing.
pub const INSTALL_HINT: &str =
    "mosquitto is required by the integration tests: install it with `apt-get install -y mosquitto` \
     (or run `bash scripts/test.sh`, which installs it and runs the suite)";

/// Logs of the code under test, shown for failing tests (`RUST_LOG` to change the level).
pub fn init_tracing() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_test_writer()
            .init();
    });
}

/// Logs of a helper binary (`src/bin`) on stderr, filtered by `RUST_LOG`.
pub fn init_stderr_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}

/// The mosquitto binary: on `PATH`, or where Debian puts it.
pub fn mosquitto_binary() -> PathBuf {
    let on_path = std::env::var_os("PATH")
        .map(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("mosquitto"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([
            PathBuf::from("/usr/sbin/mosquitto"),
            PathBuf::from("/usr/local/sbin/mosquitto"),
        ])
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("{INSTALL_HINT}"))
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local address").port()
}

/// A mosquitto process of the test's own, listening on 127.0.0.1 only.
pub struct Mosquitto {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Mosquitto {
    /// Starts mosquitto on a free port, anonymous access allowed.
    pub fn start() -> Self {
        Self::start_with("allow_anonymous true\n")
    }

    /// Starts mosquitto on a given port (e.g. one a client already tries to reach).
    pub fn start_on(port: u16) -> Self {
        Self::launch_with(port, "allow_anonymous true\n")
    }

    /// Starts mosquitto with extra configuration lines.
    pub fn start_with(extra_config: &str) -> Self {
        Self::launch_with(free_port(), extra_config)
    }

    fn launch_with(port: u16, extra_config: &str) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut broker = Self {
            port,
            dir,
            child: None,
        };
        let config = format!(
            "listener {} 127.0.0.1\npersistence false\nlog_dest stderr\n{extra_config}",
            broker.port
        );
        std::fs::write(broker.config_path(), config).expect("write mosquitto.conf");
        broker.launch();
        broker
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("mosquitto.conf")
    }

    /// The broker process's id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The folder holding the broker's files (for password files and the like).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn launch(&mut self) {
        let child = Command::new(mosquitto_binary())
            .arg("-c")
            .arg(self.config_path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start mosquitto ({e}); {INSTALL_HINT}"));
        self.child = Some(child);
        self.wait_until_listening();
    }

    fn wait_until_listening(&mut self) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                return;
            }
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!(
                    "mosquitto exited at start ({status}); is port {} taken?",
                    self.port
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("mosquitto did not listen on port {} within 10 s", self.port);
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Kills the broker (SIGKILL: clients see their connection drop).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the broker again on the same port.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Stops the broker with SIGTERM (it saves its persistence file, when configured
    /// with one) and starts it again on the same port.
    pub fn restart_gracefully(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            let _ = child.wait();
        }
        self.launch();
    }
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A message seen by a [`Probe`].
#[derive(Debug, Clone)]
pub struct Seen {
    /// Its topic.
    pub topic: String,
    /// Its payload.
    pub payload: Vec<u8>,
    /// Whether it came as a retained message.
    pub retain: bool,
}

impl Seen {
    /// The payload as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| {
            panic!(
                "payload on {} is not JSON ({e}): {:?}",
                self.topic,
                String::from_utf8_lossy(&self.payload)
            )
        })
    }

    /// The data of a health status (`health.status` envelope): `ok`, `event`, `err`.
    pub fn health(&self) -> serde_json::Value {
        let envelope = self.json();
        assert_eq!(
            envelope["type"], "health.status",
            "not a health status on {}: {envelope}",
            self.topic
        );
        envelope["data"].clone()
    }

    /// The `event` of a health status (`ready`, `reconnected`, `shutdown`, `lost`).
    pub fn health_event(&self) -> String {
        self.health()["event"].as_str().unwrap_or("").to_owned()
    }
}

/// The embedded test broker, its services and clients speaking the suite's MQTT version
/// ([`mqtt_version`]).
pub async fn test_broker() -> tars::testing::TestBroker {
    tars::testing::TestBroker::start()
        .await
        .with_mqtt_version(mqtt_version())
}

/// Subscribes `filter` on `client` at QoS 1; returns what its handler receives, in
/// order.
pub async fn collect(
    client: &tars::Client,
    filter: &str,
) -> mpsc::UnboundedReceiver<tars::Message> {
    let (sender, messages) = mpsc::unbounded_channel();
    client
        .subscribe_handler(filter, QoS::AtLeastOnce, forward_to(sender))
        .await
        .unwrap_or_else(|e| panic!("subscribe {filter}: {e}"));
    messages
}

/// A handler that sends every message it gets to `sender`.
pub fn forward_to(sender: mpsc::UnboundedSender<tars::Message>) -> impl tars::Handler {
    tars::handler_fn(move |message: tars::Message, _ctx: tars::Context| {
        let sender = sender.clone();
        async move {
            let _ = sender.send(message);
        }
    })
}

/// A plain rumqttc client that watches (and publishes on) the bus, independent of tars.
pub struct Probe {
    /// The raw client, to publish as a third party would.
    pub client: AsyncClient,
    messages: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Probe {
    /// Connects to `port` and subscribes to `filters` (QoS 1); returns once subscribed,
    /// failing the test after 10 s.
    pub async fn start(port: u16, filters: &[&str]) -> Self {
        Self::try_start(port, filters, Duration::from_secs(10))
            .await
            .expect("probe subscribed within 10 s")
    }

    /// As [`Probe::start`], `None` when not subscribed `within` (a stalled broker).
    pub async fn try_start(port: u16, filters: &[&str], within: Duration) -> Option<Self> {
        let id = format!("probe-{}", tars::new_id());
        let mut options = MqttOptions::new(id, ("127.0.0.1", port));
        options.set_keep_alive(30);
        options.set_max_packet_size(4 << 20, 4 << 20);
        let (client, mut event_loop) = AsyncClient::builder(options).capacity(1024).build();
        for filter in filters {
            client
                .subscribe(*filter, QoS::AtLeastOnce)
                .await
                .expect("queue subscribe");
        }
        let (tx, messages) = mpsc::unbounded_channel();
        let (subscribed_tx, subscribed) = tokio::sync::oneshot::channel();
        let mut subscribed_tx = Some(subscribed_tx);
        let mut acks_left = filters.len();
        let task = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::SubAck(_))) => {
                        acks_left = acks_left.saturating_sub(1);
                        if acks_left == 0 {
                            if let Some(s) = subscribed_tx.take() {
                                let _ = s.send(());
                            }
                        }
                    }
                    Ok(Event::Incoming(Packet::ConnAck(_))) if acks_left == 0 => {
                        if let Some(s) = subscribed_tx.take() {
                            let _ = s.send(());
                        }
                    }
                    Ok(Event::Incoming(Packet::Publish(p))) => {
                        let seen = Seen {
                            topic: String::from_utf8_lossy(&p.topic).into_owned(),
                            payload: p.payload.to_vec(),
                            retain: p.retain,
                        };
                        if tx.send(seen).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => {
                        eprintln!("probe connection error: {error}");
                        tokio::time::sleep(Duration::from_millis(100)).await
                    }
                }
            }
        });
        let probe = Self {
            client,
            messages,
            task,
        };
        match tokio::time::timeout(within, subscribed).await {
            Ok(Ok(())) => Some(probe),
            _ => None,
        }
    }

    /// The next message, or `None` after `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<Seen> {
        tokio::time::timeout(within, self.messages.recv())
            .await
            .ok()
            .flatten()
    }

    /// The next message on `topic` (others are skipped), failing the test after `within`.
    pub async fn expect_on(&mut self, topic: &str, within: Duration) -> Seen {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next_within(left).await {
                Some(seen) if seen.topic == topic => return seen,
                Some(_) => continue,
                None => panic!("nothing on {topic} within {within:?}"),
            }
        }
    }

    /// Everything received during `window`.
    pub async fn collect_for(&mut self, window: Duration) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + window;
        let mut all = Vec::new();
        while let Ok(Some(seen)) = tokio::time::timeout_at(deadline, self.messages.recv()).await {
            all.push(seen);
        }
        all
    }

    /// Publishes a raw payload.
    pub async fn publish(&self, topic: &str, qos: QoS, payload: impl Into<Vec<u8>>) {
        self.client
            .publish(topic, payload.into(), rumqttc::PublishOptions::new(qos))
            .await
            .expect("probe publish");
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// An envelope as a Python service publishes it (`Envelope.new(...).model_dump()`).
pub fn python_style_envelope(
    event_type: &str,
    data: serde_json::Value,
    correlate: Option<&str>,
) -> Vec<u8> {
    let id = correlate.map(str::to_owned).unwrap_or_else(tars::new_id);
    serde_json::to_vec(&serde_json::json!({
        "id": id, "type": event_type, "ts": tars::now_ts(), "source": "python-peer", "data": data,
    }))
    .expect("encode")
}

/// A configuration for `port` with a unique client id and fast reconnects.
pub fn config(port: u16, name: &str) -> tars::ConfigBuilder {
    tars::Config::builder(
        format!("mqtt://127.0.0.1:{port}"),
        format!("{name}-{}", &tars::new_id()[..8]),
    )
    .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
    .mqtt_version(mqtt_version())
}

/// The MQTT version the suite runs tars under: `TARS_TEST_MQTT_VERSION` (`3.1.1`, the
/// default, or `5`). `scripts/test.sh` runs the protocol tests under both.
pub fn mqtt_version() -> tars::MqttVersion {
    match std::env::var("TARS_TEST_MQTT_VERSION") {
        Ok(raw) if !raw.trim().is_empty() => raw
            .parse()
            .unwrap_or_else(|rule| panic!("TARS_TEST_MQTT_VERSION={raw:?} {rule}")),
        _ => tars::MqttVersion::V3_1_1,
    }
}

/// Polls `condition` every 10 ms until it holds, failing after `within`.
pub async fn eventually(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(
            Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Publishes `count` QoS 0 copies of `payload` on `topic` from a raw rumqttc client, as
/// fast as it goes; returns how many PUBLISH packets it wrote.
pub async fn flood(port: u16, topic: &str, payload: &'static [u8], count: u64) -> u64 {
    use rumqttc::{Outgoing, PublishOptions};

    let mut options = MqttOptions::new(format!("flood-{}", tars::new_id()), ("127.0.0.1", port));
    options.set_keep_alive(30);
    let (publisher, mut event_loop) = AsyncClient::builder(options).capacity(1024).build();
    let written = tokio::spawn(async move {
        let mut written = 0u64;
        while written < count {
            match event_loop.poll().await {
                Ok(Event::Outgoing(Outgoing::Publish(_))) => written += 1,
                Ok(_) => {}
                Err(error) => panic!("the flood publisher failed: {error}"),
            }
        }
        // Let the last packets leave the socket before the connection goes.
        let _ = tokio::time::timeout(Duration::from_millis(200), event_loop.poll()).await;
        written
    });
    let payload = bytes::Bytes::from_static(payload);
    for _ in 0..count {
        publisher
            .publish(topic, payload.clone(), PublishOptions::new(QoS::AtMostOnce))
            .await
            .expect("the flood publisher's channel is open");
    }
    written.await.expect("the flood publisher finished")
}

/// The resident set of process `pid`, in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

/// The Rust examples of `docs/` and the README compile, as doc tests of this crate (the
/// docs live outside the published crates). `docs/compile-errors.md` shows mistakes:
/// its examples are `compile_fail`, and `tars-mqtt/tests/ui` checks each error exactly.
#[cfg(doctest)]
mod docs {
    #[doc = include_str!("../../README.md")]
    struct Readme;
    #[doc = include_str!("../../docs/batching.md")]
    struct Batching;
    #[doc = include_str!("../../docs/compile-errors.md")]
    struct CompileErrors;
    #[doc = include_str!("../../docs/configuration.md")]
    struct Configuration;
    #[doc = include_str!("../../docs/extending.md")]
    struct Extending;
    #[doc = include_str!("../../docs/failure-policies.md")]
    struct FailurePolicies;
    #[doc = include_str!("../../docs/flow-control.md")]
    struct FlowControl;
    #[doc = include_str!("../../docs/guide.md")]
    struct Guide;
    #[doc = include_str!("../../docs/migration-from-python.md")]
    struct MigrationFromPython;
    #[doc = include_str!("../../docs/mqtt5.md")]
    struct Mqtt5;
    #[doc = include_str!("../../docs/observability.md")]
    struct Observability;
    #[doc = include_str!("../../docs/py-tars.md")]
    struct PyTars;
    #[doc = include_str!("../../docs/request-reply.md")]
    struct RequestReply;
    #[doc = include_str!("../../docs/shared-subscriptions.md")]
    struct SharedSubscriptions;
    #[doc = include_str!("../../docs/testing.md")]
    struct Testing;
}
