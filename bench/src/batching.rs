//! `tars-bench batching`: a handler that appends to SQLite, called per message against
//! `batch = 100`, in separate processes: mosquitto, the service (`sqlite-service`, a
//! real `#[tars::service]`) and this process publishing at QoS 1 with a rumqttc client.
//!
//! - **Burst:** `--messages` readings as fast as the publisher goes; the rate from the
//!   first publish to the last commit, and the service's CPU time per message
//!   (`/proc/PID/task/*/schedstat`).
//! - **Steady:** a paced stream at half the burst rate of the batch handler (and, for
//!   the per-message handler, at half its own), for `--seconds`; the latency from each
//!   publish to its commit, p50 and p99, as the service measured it.
//!
//! Modes alternate within a run; medians and ranges over `--runs`.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use rumqttc::{PublishOptions, QoS};
use tokio::process::Command;

use crate::processes::{binary, cpu_ns, median, range, wait_for, READY_TIMEOUT};
use crate::raw;

/// The longest a burst or a stream may take.
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The handler under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    PerMessage,
    Batch,
}

impl Mode {
    fn topic(self) -> &'static str {
        match self {
            Mode::PerMessage => "bench/store/one",
            Mode::Batch => "bench/store/batch",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Mode::PerMessage => "per message",
            Mode::Batch => "batch = 100, 20 ms",
        }
    }
}

/// What `batching` measures.
pub struct Options {
    pub runs: usize,
    /// Readings per burst of the batch handler (the per-message handler gets a tenth).
    pub messages: u64,
    /// How long each steady stream lasts.
    pub seconds: u64,
}

/// One burst or stream: readings, seconds, the service's CPU nanoseconds, and the
/// latencies it reported (µs).
struct Outcome {
    rate: f64,
    cpu_us_per_message: f64,
    p50_us: u64,
    p99_us: u64,
}

pub fn run(options: &Options) -> Result<(), String> {
    let runtime = crate::processes::one_thread_runtime()?;
    runtime.block_on(async {
        let broker = tars_tests::Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
        let port = broker.port();
        let modes = [Mode::PerMessage, Mode::Batch];
        let mut bursts: Vec<(Mode, Outcome)> = Vec::new();
        for run in 0..options.runs {
            let order = if run % 2 == 0 { modes } else { [modes[1], modes[0]] };
            for mode in order {
                let count = match mode {
                    Mode::PerMessage => (options.messages / 10).max(100),
                    Mode::Batch => options.messages,
                };
                let outcome = measure(port, mode, count, None).await?;
                eprintln!(
                    "run {run}: burst {:<20} {:>9.0}/s, {:>6.1} µs CPU per message",
                    mode.label(),
                    outcome.rate,
                    outcome.cpu_us_per_message
                );
                bursts.push((mode, outcome));
            }
        }
        let burst_rate = |mode| median(bursts.iter().filter(|(m, _)| *m == mode).map(|(_, o)| o.rate));
        let mut streams: Vec<(Mode, u64, Outcome)> = Vec::new();
        for run in 0..options.runs {
            for mode in modes {
                let rate = (burst_rate(mode) / 2.0).max(1.0) as u64;
                let count = rate * options.seconds;
                let outcome = measure(port, mode, count, Some(rate)).await?;
                eprintln!(
                    "run {run}: steady {:<20} {rate:>7}/s: p50 {:.1} ms, p99 {:.1} ms, {:.1} µs CPU per message",
                    mode.label(),
                    outcome.p50_us as f64 / 1e3,
                    outcome.p99_us as f64 / 1e3,
                    outcome.cpu_us_per_message
                );
                streams.push((mode, rate, outcome));
            }
        }
        print(options, &bursts, &streams);
        Ok(())
    })
}

fn print(options: &Options, bursts: &[(Mode, Outcome)], streams: &[(Mode, u64, Outcome)]) {
    println!(
        "\nSQLite appends at QoS 1 (WAL, synchronous = FULL), service, mosquitto and publisher in separate processes; \
         median [range] of {} runs",
        options.runs
    );
    println!(
        "| handler | burst rate (msg/s) | CPU per message (µs) | steady rate (msg/s) | p50 publish → committed (ms) | p99 (ms) |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for mode in [Mode::PerMessage, Mode::Batch] {
        let burst: Vec<&Outcome> = bursts
            .iter()
            .filter(|(m, _)| *m == mode)
            .map(|(_, o)| o)
            .collect();
        let stream: Vec<(&u64, &Outcome)> = streams
            .iter()
            .filter(|(m, _, _)| *m == mode)
            .map(|(_, r, o)| (r, o))
            .collect();
        let spread = |values: Vec<f64>, scale: f64, digits: usize| {
            let (low, high) = range(&values);
            format!(
                "{:.*} [{:.*}–{:.*}]",
                digits,
                median(values.iter().copied()) / scale,
                digits,
                low / scale,
                digits,
                high / scale
            )
        };
        println!(
            "| {} | {} | {} | {} | {} | {} |",
            mode.label(),
            spread(burst.iter().map(|o| o.rate).collect(), 1.0, 0),
            spread(burst.iter().map(|o| o.cpu_us_per_message).collect(), 1.0, 1),
            stream.first().map_or(0, |(r, _)| **r),
            spread(
                stream.iter().map(|(_, o)| o.p50_us as f64).collect(),
                1e3,
                1
            ),
            spread(
                stream.iter().map(|(_, o)| o.p99_us as f64).collect(),
                1e3,
                1
            ),
        );
    }
    let rate = |mode| {
        median(
            bursts
                .iter()
                .filter(|(m, _)| *m == mode)
                .map(|(_, o)| o.rate),
        )
    };
    println!(
        "\nbatch / per message: {:.1}x the rate",
        rate(Mode::Batch) / rate(Mode::PerMessage)
    );
}

/// One service process, a fresh database, `count` readings: as fast as they go, or at
/// `pace` a second.
async fn measure(port: u16, mode: Mode, count: u64, pace: Option<u64>) -> Result<Outcome, String> {
    let dir = std::env::temp_dir().join(format!("tars-bench-sqlite-{}", &tars::new_id()[..8]));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let mut child = Command::new(binary("sqlite-service"))
        .env("MQTT_URL", format!("mqtt://127.0.0.1:{port}"))
        .env(
            "MQTT_CLIENT_ID",
            format!("sqlite-service-{}", &tars::new_id()[..8]),
        )
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("BENCH_DB", dir.join("readings.db"))
        .env("BENCH_EXPECT", count.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("could not start sqlite-service: {e}"))?;
    let pid = child.id().ok_or("sqlite-service exited at once")?;
    let stdout = child.stdout.take().expect("piped");
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
    wait_for(&mut lines, "ready", READY_TIMEOUT, "sqlite-service").await?;
    // The subscriptions go out right after `ready`: give them their SUBACK.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let cpu_before = cpu_ns(pid);
    let started = Instant::now();
    let publisher = tokio::spawn(publish(port, mode.topic(), count, pace));
    let done = format!("done {count}");
    wait_for(&mut lines, &done, RUN_TIMEOUT, "sqlite-service").await?;
    let elapsed = started.elapsed();
    let cpu = cpu_ns(pid).saturating_sub(cpu_before);
    let latency = tokio::time::timeout(READY_TIMEOUT, lines.next_line())
        .await
        .map_err(|_| "no latency line")?
        .map_err(|e| e.to_string())?
        .ok_or("sqlite-service exited before its latency line")?;
    let figures: Vec<u64> = latency
        .strip_prefix("latency ")
        .ok_or_else(|| format!("unexpected line {latency:?}"))?
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    publisher.await.map_err(|e| e.to_string())?;
    crate::memory::stop(&mut child).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Outcome {
        rate: count as f64 / elapsed.as_secs_f64(),
        cpu_us_per_message: cpu as f64 / 1e3 / count as f64,
        p50_us: figures.first().copied().unwrap_or(0),
        p99_us: figures.get(1).copied().unwrap_or(0),
    })
}

/// A reading as an envelope, stamped with the time it is published.
fn reading(seq: u64) -> Bytes {
    let sent_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let data = serde_json::json!({ "seq": seq, "sent_ns": sent_ns, "celsius": 21.5 });
    let envelope = tars::Envelope::new("bench.reading", "bench-publisher", data);
    Bytes::from(serde_json::to_vec(&envelope).expect("serializes"))
}

/// Publishes `count` readings at QoS 1 from a raw client, as fast as it goes or at
/// `pace` a second (a thread's sleep between slices of 4: tokio's timer counts
/// milliseconds).
async fn publish(port: u16, topic: &'static str, count: u64, pace: Option<u64>) {
    let (client, mut event_loop) = raw::connect(
        port,
        &format!("bench-sqlite-publisher-{}", &tars::new_id()[..8]),
    );
    let feeder = tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        for seq in 0..count {
            if let Some(rate) = pace {
                if seq % 4 == 0 {
                    let due = started + Duration::from_secs_f64(seq as f64 / rate as f64);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }
            let payload = reading(seq);
            loop {
                match client.try_publish(
                    topic,
                    payload.clone(),
                    PublishOptions::new(QoS::AtLeastOnce),
                ) {
                    Ok(()) => break,
                    Err(rumqttc::ClientError::RequestChannelFull(_)) => {
                        std::thread::sleep(Duration::from_micros(50));
                    }
                    Err(_) => return,
                }
            }
        }
    });
    raw::drive_publishes(&mut event_loop, count).await;
    let _ = feeder.await;
    raw::settle(&mut event_loop).await;
}
