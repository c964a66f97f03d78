//! `tars-bench cluster`: jobs per second through a share group of 1, 2 and 4 worker
//! processes (the `shared_workers` example, release build), spread round the nodes of a
//! 3-node rmqtt cluster on loopback. Each job is a QoS 1 envelope published on node 1;
//! each worker answers it with a QoS 1 `jobs.done` report, counted on node 2. The rate
//! runs from the first job published to the last report received; the CPU time is the
//! workers' and the broker nodes', from `/proc`.

use std::time::{Duration, Instant};

use rumqttc::QoS;
use serde_json::json;
use tars_tests::cluster::Cluster;
use tars_tests::process::{cargo_build, target_dir, workspace_root, ServiceProcess};
use tars_tests::{python_style_envelope, Probe};

const GROUP_SIZES: [usize; 3] = [1, 2, 4];
const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// One group size's figures.
#[derive(Debug)]
struct Figures {
    workers: usize,
    jobs_per_s: f64,
    worker_cpu_s: f64,
    broker_cpu_s: f64,
}

pub fn run(jobs: u64) -> Result<(), String> {
    let runtime = crate::processes::one_thread_runtime()?;
    runtime.block_on(async {
        cargo_build(
            &workspace_root(),
            &["--release", "-p", "tars-examples", "--example", "shared_workers"],
        );
        let worker = target_dir().join("release/examples/shared_workers");
        let mut figures = Vec::new();
        for workers in GROUP_SIZES {
            // A fresh cluster per size, so that no run inherits another's backlog.
            let cluster = Cluster::start(3).await;
            figures.push(measure(&cluster, &worker, workers, jobs).await?);
            eprintln!("  {workers} worker(s): {:.0} jobs/s", figures.last().unwrap().jobs_per_s);
        }
        println!("share group on a 3-node rmqtt cluster (loopback), {jobs} QoS 1 jobs, each answered by a QoS 1 report");
        println!(
            "{:>8} {:>10} {:>16} {:>16}",
            "workers", "jobs/s", "workers CPU s", "brokers CPU s"
        );
        for f in &figures {
            println!(
                "{:>8} {:>10.0} {:>16.2} {:>16.2}",
                f.workers, f.jobs_per_s, f.worker_cpu_s, f.broker_cpu_s
            );
        }
        Ok(())
    })
}

async fn measure(
    cluster: &Cluster,
    binary: &std::path::Path,
    workers: usize,
    jobs: u64,
) -> Result<Figures, String> {
    let ids: Vec<String> = (1..=workers).map(|i| format!("bench-worker-{i}")).collect();
    let health: Vec<String> = ids.iter().map(|id| format!("system/health/{id}")).collect();
    let health: Vec<&str> = health.iter().map(String::as_str).collect();
    let mut watcher = Probe::start(cluster.nodes[0].mqtt_port, &health).await;
    let processes: Vec<ServiceProcess> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let urls = cluster.urls_from(i % cluster.nodes.len());
            ServiceProcess::spawn(
                binary,
                &[
                    ("MQTT_URL", urls.as_str()),
                    ("MQTT_CLIENT_ID", id),
                    ("MQTT_VERSION", "3.1.1"),
                    ("RUST_LOG", "warn"),
                ],
            )
        })
        .collect();
    for _ in 0..workers {
        watcher
            .next_within(Duration::from_secs(30))
            .await
            .ok_or("a worker did not start within 30 s")?;
    }
    let mut done = Probe::start(cluster.nodes[1].mqtt_port, &["jobs/done"]).await;
    let publisher = Probe::start(cluster.nodes[0].mqtt_port, &[]).await;
    let pids: Vec<u32> = processes.iter().filter_map(ServiceProcess::pid).collect();
    let brokers: Vec<u32> = cluster.pids();
    let cpu_before = (cpu_ns(&pids), cpu_ns(&brokers));
    let started = Instant::now();
    let payloads: Vec<Vec<u8>> = (0..jobs)
        .map(|id| python_style_envelope("jobs.new", json!({ "id": id }), None))
        .collect();
    let publishing = tokio::spawn(async move {
        for job in payloads {
            publisher.publish("jobs/new", QoS::AtLeastOnce, job).await;
        }
        publisher
    });
    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + RUN_TIMEOUT;
    while (seen.len() as u64) < jobs {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(report) = done.next_within(left).await else {
            return Err(format!(
                "{workers} worker(s): {} of {jobs} reports within {RUN_TIMEOUT:?}",
                seen.len()
            ));
        };
        if let Some(id) = report.json()["data"]["id"].as_u64() {
            seen.insert(id);
        }
    }
    let elapsed = started.elapsed();
    let _publisher = publishing.await.map_err(|e| e.to_string())?;
    let cpu_after = (cpu_ns(&pids), cpu_ns(&brokers));
    Ok(Figures {
        workers,
        jobs_per_s: jobs as f64 / elapsed.as_secs_f64(),
        worker_cpu_s: (cpu_after.0 - cpu_before.0) as f64 / 1e9,
        broker_cpu_s: (cpu_after.1 - cpu_before.1) as f64 / 1e9,
    })
}

/// Nanoseconds the processes spent on a CPU, summed over their threads.
fn cpu_ns(pids: &[u32]) -> u64 {
    pids.iter().map(|pid| crate::processes::cpu_ns(*pid)).sum()
}
