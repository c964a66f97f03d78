//! At-least-once processing with a persistent session: a QoS 1 message is acknowledged
//! only after its handler finished, so a service killed mid-handler gets it again.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::Duration;

use tars::QoS;
use tars_tests::{init_tracing, Mosquitto, Probe};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use tars_tests::WAIT;

struct Worker {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    fn spawn(url: &str, client_id: &str, clean_session: bool, work_ms: u64) -> Self {
        Self::spawn_with(url, client_id, clean_session, work_ms, &[])
    }

    fn spawn_with(
        url: &str,
        client_id: &str,
        clean_session: bool,
        work_ms: u64,
        env: &[(&str, &str)],
    ) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_slow-worker"))
            .env("MQTT_URL", url)
            .env("MQTT_CLIENT_ID", client_id)
            .env("MQTT_CLEAN_SESSION", clean_session.to_string())
            .env("WORK_MS", work_ms.to_string())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .envs(env.iter().copied())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn slow-worker");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// Waits for a line; `None` if the worker says nothing more within `within`.
    async fn line_within(&mut self, within: Duration) -> Option<String> {
        tokio::time::timeout(within, self.lines.next_line())
            .await
            .ok()
            .and_then(|line| line.ok().flatten())
    }

    async fn expect(&mut self, want: &str) {
        loop {
            match self.line_within(WAIT).await {
                Some(line) if line == want => return,
                Some(_) => continue,
                None => panic!("the worker never said {want:?}"),
            }
        }
    }

    async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// Kills the worker mid-handler and starts it again with the same client id; returns
/// whether the restarted worker handled the job.
async fn killed_mid_handler_then_restarted(clean_session: bool) -> bool {
    let broker = Mosquitto::start();
    let client_id = format!("worker-{}", &tars::new_id()[..8]);
    let mut worker = Worker::spawn(&broker.url(), &client_id, clean_session, 60_000);
    worker.expect("connected").await;
    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("work/jobs", QoS::AtLeastOnce, "job-1").await;
    worker.expect("started job-1").await;
    worker.kill().await; // SIGKILL, mid-handler

    let mut again = Worker::spawn(&broker.url(), &client_id, clean_session, 10);
    // The redelivered job may be handled before `connected` is printed: read it all.
    let mut handled = false;
    let mut connected = false;
    while let Some(line) = again
        .line_within(Duration::from_secs(if connected { 3 } else { 10 }))
        .await
    {
        connected |= line == "connected";
        if line == "handled job-1" {
            handled = true;
            break;
        }
    }
    again.kill().await;
    handled
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_persistent_session_a_message_whose_handler_was_killed_is_handled_after_restart() {
    init_tracing();
    assert!(killed_mid_handler_then_restarted(false).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_clean_session_it_is_not_delivered_again() {
    init_tracing();
    // The control: what the persistent session adds.
    assert!(!killed_mid_handler_then_restarted(true).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_messages_are_acknowledged_and_not_delivered_again() {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("acker-{}", &tars::new_id()[..8]);
    let mut worker = Worker::spawn(&broker.url(), &client_id, false, 0);
    worker.expect("connected").await;
    let probe = Probe::start(broker.port(), &[]).await;
    let jobs = 300;
    for i in 0..jobs {
        probe
            .publish("work/jobs", QoS::AtLeastOnce, format!("job-{i}"))
            .await;
    }
    for i in 0..jobs {
        worker.expect(&format!("handled job-{i}")).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // the last acks go out
    worker.kill().await;

    let mut again = Worker::spawn(&broker.url(), &client_id, false, 0);
    // Anything but `connected` (before or after it) is a redelivered job.
    let mut lines = Vec::new();
    let mut connected = false;
    while let Some(line) = again
        .line_within(Duration::from_secs(if connected { 2 } else { 10 }))
        .await
    {
        connected |= line == "connected";
        lines.push(line);
    }
    assert_eq!(
        lines,
        ["connected"],
        "every handled message was acknowledged"
    );
    again.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_queued_for_a_persistent_session_survive_a_broker_restart() {
    init_tracing();
    // Writable by the `mosquitto` user, which mosquitto switches to when started as root.
    let store = tempfile::tempdir().unwrap();
    std::fs::set_permissions(store.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut broker = Mosquitto::start_with(&format!(
        "allow_anonymous true\nmax_queued_messages 0\npersistence true\npersistence_location {}/\n",
        store.path().display()
    ));
    let proxy = tars_tests::proxy::FaultProxy::start(broker.port()).await;
    let client_id = format!("durable-{}", &tars::new_id()[..8]);
    let mut worker = Worker::spawn(&proxy.url(), &client_id, false, 0);
    worker.expect("connected").await;

    // The worker goes offline; the broker keeps what arrives for its session.
    proxy.set_mode(tars_tests::proxy::Mode::Refuse);
    proxy.cut_all();
    let probe = Probe::start(broker.port(), &[]).await;
    let jobs = 100;
    for i in 0..jobs {
        probe
            .publish("work/jobs", QoS::AtLeastOnce, format!("job-{i}"))
            .await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await; // all in the broker
    drop(probe);
    broker.restart_gracefully();
    proxy.set_mode(tars_tests::proxy::Mode::Pass);

    for i in 0..jobs {
        worker.expect(&format!("handled job-{i}")).await;
    }
    worker.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_finishes_the_handlers_and_exits_0_without_the_last_will() {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("draining-{}", &tars::new_id()[..8]);
    let health = format!("system/health/{client_id}");
    let mut probe = Probe::start(broker.port(), &[&health]).await;
    let mut worker = Worker::spawn_with(
        &broker.url(),
        &client_id,
        true,
        200,
        &[("MQTT_ENABLE_HEALTH", "true")],
    );
    worker.expect("connected").await;
    let jobs = 10;
    for i in 0..jobs {
        probe
            .publish("work/jobs", QoS::AtLeastOnce, format!("job-{i}"))
            .await;
    }
    worker.expect("started job-0").await;
    let pid = worker.child.id().unwrap();
    std::process::Command::new("kill")
        .arg(pid.to_string())
        .status()
        .unwrap();
    // Every job queued when SIGTERM came is handled before the exit (5 s drain bound).
    let mut handled = 0;
    loop {
        match worker.line_within(WAIT).await {
            Some(line) if line.starts_with("handled ") => handled += 1,
            Some(line) if line == "stopped" => break,
            Some(_) => {}
            None => panic!("the worker never stopped"),
        }
    }
    assert_eq!(handled, jobs, "every in-flight and queued job finished");
    let status = worker.child.wait().await.unwrap();
    assert_eq!(status.code(), Some(0));
    let events: Vec<String> = probe
        .collect_for(Duration::from_millis(500))
        .await
        .iter()
        .map(|seen| {
            seen.json()["data"]["event"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(
        events.last().map(String::as_str),
        Some("shutdown"),
        "{events:?}"
    );
    assert!(
        !events.iter().any(|e| e == "lost"),
        "no last will: {events:?}"
    );
}
