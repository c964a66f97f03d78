//! A 3-node rmqtt broker cluster on loopback ports (`tests/rmqtt-node`, rmqtt 0.24 with
//! its broadcast cluster, shared subscription and retainer plugins), one process per
//! node so that a test can kill one. The node binary is built once, in release mode,
//! into `target/rmqtt-node` (a few minutes the first time; `protoc` is needed, from
//! Debian's `protobuf-compiler`).

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::process::{cargo_build, target_dir, workspace_root};
use crate::{free_port, Probe};

const INSTALL_HINT: &str = "the cluster tests build an rmqtt node, which needs protoc: \
    `apt-get install protobuf-compiler` (or run `bash scripts/test.sh`)";

/// The node binary, built if needed.
pub fn node_binary() -> PathBuf {
    let has_protoc = std::process::Command::new("protoc")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(has_protoc, "protoc not found; {INSTALL_HINT}");
    let manifest = workspace_root().join("tests/rmqtt-node/Cargo.toml");
    let target = target_dir().join("rmqtt-node");
    cargo_build(
        &workspace_root(),
        &[
            "--release",
            "--manifest-path",
            manifest.to_str().expect("UTF-8 path"),
            "--target-dir",
            target.to_str().expect("UTF-8 path"),
        ],
    );
    target.join("release/tars-rmqtt-node")
}

/// One node: its ports and its process while it runs.
pub struct Node {
    pub id: u64,
    pub mqtt_port: u16,
    grpc_port: u16,
    child: Option<Child>,
}

impl Node {
    /// `mqtt://127.0.0.1:{port}`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.mqtt_port)
    }

    /// Whether its process runs.
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }
}

/// The running cluster.
pub struct Cluster {
    pub nodes: Vec<Node>,
    binary: PathBuf,
    /// Every node's gRPC address, `id@127.0.0.1:port`, comma-separated.
    peers: String,
}

impl Cluster {
    /// Starts `count` nodes and returns once a message published on each node reaches a
    /// subscriber on every other one.
    pub async fn start(count: usize) -> Self {
        let binary = node_binary();
        let nodes: Vec<Node> = (1..=count as u64)
            .map(|id| Node {
                id,
                mqtt_port: free_port(),
                grpc_port: free_port(),
                child: None,
            })
            .collect();
        let peers: Vec<String> = nodes
            .iter()
            .map(|n| format!("{}@127.0.0.1:{}", n.id, n.grpc_port))
            .collect();
        let mut cluster = Self {
            nodes,
            binary,
            peers: peers.join(","),
        };
        for index in 0..count {
            cluster.spawn(index).await;
        }
        assert!(
            cluster.routed_within(Duration::from_secs(30)).await,
            "the rmqtt nodes did not route to each other within 30 s"
        );
        cluster
    }

    /// Starts node `index`'s process on its ports and waits until it listens.
    async fn spawn(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        let mut child = Command::new(&self.binary)
            .args([
                node.id.to_string(),
                node.mqtt_port.to_string(),
                node.grpc_port.to_string(),
                self.peers.clone(),
            ])
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start an rmqtt node ({e})"));
        let mut lines = BufReader::new(child.stdout.take().expect("piped")).lines();
        // Generous: a loaded 2-core machine starts three nodes per test, three tests at once.
        let ready = tokio::time::timeout(Duration::from_secs(90), async {
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "READY" {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(ready, Ok(true), "rmqtt node {} did not start", node.id);
        node.child = Some(child);
    }

    /// Starts node `index` again after [`Cluster::kill`], on the same ports and with the
    /// same peers, and waits until it listens (not until it routes: see
    /// [`Cluster::routed_within`]).
    pub async fn restart(&mut self, index: usize) {
        if self.nodes[index].child.is_none() {
            self.spawn(index).await;
        }
    }

    /// Whether, within `timeout`, a message published on each running node reaches a
    /// subscriber on every other running node.
    pub async fn routed_within(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        let running: Vec<&Node> = self.nodes.iter().filter(|n| n.is_running()).collect();
        let mut probes = Vec::new();
        for node in &running {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match Probe::try_start(node.mqtt_port, &["cluster/ready/+"], left).await {
                Some(probe) => probes.push(probe),
                None => return false,
            }
        }
        for (from, node) in running.iter().enumerate() {
            let topic = format!("cluster/ready/{}", node.id);
            'routed: loop {
                if tokio::time::Instant::now() >= deadline {
                    return false;
                }
                probes[from]
                    .publish(&topic, rumqttc::QoS::AtMostOnce, "ping")
                    .await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                for (to, probe) in probes.iter_mut().enumerate() {
                    let seen = probe.collect_for(Duration::from_millis(50)).await;
                    if to != from && !seen.iter().any(|s| s.topic == topic) {
                        continue 'routed;
                    }
                }
                break;
            }
        }
        true
    }

    /// `MQTT_URL` listing every node, starting with node `first` (0-based).
    pub fn urls_from(&self, first: usize) -> String {
        let count = self.nodes.len();
        (0..count)
            .map(|i| self.nodes[(first + i) % count].url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The process ids of the running nodes.
    pub fn pids(&self) -> Vec<u32> {
        self.nodes
            .iter()
            .filter_map(|n| n.child.as_ref()?.id())
            .collect()
    }

    /// Kills node `index` (0-based) without a goodbye.
    pub async fn kill(&mut self, index: usize) {
        if let Some(mut child) = self.nodes[index].child.take() {
            let _ = child.kill().await;
        }
    }
}
