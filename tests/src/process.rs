//! Building the example services and running them as processes.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// The workspace's root folder.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_owned()
}

/// Where cargo puts build outputs.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

static BUILD: Mutex<()> = Mutex::new(());

/// Runs `cargo build` with `args` in `dir` (one build at a time within a test binary).
pub fn cargo_build(dir: &Path, args: &[&str]) {
    cargo(dir, "build", args);
}

/// Runs `cargo COMMAND --quiet ARGS` in `dir` with the workspace's target folder, so
/// that what the workspace built is reused (one at a time within a test binary);
/// returns its standard output.
pub fn cargo(dir: &Path, command: &str, args: &[&str]) -> String {
    let _one_at_a_time = BUILD.lock().unwrap_or_else(|p| p.into_inner());
    let output = std::process::Command::new(env!("CARGO"))
        .arg(command)
        .arg("--quiet")
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "cargo {command} {args:?} in {} failed:\n{}{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Builds a scratch binary crate named `name` outside the workspace, depending on the
/// workspace's `tars-mqtt` (with `tars_features`) and on `extra_deps` (Cargo.toml lines),
/// with `main_rs` as its `src/main.rs`; returns its binary. It uses the workspace's lock
/// file and target folder, so the same versions are used and reused.
pub fn scratch_binary(
    name: &str,
    tars_features: &[&str],
    extra_deps: &str,
    main_rs: &str,
) -> PathBuf {
    let dir = tempfile::tempdir().expect("temp dir");
    let manifest = format!(
        "[package]\nname = {name:?}\nversion = \"1.2.3\"\nedition = \"2021\"\n\n[dependencies]\n\
         tars-mqtt = {{ path = {:?}, features = {tars_features:?} }}\n{extra_deps}\n\n[workspace]\n",
        workspace_root().join("tars-mqtt").display().to_string()
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .expect("copy Cargo.lock");
    std::fs::create_dir(dir.path().join("src")).expect("src");
    std::fs::write(dir.path().join("src/main.rs"), main_rs).expect("write main.rs");
    cargo_build(dir.path(), &[]);
    target_dir().join("debug").join(name)
}

/// Builds an example of the workspace and returns its binary.
pub fn example_binary(name: &str) -> PathBuf {
    cargo_build(
        &workspace_root(),
        &["-p", "tars-examples", "--example", name],
    );
    target_dir().join("debug/examples").join(name)
}

/// A running service process whose output is collected.
pub struct ServiceProcess {
    child: Child,
    output: Arc<Mutex<String>>,
    /// The tasks copying its stdout and stderr; they end at the end of the pipes.
    collectors: Vec<tokio::task::JoinHandle<()>>,
}

fn collect(
    stream: impl AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<String>>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut lines = BufReader::new(stream).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            let mut all = into.lock().unwrap();
            all.push_str(&line);
            all.push('\n');
        }
    })
}

impl ServiceProcess {
    /// Starts `binary` in the temp folder with exactly the `MQTT_*` variables given
    /// (others removed).
    pub fn spawn(binary: &Path, vars: &[(&str, &str)]) -> Self {
        Self::spawn_in(binary, &std::env::temp_dir(), vars)
    }

    /// Starts `binary` in `dir` (where it may find a `.env`) with exactly the `MQTT_*`
    /// variables given, and the suite's MQTT version ([`crate::mqtt_version`]) unless
    /// they name one.
    pub fn spawn_in(binary: &Path, dir: &Path, vars: &[(&str, &str)]) -> Self {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars() {
            if name.starts_with("MQTT_") || name == "TARS_LOG_FORMAT" || name == "TARS_METRICS_ADDR"
            {
                command.env_remove(name);
            }
        }
        if !vars.iter().any(|(name, _)| *name == "MQTT_VERSION") {
            command.env("MQTT_VERSION", crate::mqtt_version().as_str());
        }
        command
            .envs(vars.iter().copied())
            .env("NO_COLOR", "1")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", binary.display()));
        let output = Arc::new(Mutex::new(String::new()));
        let collectors = vec![
            collect(child.stdout.take().expect("stdout"), output.clone()),
            collect(child.stderr.take().expect("stderr"), output.clone()),
        ];
        Self {
            child,
            output,
            collectors,
        }
    }

    /// Its process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// Whether it has exited (without waiting).
    pub fn has_exited(&mut self) -> bool {
        !matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends a signal (`TERM`, `INT`, `KILL`).
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().expect("process still running");
        let status = std::process::Command::new("kill")
            .arg(format!("-{name}"))
            .arg(pid.to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{name} {pid} failed");
    }

    /// Waits for the process to exit, failing the test after `within`.
    pub async fn exit_within(&mut self, within: Duration) -> ExitStatus {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status.expect("wait for the service"),
            Err(_) => panic!(
                "the service did not exit within {within:?}; output:\n{}",
                self.output()
            ),
        };
        // Everything it printed is collected once both pipes reach their end (a child it
        // left behind could hold them open: give up after a moment then).
        for collector in self.collectors.drain(..) {
            let _ = tokio::time::timeout(Duration::from_secs(5), collector).await;
        }
        status
    }

    /// Everything it printed so far (stdout and stderr).
    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until it printed exactly `line`, failing the test after `within`.
    pub async fn wait_for_line(&self, line: &str, within: Duration) {
        self.wait_until(within, &format!("the line {line:?}"), |output| {
            output.lines().any(|l| l == line)
        })
        .await;
    }

    /// Waits until its output contains `part`, failing the test after `within`.
    pub async fn wait_for_output(&self, part: &str, within: Duration) {
        self.wait_until(within, &format!("{part:?}"), |output| output.contains(part))
            .await;
    }

    async fn wait_until(&self, within: Duration, what: &str, done: impl Fn(&str) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        while !done(&self.output()) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the service never printed {what} within {within:?}:\n{}",
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `tars` command (crate `tars-cli`), built if needed.
pub fn cli_binary() -> PathBuf {
    cargo_build(&workspace_root(), &["-p", "tars-cli", "--bin", "tars"]);
    target_dir().join("debug/tars")
}
