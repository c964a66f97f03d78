//! Running the Python TARS peer (`tests/python/peer.py`).

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// How to get the peer's dependencies when they are missing.
pub const INSTALL_HINT: &str =
    "the interop tests need python3 with paho-mqtt, pydantic and faststream[mqtt]: \
     `pip install -r tests/python/requirements.txt` (or run `bash scripts/test.sh`)";

/// The running peer and its output lines.
pub struct PythonPeer {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

/// Runs `tests/python/{script}` with `args` and returns once it printed `READY`, with
/// the rest of its output to read.
async fn start_until_ready(script: &str, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new("python3")
        .arg(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("python")
                .join(script),
        )
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("could not run python3 ({e}); {INSTALL_HINT}"));
    let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
    loop {
        match lines.next_line().await.expect("read the script's output") {
            Some(line) if line == "READY" => return (child, lines),
            Some(_) => continue,
            None => panic!("{script} exited before READY; {INSTALL_HINT}"),
        }
    }
}

impl PythonPeer {
    /// Starts the peer against the broker on `port`, watching `client_id`'s health and
    /// heartbeat, for at most `seconds`; returns once it printed `READY`.
    pub async fn start(port: u16, client_id: &str, seconds: u32) -> Self {
        let port = port.to_string();
        let seconds = seconds.to_string();
        let (child, lines) =
            start_until_ready("peer.py", &["127.0.0.1", &port, client_id, &seconds]).await;
        Self { child, lines }
    }

    async fn next_line(&mut self) -> Option<String> {
        self.lines.next_line().await.expect("read peer output")
    }

    /// Waits for the peer to finish and returns its summary.
    pub async fn summary(mut self) -> serde_json::Value {
        while let Some(line) = self.next_line().await {
            if let Some(json) = line.strip_prefix("SUMMARY ") {
                let _ = self.child.wait().await;
                return serde_json::from_str(json).expect("summary is JSON");
            }
        }
        panic!("the Python peer exited without a summary");
    }
}

/// Runs `tests/python/{script}` with `args`, `input` on its stdin; returns what it did.
pub fn run_script(script: &str, args: &[&std::ffi::OsStr], input: &str) -> std::process::Output {
    use std::io::Write;

    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("python")
        .join(script);
    let mut child = std::process::Command::new("python3")
        .arg(path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("could not run python3 ({e}); {INSTALL_HINT}"));
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(input.as_bytes())
        .expect("write to the script");
    child.wait_with_output().expect("wait for the script")
}

/// A Python service as the Python `MQTTClient` runs one (`tests/python/py_service.py`):
/// retained health with a last will, heartbeats every second, no manifest; it answers
/// envelopes on `py/echo` on `py/echo/reply`. Killed when dropped.
pub struct PythonService {
    child: Child,
}

impl PythonService {
    /// Starts it against the broker on `port`; returns once its health is published.
    pub async fn start(port: u16, client_id: &str) -> Self {
        let port = port.to_string();
        let (child, _) = start_until_ready("py_service.py", &["127.0.0.1", &port, client_id]).await;
        Self { child }
    }

    /// Kills it without a goodbye: the broker publishes its last will.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}
