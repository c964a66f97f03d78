//! `tars-bench outbox`: QoS 1 publishes from a real `#[tars::service]` process
//! (`bench-service`, `ctx.publish` in a loop) with the outbox in memory, and with the
//! durable outbox (`TARS_OUTBOX_DIR`) under each fsync policy, on mosquitto, counted by a
//! subscriber in this process.
//!
//! For each: the rate at which `publish().await` returned, the rate at which the
//! messages arrived, the service's CPU time per message, and the bytes it wrote to
//! disk per message (`write_bytes` of `/proc/PID/io`). Variants alternate within a run;
//! medians and ranges over `--runs`.

use std::time::Instant;

use tars::MqttVersion;
use tokio::io::AsyncWriteExt;

use crate::processes::{count_on, cpu_ns, median, range, spawn, wait_for, Side};

/// Where the service keeps its QoS 1 publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Memory,
    Grouped,
    Always,
}

impl Variant {
    const ALL: [Variant; 3] = [Variant::Memory, Variant::Grouped, Variant::Always];

    fn label(self) -> &'static str {
        match self {
            Variant::Memory => "in memory (no TARS_OUTBOX_DIR)",
            Variant::Grouped => "durable, fsync grouped within 5 ms",
            Variant::Always => "durable, fsync always",
        }
    }
}

/// What `outbox` measures.
pub struct Options {
    pub runs: usize,
    pub messages: u64,
}

struct Figures {
    publish_rate: f64,
    delivered_rate: f64,
    cpu_us: f64,
    disk_bytes: f64,
}

/// Bytes process `pid` caused to be written to storage.
fn write_bytes(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/io"))
        .ok()
        .and_then(|io| {
            io.lines()
                .find_map(|l| l.strip_prefix("write_bytes: ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

pub fn run(options: &Options) -> Result<(), String> {
    let runtime = crate::processes::one_thread_runtime()?;
    runtime.block_on(async {
        let broker =
            tars_tests::Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
        let mut all: Vec<(Variant, Figures)> = Vec::new();
        for run in 0..options.runs {
            let mut order = Variant::ALL;
            order.rotate_left(run % Variant::ALL.len());
            for variant in order {
                let figures = measure(broker.port(), variant, options.messages).await?;
                eprintln!(
                    "run {run}: {:<36} publish {:>8.0}/s, delivered {:>8.0}/s, {:>5.1} µs CPU, {:>5.0} disk bytes per message",
                    variant.label(),
                    figures.publish_rate,
                    figures.delivered_rate,
                    figures.cpu_us,
                    figures.disk_bytes
                );
                all.push((variant, figures));
            }
        }
        println!(
            "\nQoS 1 publishes of a #[tars::service] process ({} per run, ~150-byte envelopes), mosquitto and a counting subscriber in separate processes; median [range] of {} runs",
            options.messages, options.runs
        );
        println!("| outbox | publish returned (msg/s) | delivered (msg/s) | service CPU per message (µs) | disk bytes per message |");
        println!("| --- | --- | --- | --- | --- |");
        for variant in Variant::ALL {
            let of = |f: fn(&Figures) -> f64| -> Vec<f64> {
                all.iter().filter(|(v, _)| *v == variant).map(|(_, x)| f(x)).collect()
            };
            let spread = |values: Vec<f64>, digits: usize| {
                let (low, high) = range(&values);
                let mid = median(values.iter().copied());
                format!("{mid:.digits$} [{low:.digits$}–{high:.digits$}]")
            };
            println!(
                "| {} | {} | {} | {} | {} |",
                variant.label(),
                spread(of(|f| f.publish_rate), 0),
                spread(of(|f| f.delivered_rate), 0),
                spread(of(|f| f.cpu_us), 1),
                spread(of(|f| f.disk_bytes), 0),
            );
        }
        Ok(())
    })
}

async fn measure(port: u16, variant: Variant, messages: u64) -> Result<Figures, String> {
    let dir = std::env::temp_dir().join(format!("tars-bench-outbox-{}", &tars::new_id()[..8]));
    let mut vars = vec![
        ("BENCH_PUBLISH", messages.to_string()),
        ("BENCH_PUBLISH_QOS", "1".to_owned()),
    ];
    match variant {
        Variant::Memory => {}
        Variant::Grouped => vars.push(("TARS_OUTBOX_DIR", dir.display().to_string())),
        Variant::Always => {
            vars.push(("TARS_OUTBOX_DIR", dir.display().to_string()));
            vars.push(("TARS_OUTBOX_FSYNC", "always".to_owned()));
        }
    }
    let (counter, mut counted) = count_on(port, "bench/proc/out1", messages).await;
    let mut running = spawn(Side::Tars, port, MqttVersion::V3_1_1, &vars).await?;
    let mut stdin = running.child.stdin.take().ok_or("no stdin")?;
    let cpu_before = cpu_ns(running.pid);
    let written_before = write_bytes(running.pid);
    let started = Instant::now();
    stdin
        .write_all(b"go\n")
        .await
        .map_err(|e| format!("could not start the burst: {e}"))?;
    let published = format!("published {messages}");
    wait_for(
        &mut running.lines,
        &published,
        crate::processes::BURST_TIMEOUT,
        running.name,
    )
    .await?;
    let publish_elapsed = started.elapsed();
    tokio::time::timeout(crate::processes::BURST_TIMEOUT, &mut counted)
        .await
        .map_err(|_| format!("{messages} messages did not all arrive"))?
        .map_err(|_| "the counting subscriber stopped".to_owned())?;
    let delivered_elapsed = started.elapsed();
    let cpu = cpu_ns(running.pid).saturating_sub(cpu_before);
    let written = write_bytes(running.pid).saturating_sub(written_before);
    counter.abort();
    crate::memory::stop(&mut running.child).await;
    let _ = std::fs::remove_dir_all(&dir);
    let per = |x: f64| x / messages as f64;
    Ok(Figures {
        publish_rate: messages as f64 / publish_elapsed.as_secs_f64(),
        delivered_rate: messages as f64 / delivered_elapsed.as_secs_f64(),
        cpu_us: per(cpu as f64 / 1e3),
        disk_bytes: per(written as f64),
    })
}
