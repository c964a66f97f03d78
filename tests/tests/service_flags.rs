//! A `#[tars::service]` binary explains itself (`--help`, `--version`, `--check`,
//! `--asyncapi`) without ever connecting to a broker, and refuses unknown flags.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tars_tests::process::example_binary;

/// A TCP listener standing in for a broker: it counts the connections it is offered.
struct Listener {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Listener {
    fn start() -> Self {
        let socket = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = socket.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        std::thread::spawn(move || {
            for stream in socket.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { port, accepted }
    }

    fn accepted(&self) -> usize {
        // A connection attempt would come within moments of the start.
        std::thread::sleep(Duration::from_millis(300));
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Runs the pipeline example with `args` in `dir`, with exactly the variables given.
fn run(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let mut command = Command::new(example_binary("pipeline"));
    for (name, _) in std::env::vars() {
        if name.starts_with("MQTT_") || name.starts_with("TARS_") || name.starts_with("OTEL_") {
            command.env_remove(name);
        }
    }
    let Output {
        status,
        stdout,
        stderr,
    } = command
        .args(args)
        .envs(vars.iter().copied())
        .current_dir(dir)
        .output()
        .expect("run the pipeline example");
    (
        status.code(),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

#[test]
fn help_lists_handlers_events_and_variables_without_connecting() {
    let broker = Listener::start();
    let dir = tempfile::tempdir().unwrap();
    // A .env naming the broker, as in production: --help must not use it.
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    std::fs::write(dir.path().join(".env"), format!("MQTT_URL={url}\n")).unwrap();
    let (code, stdout, stderr) = run(dir.path(), &["--help"], &[("MQTT_URL", &url)]);
    assert_eq!(code, Some(0), "{stderr}");
    for expected in [
        "tars-pipeline 0.1.0",
        "understand",
        "stt/final",
        "qos 1",
        "takes stt.final",
        "replies llm.request on llm/request",
        "pipeline/voice/+",
        "tts.say",
        "TtsSay",
        "MQTT_URL",
        "MQTT_HEARTBEAT_INTERVAL",
        "[30]",
        "MQTT_CLIENT_ID",
        "[tars-pipeline]",
        "TARS_METRICS_ADDR",
        "TARS_WORKER_THREADS",
    ] {
        assert!(
            stdout.contains(expected),
            "--help lacks {expected:?}:\n{stdout}"
        );
    }
    assert_eq!(broker.accepted(), 0, "--help connected to the broker");
}

#[test]
fn version_prints_name_and_version_without_connecting() {
    let broker = Listener::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--version", "-V"] {
        let (code, stdout, _) = run(dir.path(), &[flag], &[("MQTT_URL", &url)]);
        assert_eq!(code, Some(0));
        assert_eq!(stdout.trim(), "tars-pipeline 0.1.0");
    }
    assert_eq!(broker.accepted(), 0, "--version connected to the broker");
}

#[test]
fn check_prints_the_configuration_masked_and_never_connects() {
    let broker = Listener::start();
    let url = format!("mqtt://bob:hunter2@127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(
        dir.path(),
        &["--check"],
        &[("MQTT_URL", &url), ("MQTT_KEEPALIVE", "15")],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("the configuration is valid"), "{stdout}");
    assert!(stdout.contains("bob:***@127.0.0.1"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|l| l.contains("MQTT_KEEPALIVE") && l.ends_with(" 15")),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2") && !stderr.contains("hunter2"));
    assert_eq!(broker.accepted(), 0, "--check connected to the broker");
}

#[test]
fn check_names_the_bad_variable_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, stderr) = run(
        dir.path(),
        &["--check"],
        &[
            ("MQTT_URL", "mqtt://bob:hunter2@127.0.0.1:1883"),
            ("MQTT_HEARTBEAT_INTERVAL", "soon"),
        ],
    );
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("MQTT_HEARTBEAT_INTERVAL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");
    for (variable, value) in [("TARS_WORKER_THREADS", "0"), ("TARS_LOG_FORMAT", "yaml")] {
        let (code, _, stderr) = run(
            dir.path(),
            &["--check"],
            &[("MQTT_URL", "mqtt://127.0.0.1:1883"), (variable, value)],
        );
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(variable), "{stderr}");
    }
    let (code, _, stderr) = run(dir.path(), &["--check"], &[]);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("MQTT_URL"), "{stderr}");
}

#[test]
fn an_unknown_flag_exits_2_and_lists_the_known_ones() {
    let broker = Listener::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), &["--port", "9000"], &[("MQTT_URL", &url)]);
    assert_eq!(code, Some(2), "{stdout}{stderr}");
    for flag in ["\"--port\"", "--help", "--version", "--check", "--asyncapi"] {
        assert!(stderr.contains(flag), "the error lacks {flag}: {stderr}");
    }
    assert_eq!(
        broker.accepted(),
        0,
        "an unknown flag connected to the broker"
    );
}

#[test]
fn asyncapi_still_prints_the_document_without_connecting() {
    let broker = Listener::start();
    let url = format!("mqtt://127.0.0.1:{}", broker.port);
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = run(dir.path(), &["--asyncapi"], &[("MQTT_URL", &url)]);
    assert_eq!(code, Some(0), "{stderr}");
    let document: serde_json::Value = serde_json::from_str(&stdout).expect("JSON");
    assert_eq!(document["asyncapi"], "3.0.0");
    assert!(document["operations"]["receive_understand"].is_object());
    assert_eq!(broker.accepted(), 0);
}

/// A service with no handler and an empty body.
fn empty_service(attributes: &str, name: &str) -> std::path::PathBuf {
    let main_rs = format!("#[tars::service({attributes})]\nasync fn main() {{}}\n");
    tars_tests::process::scratch_binary(name, &[], "", &main_rs)
}

#[test]
fn a_service_with_nothing_to_do_exits_2_and_says_how_to_link_library_handlers() {
    let binary = empty_service("name = \"empty\"", "empty-service");
    let output = Command::new(&binary)
        .arg("--check")
        .env("MQTT_URL", "mqtt://127.0.0.1:1")
        .output()
        .expect("run the empty service");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("handlers = [my_lib]"), "{stderr}");
    assert!(stderr.contains("allow_empty"), "{stderr}");
}

#[test]
fn the_service_tuning_is_the_default_and_tars_variables_override_it() {
    let binary = empty_service(
        "name = \"tuned\", drain_timeout = \"30s\", request_timeout = \"3s\", queue = 64, worker_threads = 2, allow_empty",
        "tuned-service",
    );
    let check = |vars: &[(&str, &str)]| {
        let output = Command::new(&binary)
            .arg("--check")
            .env("MQTT_URL", "mqtt://127.0.0.1:1")
            .env_remove("TARS_DRAIN_TIMEOUT")
            .env_remove("TARS_REQUEST_TIMEOUT")
            .env_remove("TARS_WORKER_THREADS")
            .envs(vars.iter().copied())
            .output()
            .expect("run the tuned service");
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{stdout}{}",
            String::from_utf8_lossy(&output.stderr)
        );
        stdout
    };
    let line = |report: &str, name: &str| {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(name))
            .map(|l| l.split_whitespace().last().unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("{name} missing from:\n{report}"))
    };
    let report = check(&[]);
    assert_eq!(line(&report, "TARS_DRAIN_TIMEOUT"), "30s");
    assert_eq!(line(&report, "TARS_REQUEST_TIMEOUT"), "3s");
    assert_eq!(line(&report, "TARS_WORKER_THREADS"), "2");
    let report = check(&[("TARS_DRAIN_TIMEOUT", "2m"), ("TARS_WORKER_THREADS", "3")]);
    assert_eq!(line(&report, "TARS_DRAIN_TIMEOUT"), "120s");
    assert_eq!(line(&report, "TARS_WORKER_THREADS"), "3");
    let help = Command::new(&binary).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("TARS_DRAIN_TIMEOUT"), "{help}");
}

#[test]
fn logs_sent_to_a_pipe_carry_no_colour_codes() {
    let mut child = Command::new(example_binary("pipeline"))
        .env(
            "MQTT_URL",
            format!("mqtt://127.0.0.1:{}", tars_tests::free_port()),
        )
        .env("MQTT_RECONNECT_MIN_DELAY", "0.2")
        .env("MQTT_RECONNECT_MAX_DELAY", "0.5")
        .env_remove("NO_COLOR")
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run the pipeline");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&output.stdout);
    assert!(
        logs.contains("cannot connect"),
        "no log lines to check:\n{logs}"
    );
    assert!(
        !logs.contains('\u{1b}'),
        "colour codes in piped logs:\n{logs:?}"
    );
}
