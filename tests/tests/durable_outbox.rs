//! The durable outbox (`TARS_OUTBOX_DIR`) across processes, against mosquitto: what a
//! killed service published survives it and arrives after its restart, in order; a
//! torn file is skipped at the torn record; a full outbox makes the publisher wait,
//! then fail with an error that says what to do; two processes cannot share one.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tars_tests::process::ServiceProcess;
use tars_tests::proxy::{FaultProxy, Mode};
use tars_tests::{init_tracing, Mosquitto, Probe, WAIT};

fn outbox_service() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_outbox-service"))
}

/// The numbers received on `outbox/numbers`, in arrival order, until `want` distinct
/// ones arrived or `within` passed.
async fn numbers(probe: &mut Probe, want: usize, within: Duration) -> Vec<u64> {
    let deadline = tokio::time::Instant::now() + within;
    let mut got = Vec::new();
    let mut distinct = std::collections::BTreeSet::new();
    while distinct.len() < want {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let Some(seen) = probe.next_within(left).await else {
            break;
        };
        if seen.topic == "outbox/numbers" {
            let n = seen.json()["data"]["n"].as_u64().expect("a number");
            distinct.insert(n);
            got.push(n);
        }
    }
    got
}

/// `got` holds each of `0..count` once, in order, apart from duplicates of at most
/// `window` numbers (what was in flight at a kill); returns how many were duplicates.
fn assert_in_order(got: &[u64], count: u64, window: usize) -> usize {
    let mut expected = 0;
    let mut duplicates = 0;
    for &n in got {
        if n == expected {
            expected += 1;
        } else if n < expected {
            duplicates += 1;
        } else {
            panic!("{n} arrived before {expected} (out of order or lost)");
        }
    }
    assert_eq!(expected, count, "every number arrived");
    assert!(
        duplicates <= window,
        "{duplicates} duplicates, more than were in flight"
    );
    duplicates
}

fn vars<'a>(url: &'a str, dir: &'a str, extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut vars = vec![
        ("MQTT_URL", url),
        ("TARS_OUTBOX_DIR", dir),
        ("MQTT_RECONNECT_MIN_DELAY", "0.1"),
        ("MQTT_RECONNECT_MAX_DELAY", "0.5"),
        ("RUST_LOG", "info"),
    ];
    vars.extend_from_slice(extra);
    vars
}

/// Starts the service on `url` with its outbox in `outbox`, stops the broker once it is
/// ready, has it publish `count` numbers (all kept on disk), and kills it.
async fn publish_while_the_broker_is_down_then_kill(
    broker: &mut Mosquitto,
    url: &str,
    outbox: &Path,
    count: u64,
) {
    let go = outbox.with_extension("go");
    let (outbox_dir, go_file, count_text) = (
        outbox.display().to_string(),
        go.display().to_string(),
        count.to_string(),
    );
    let mut first = ServiceProcess::spawn(
        outbox_service(),
        &vars(
            url,
            &outbox_dir,
            &[("OUTBOX_COUNT", &count_text), ("OUTBOX_GO", &go_file)],
        ),
    );
    first.wait_for_output("service ready", WAIT).await;
    broker.stop();
    std::fs::write(&go, "").unwrap();
    first
        .wait_for_line(&format!("published {count}"), WAIT)
        .await;
    first.signal("KILL");
    first.exit_within(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishes_made_while_the_broker_is_down_survive_a_kill_and_arrive_in_order() {
    init_tracing();
    let mut broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let proxy = FaultProxy::start(broker.port()).await;
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let (url, outbox_dir) = (proxy.url(), outbox.display().to_string());
    publish_while_the_broker_is_down_then_kill(&mut broker, &url, &outbox, 10_000).await;

    // Started again while the broker is still down; the broker comes back, but the
    // service reaches it only once the probe listens.
    proxy.set_mode(Mode::Refuse);
    let mut second = ServiceProcess::spawn(outbox_service(), &vars(&url, &outbox_dir, &[]));
    broker.restart();
    let mut probe = Probe::start(broker.port(), &["outbox/#"]).await;
    proxy.set_mode(Mode::Pass);
    let got = numbers(&mut probe, 10_000, Duration::from_secs(60)).await;
    let duplicates = assert_in_order(&got, 10_000, 0);
    assert_eq!(duplicates, 0, "nothing was in flight at the kill");
    second
        .wait_for_output("publishes owed by the last run are sent first", WAIT)
        .await;
    second.signal("TERM");
    assert!(
        second.exit_within(WAIT).await.success(),
        "{}",
        second.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_a_burst_loses_nothing_whose_publish_returned() {
    init_tracing();
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let mut probe = Probe::start(broker.port(), &["outbox/#"]).await;
    let dir = tempfile::tempdir().unwrap();
    let (url, outbox_dir) = (broker.url(), dir.path().display().to_string());
    let mut first = ServiceProcess::spawn(
        outbox_service(),
        &vars(&url, &outbox_dir, &[("OUTBOX_COUNT", "20000")]),
    );
    first.wait_for_line("published 3000", WAIT).await;
    first.signal("KILL");
    first.exit_within(WAIT).await;
    let returned: u64 = first
        .output()
        .lines()
        .filter_map(|l| l.strip_prefix("published ")?.parse().ok())
        .max()
        .unwrap();
    let mut second = ServiceProcess::spawn(outbox_service(), &vars(&url, &outbox_dir, &[]));
    second.wait_for_output("service ready", WAIT).await;
    let got = numbers(&mut probe, returned as usize, Duration::from_secs(60)).await;
    let distinct: std::collections::BTreeSet<u64> = got.iter().copied().collect();
    for n in 0..returned {
        assert!(
            distinct.contains(&n),
            "{n} was published before the kill and is lost"
        );
    }
    // The in-memory window (100) and the lane ahead of it is all that can come twice.
    let duplicates = got.len() - distinct.len();
    assert!(duplicates <= 100 + 1024, "{duplicates} duplicates");
    eprintln!(
        "{returned} returned before the kill, {} arrived, {duplicates} duplicates",
        distinct.len()
    );
    second.signal("TERM");
    assert!(second.exit_within(WAIT).await.success());
}

/// The lengths of the whole records at the start of a segment's bytes.
fn whole_records(bytes: &[u8]) -> usize {
    let (mut offset, mut count) = (0, 0);
    while offset + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize;
        if offset + 8 + len > bytes.len() {
            break;
        }
        offset += 8 + len;
        count += 1;
    }
    count
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    found.sort();
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_truncated_at_a_random_byte_skips_the_torn_record_and_delivers_the_rest() {
    init_tracing();
    let mut broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let dir = tempfile::tempdir().unwrap();
    let outbox = dir.path().join("outbox");
    let (url, outbox_dir) = (broker.url(), outbox.display().to_string());
    publish_while_the_broker_is_down_then_kill(&mut broker, &url, &outbox, 500).await;

    let segment = segments(&outbox).into_iter().last().expect("a segment");
    let bytes = std::fs::read(&segment).unwrap();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as usize;
    let cut = 1 + seed % (bytes.len() - 1);
    std::fs::write(&segment, &bytes[..cut]).unwrap();
    let whole = whole_records(&bytes[..cut]);
    eprintln!(
        "cut {} at byte {cut} of {}: {whole} whole records",
        segment.display(),
        bytes.len()
    );

    broker.restart();
    let mut probe = Probe::start(broker.port(), &["outbox/#"]).await;
    let mut second = ServiceProcess::spawn(outbox_service(), &vars(&url, &outbox_dir, &[]));
    second.wait_for_output("service ready", WAIT).await;
    let got = numbers(&mut probe, whole, WAIT).await;
    assert_in_order(&got, whole as u64, 0);
    let later = probe.collect_for(Duration::from_millis(500)).await;
    assert!(
        later.is_empty(),
        "nothing past the cut: {} more",
        later.len()
    );
    let output = second.output();
    if whole < 500 {
        assert!(
            output.contains("torn record"),
            "the torn record is logged:\n{output}"
        );
    }
    second.signal("TERM");
    assert!(second.exit_within(WAIT).await.success(), "{output}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_makes_the_publisher_wait_then_fail_with_what_to_do() {
    init_tracing();
    let mut broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let (url, outbox_dir, go_file) = (
        broker.url(),
        dir.path().join("outbox").display().to_string(),
        go.display().to_string(),
    );
    let mut service = ServiceProcess::spawn(
        outbox_service(),
        &vars(
            &url,
            &outbox_dir,
            &[
                ("OUTBOX_COUNT", "100000"),
                ("OUTBOX_GO", &go_file),
                ("TARS_OUTBOX_MAX_BYTES", "1MiB"),
                ("TARS_OUTBOX_FULL_WAIT", "300ms"),
            ],
        ),
    );
    service.wait_for_output("service ready", WAIT).await;
    broker.stop();
    std::fs::write(&go, "").unwrap();
    service.wait_for_output("publish failed after", WAIT).await;
    let output = service.output();
    let line = output
        .lines()
        .find(|l| l.starts_with("publish failed after"))
        .unwrap();
    let kept: usize = line
        .strip_prefix("publish failed after ")
        .and_then(|rest| rest.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(
        line.contains("the durable outbox is full") && line.contains("TARS_OUTBOX_MAX_BYTES"),
        "{line}"
    );
    // 1 MiB of records of ~150 bytes (3.1.1) to ~260 (MQTT 5: properties and a trace).
    assert!(
        (3_500..8_000).contains(&kept),
        "{kept} publishes kept in 1 MiB"
    );
    service.signal("TERM");
    service.exit_within(WAIT).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_process_on_the_same_outbox_exits_2_naming_it() {
    init_tracing();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (url, outbox_dir) = (broker.url(), dir.path().display().to_string());
    let mut first = ServiceProcess::spawn(outbox_service(), &vars(&url, &outbox_dir, &[]));
    first.wait_for_output("service ready", WAIT).await;
    let mut second = ServiceProcess::spawn(outbox_service(), &vars(&url, &outbox_dir, &[]));
    let status = second.exit_within(WAIT).await;
    let output = second.output();
    assert_eq!(status.code(), Some(2), "{output}");
    assert!(
        output.contains("TARS_OUTBOX_DIR") && output.contains("in use by another process"),
        "{output}"
    );
    assert!(
        output.contains(&format!("pid {}", first.pid().unwrap())),
        "{output}"
    );
    first.signal("TERM");
    assert!(first.exit_within(WAIT).await.success());
}

#[derive(tars::Event, serde::Serialize)]
#[event(topic = "outbox/confirmed", qos = 1)]
struct Confirmed {
    n: u64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_confirmed_goes_through_the_durable_outbox_and_leaves_it_empty() {
    init_tracing();
    let broker = Mosquitto::start();
    let mut probe = Probe::start(broker.port(), &["outbox/#"]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = tars_tests::config(broker.port(), "confirming-outbox")
        .outbox_dir(dir.path())
        .outbox_fsync(tars::config::FsyncPolicy::Always)
        .build()
        .unwrap();
    let client = tars::Client::connect(config).await.unwrap();
    for n in 0..20 {
        let confirmed = client.publish_confirmed(&Confirmed { n }).await.unwrap();
        assert_eq!(confirmed, tars::Confirmation::Acknowledged);
    }
    // A confirmed publish has left the durable outbox: its publisher hears of the
    // PUBACK only once the outbox has let it go.
    let metrics = tars::testing::MetricsSnapshot::parse(&client.metrics_text());
    assert_eq!(
        metrics.value("tars_outbox_durable_messages", &[]),
        Some(0.0)
    );
    assert_eq!(metrics.value("tars_outbox_durable_bytes", &[]), Some(0.0));
    for n in 0..20 {
        assert_eq!(
            probe.expect_on("outbox/confirmed", WAIT).await.json()["data"]["n"],
            n
        );
    }
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_outbox_that_drops_the_oldest_keeps_the_newest_in_order() {
    init_tracing();
    let mut broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let proxy = FaultProxy::start(broker.port()).await;
    let dir = tempfile::tempdir().unwrap();
    let config = tars::Config::builder(proxy.url(), format!("dropping-{}", &tars::new_id()[..8]))
        .mqtt_version(tars_tests::mqtt_version())
        .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
        .outbox_dir(dir.path())
        .outbox_max_bytes(1 << 20)
        .outbox_when_full(tars::config::OutboxFull::DropOldest, Duration::from_secs(1))
        .build()
        .unwrap();
    let client = tars::Client::connect(config).await.unwrap();
    broker.stop();
    proxy.set_mode(Mode::Refuse);
    for n in 0..20_000 {
        client.publish(&Confirmed { n }).await.unwrap();
    }
    let metrics = tars::testing::MetricsSnapshot::parse(&client.metrics_text());
    let dropped = metrics.value("tars_outbox_dropped_total", &[]).unwrap();
    let held = metrics.value("tars_outbox_durable_bytes", &[]).unwrap();
    assert!(dropped > 10_000.0, "{dropped} dropped");
    assert!(held <= f64::from(1 << 20), "{held} bytes held");

    broker.restart();
    let mut probe = Probe::start(broker.port(), &["outbox/#"]).await;
    proxy.set_mode(Mode::Pass);
    let kept = 20_000 - dropped as u64;
    let mut got = Vec::new();
    while (got.len() as u64) < kept {
        let seen = probe
            .expect_on("outbox/confirmed", Duration::from_secs(30))
            .await;
        got.push(seen.json()["data"]["n"].as_u64().unwrap());
    }
    assert!(got.windows(2).all(|w| w[0] < w[1]), "in order, each once");
    // The oldest the session already held (its lane and window) went out anyway; the
    // ones dropped, next in age, never do; the newest follow.
    let gap = got
        .windows(2)
        .position(|w| w[1] != w[0] + 1)
        .map_or(0, |i| i + 1);
    assert_eq!(got[0], 0, "the session held the oldest");
    assert!(
        (1..=100 + 1024 + 1).contains(&gap),
        "the session held {gap}"
    );
    assert_eq!(
        got[gap..],
        (20_000 - (kept - gap as u64)..20_000).collect::<Vec<_>>()[..]
    );
    assert!(probe
        .collect_for(Duration::from_millis(300))
        .await
        .is_empty());
    client.shutdown().await.unwrap();
}
