//! Three instances of a service in one share group against mosquitto: every job is
//! handled exactly once across the group, and every instance gets work.

use std::collections::HashMap;
use std::time::Duration;

use rumqttc::QoS;
use tars_tests::process::{example_binary, ServiceProcess};
use tars_tests::{init_tracing, Mosquitto, Probe};

const JOBS: u64 = 3000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_share_group_handles_each_message_exactly_once_and_spreads_the_work() {
    init_tracing();
    // mosquitto drops what one client's queue holds beyond max_queued_messages (1,000 by
    // default): with 3,000 jobs at once and three workers, a slow start on a busy
    // machine reaches that. The test is about the share group, not that limit.
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 10000\n");
    let binary = example_binary("shared_workers");
    let workers = ["worker-a", "worker-b", "worker-c"];
    let health: Vec<String> = workers
        .iter()
        .map(|w| format!("system/health/{w}"))
        .collect();
    let health_refs: Vec<&str> = health.iter().map(String::as_str).collect();
    let mut watcher = Probe::start(broker.port(), &health_refs).await;
    let url = broker.url();
    let mut processes: Vec<ServiceProcess> = workers
        .iter()
        .map(|id| {
            ServiceProcess::spawn(
                &binary,
                &[
                    ("MQTT_URL", &url),
                    ("MQTT_CLIENT_ID", id),
                    ("RUST_LOG", "warn,tars=info"),
                ],
            )
        })
        .collect();
    let mut ready = std::collections::HashSet::new();
    while ready.len() < workers.len() {
        let seen = watcher
            .next_within(Duration::from_secs(20))
            .await
            .expect("every worker ready");
        ready.insert(seen.topic);
    }

    let mut done = Probe::start(broker.port(), &["jobs/done"]).await;
    let publisher = Probe::start(broker.port(), &[]).await;
    for id in 0..JOBS {
        let job =
            tars_tests::python_style_envelope("jobs.new", serde_json::json!({ "id": id }), None);
        publisher.publish("jobs/new", QoS::AtLeastOnce, job).await;
    }

    let mut handled: HashMap<u64, Vec<String>> = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while handled.values().map(Vec::len).sum::<usize>() < JOBS as usize {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(seen) = done.next_within(left).await else {
            break;
        };
        let report = seen.json();
        let id = report["data"]["id"].as_u64().unwrap();
        let worker = report["data"]["worker"].as_str().unwrap().to_owned();
        handled.entry(id).or_default().push(worker);
    }
    // Anything arriving late would be a second handling.
    for seen in done.collect_for(Duration::from_millis(500)).await {
        let report = seen.json();
        let id = report["data"]["id"].as_u64().unwrap();
        handled
            .entry(id)
            .or_default()
            .push(report["data"]["worker"].as_str().unwrap().to_owned());
    }

    if handled.len() as u64 != JOBS {
        report_stall(&handled, &mut processes).await;
    }
    assert_eq!(handled.len() as u64, JOBS, "every job handled");
    let twice: Vec<_> = handled.iter().filter(|(_, by)| by.len() > 1).collect();
    assert!(twice.is_empty(), "jobs handled more than once: {twice:?}");
    let mut per_worker: HashMap<&str, usize> = HashMap::new();
    for by in handled.values() {
        *per_worker.entry(by[0].as_str()).or_default() += 1;
    }
    for worker in workers {
        assert!(
            per_worker.get(worker).copied().unwrap_or(0) > 0,
            "{worker} got no work: {per_worker:?}"
        );
    }
}

/// What the workers say when asked to stop, for a run that did not finish: which
/// worker's jobs are missing, and what each had in flight (its shutdown logs say).
async fn report_stall(handled: &HashMap<u64, Vec<String>>, processes: &mut [ServiceProcess]) {
    let mut per_worker: HashMap<&str, usize> = HashMap::new();
    for by in handled.values() {
        *per_worker.entry(by[0].as_str()).or_default() += 1;
    }
    let missing: Vec<u64> = (0..JOBS).filter(|id| !handled.contains_key(id)).collect();
    eprintln!(
        "{} jobs missing (first: {:?}); handled per worker: {per_worker:?}",
        missing.len(),
        &missing[..missing.len().min(20)]
    );
    for process in processes.iter_mut() {
        process.signal("TERM");
        process.exit_within(Duration::from_secs(15)).await;
        eprintln!("--- worker output:\n{}", process.output());
    }
}
