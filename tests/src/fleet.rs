//! A small fleet on its own mosquitto, for the tests of the `tars` command and its
//! dashboard: the pipeline example (`tars-pipeline`, keepalive 1 s so that a kill
//! fires its last will at once), a text-to-speech service that takes its `tts.say`
//! (`tars-tts`, serving its metrics endpoint), and a Python service (`py-llm`: health and heartbeat, no manifest).

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use crate::process::{
    cargo_build, cli_binary, example_binary, target_dir, workspace_root, ServiceProcess,
};
use crate::python::PythonService;
use crate::{Mosquitto, Probe};

/// The Python service's client id.
pub const PYTHON_ID: &str = "py-llm";

/// The running fleet.
pub struct Fleet {
    pub broker: Mosquitto,
    pub pipeline: ServiceProcess,
    pub tts: ServiceProcess,
    pub python: PythonService,
}

impl Fleet {
    /// Starts everything; returns once each has published its health `ready`.
    pub async fn start() -> Self {
        let broker = Mosquitto::start();
        let url = broker.url();
        let mut health = Probe::start(broker.port(), &["system/health/+"]).await;
        let quick = [
            ("MQTT_URL", url.as_str()),
            ("MQTT_VERSION", "3.1.1"),
            ("MQTT_KEEPALIVE", "1"),
            ("MQTT_HEARTBEAT_INTERVAL", "1"),
        ];
        let pipeline = ServiceProcess::spawn(&example_binary("pipeline"), &quick);
        let metrics = format!("127.0.0.1:{}", crate::free_port());
        let mut tts_vars = quick.to_vec();
        tts_vars.push(("TARS_METRICS_ADDR", &metrics));
        let tts = ServiceProcess::spawn(&tts_binary(), &tts_vars);
        let python = PythonService::start(broker.port(), PYTHON_ID).await;
        for client_id in ["tars-pipeline", "tars-tts"] {
            let topic = format!("system/health/{client_id}");
            let seen = health.expect_on(&topic, Duration::from_secs(30)).await;
            assert_eq!(
                seen.json()["data"]["event"],
                "ready",
                "{client_id} is not ready"
            );
        }
        Self {
            broker,
            pipeline,
            tts,
            python,
        }
    }

    /// The broker's URL.
    pub fn url(&self) -> String {
        self.broker.url()
    }
}

/// The text-to-speech stand-in (`tests/src/bin/tts_service.rs`), built if needed.
fn tts_binary() -> PathBuf {
    cargo_build(
        &workspace_root(),
        &["-p", "tars-tests", "--bin", "tts-service"],
    );
    target_dir().join("debug/tts-service")
}

/// Runs `tars` with `args` (the environment's `MQTT_*` removed) to its end.
pub fn tars(args: &[&str]) -> Output {
    let mut command = std::process::Command::new(cli_binary());
    for (name, _) in std::env::vars() {
        if name.starts_with("MQTT_") {
            command.env_remove(name);
        }
    }
    command.args(args).output().expect("run the tars command")
}

/// Its standard output, failing the test (with both streams) unless it exited 0.
pub fn tars_ok(args: &[&str]) -> String {
    let output = tars(args);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "tars {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}
