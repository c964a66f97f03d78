//! The service of `tars-bench batching`: a real `#[tars::service]` whose handlers append
//! readings to a SQLite file (`BENCH_DB`; WAL journal, `synchronous = FULL`, so that a
//! commit is on disk before the handler returns and the message is acknowledged).
//!
//! - `bench/store/one` (QoS 1): one handler call and one transaction per message;
//! - `bench/store/batch` (QoS 1): `batch = 100, batch_window = "20ms"`, one call and one
//!   transaction per batch.
//!
//! It prints `ready` once subscribed. When `BENCH_EXPECT` readings are stored it prints
//! `done N`, then `latency P50 P99 MAX` in microseconds from each reading's `sent_ns`
//! (the publisher's clock at publish: the same machine) to its commit.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tars::prelude::*;

#[derive(Deserialize)]
struct Reading {
    seq: u64,
    sent_ns: u64,
    celsius: f64,
}

struct Store {
    db: Mutex<rusqlite::Connection>,
    latencies_us: Mutex<Vec<u64>>,
    stored: AtomicU64,
    expect: u64,
}

fn store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let path = std::env::var("BENCH_DB").expect("BENCH_DB must name the database file");
        let db = rusqlite::Connection::open(&path).expect("the database opens");
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             PRAGMA synchronous = FULL;
             CREATE TABLE IF NOT EXISTS readings (seq INTEGER NOT NULL, celsius REAL NOT NULL);",
        )
        .expect("the table is created");
        let expect = std::env::var("BENCH_EXPECT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX);
        Store {
            db: Mutex::new(db),
            latencies_us: Mutex::new(Vec::new()),
            stored: AtomicU64::new(0),
            expect,
        }
    })
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Appends the readings in one transaction on a blocking thread, then records each
/// one's latency.
async fn append(readings: Vec<Reading>) -> Result<(), String> {
    let readings = tokio::task::spawn_blocking(move || -> rusqlite::Result<Vec<Reading>> {
        let mut db = store().db.lock().unwrap_or_else(|p| p.into_inner());
        let tx = db.transaction()?;
        {
            let mut insert =
                tx.prepare_cached("INSERT INTO readings (seq, celsius) VALUES (?1, ?2)")?;
            for reading in &readings {
                insert.execute(rusqlite::params![reading.seq as i64, reading.celsius])?;
            }
        }
        tx.commit()?;
        Ok(readings)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    let now = now_ns();
    let store = store();
    store
        .latencies_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .extend(
            readings
                .iter()
                .map(|r| now.saturating_sub(r.sent_ns) / 1_000),
        );
    let stored = store
        .stored
        .fetch_add(readings.len() as u64, Ordering::Relaxed);
    if stored < store.expect && stored + readings.len() as u64 >= store.expect {
        report(store);
    }
    Ok(())
}

fn report(store: &Store) {
    let mut latencies = store
        .latencies_us
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    say(&format!("done {}", store.expect));
    say(&format!("latency {} {} {}", at(0.5), at(0.99), at(1.0)));
}

#[tars::handler(topic = "bench/store/one", qos = 1)]
async fn one(reading: Envelope<Reading>) -> Result<(), String> {
    append(vec![reading.data]).await
}

#[tars::handler(
    topic = "bench/store/batch",
    qos = 1,
    batch = 100,
    batch_window = "20ms"
)]
async fn batch(readings: Vec<Envelope<Reading>>) -> Result<(), String> {
    append(readings.into_iter().map(|e| e.data).collect()).await
}

#[tars::service(name = "sqlite-service")]
async fn main() {
    let _ = store();
    say("ready");
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
