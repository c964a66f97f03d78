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
}

impl Cluster {
    /// Starts `count` nodes and returns once a message published on each node reaches a
    /// subscriber on every other one.
    pub async fn start(count: usize) -> Self {
        let binary = node_binary();
        let mut nodes: Vec<Node> = (1..=count as u64)
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
        let peers = peers.join(",");
        for node in &mut nodes {
            let mut child = Command::new(&binary)
                .args([
                    node.id.to_string(),
                    node.mqtt_port.to_string(),
                    node.grpc_port.to_string(),
                    peers.clone(),
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
        let cluster = Self { nodes };
        cluster.wait_until_routed().await;
        cluster
    }

    /// Waits until a message published on each node reaches every other node.
    async fn wait_until_routed(&self) {
        let mut probes = Vec::new();
        for node in &self.nodes {
            probes.push(Probe::start(node.mqtt_port, &["cluster/ready/+"]).await);
        }
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        for (from, node) in self.nodes.iter().enumerate() {
            let topic = format!("cluster/ready/{}", node.id);
            'routed: loop {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "the rmqtt nodes did not route to each other within 30 s"
                );
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
