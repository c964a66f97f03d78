//! A tars client configured from the environment that handles `work/jobs` (QoS 1) with
//! a handler taking `WORK_MS` milliseconds, printing `started PAYLOAD` and
//! `handled PAYLOAD` on stdout (used to kill a service mid-handler). SIGTERM shuts it
//! down gracefully and it prints `stopped` before exiting 0.

use std::io::Write;
use std::time::Duration;

use tars::{Message, QoS};

#[tokio::main]
async fn main() {
    tars_tests::init_stderr_logging();
    let work = Duration::from_millis(
        std::env::var("WORK_MS")
            .ok()
            .and_then(|ms| ms.parse().ok())
            .unwrap_or(10),
    );
    let config = tars::Config::from_env().expect("configuration");
    let client = tars::Client::builder(config)
        .subscribe(
            "work/jobs",
            QoS::AtLeastOnce,
            move |message: Message| async move {
                let job = String::from_utf8_lossy(message.payload()).into_owned();
                say(&format!("started {job}"));
                tokio::time::sleep(work).await;
                say(&format!("handled {job}"));
            },
        )
        .connect()
        .await
        .expect("connect");
    say("connected");
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    terminate.recv().await;
    client.shutdown().await.expect("a graceful shutdown");
    say("stopped");
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
