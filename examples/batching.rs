//! A batch handler: sensor readings stored in SQLite, a transaction per batch instead of
//! one per message.
//!
//! `#[tars::handler(batch = 100, batch_window = "500ms", batch_key = "room")]` hands
//! `store` up to 100 readings of one room at once: a batch goes when it is full, or
//! 500 ms after its first reading (a long window, so that the output is the same on a
//! busy machine; 20 ms is the default). With QoS 1 every reading is acknowledged only once
//! its batch is committed (see `docs/batching.md`).
//!
//! The program publishes 250 readings from two rooms, waits until all are stored and
//! checks the table. It uses `MQTT_URL` when set, else an embedded broker, and a
//! database file in a temporary directory.
//!
//! ```sh
//! cargo run --example batching
//! ```

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::prelude::*;

/// A temperature reading from one room's sensor.
#[derive(Event, Serialize, Deserialize, Debug, Clone)]
#[event(
    topic = "sensors/kitchen/reading",
    event_type = "sensor.reading",
    qos = 1
)]
struct Reading {
    seq: u32,
    celsius: f64,
}

/// The readings table, and the transactions that wrote it (a handle: clones share them).
#[derive(Clone)]
struct Store {
    db: Arc<Mutex<rusqlite::Connection>>,
    batches: Arc<Mutex<Vec<(String, usize)>>>,
}

impl Store {
    fn open(path: &Path) -> rusqlite::Result<Self> {
        let db = rusqlite::Connection::open(path)?;
        db.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS readings (room TEXT NOT NULL, seq INTEGER NOT NULL, celsius REAL NOT NULL);",
        )?;
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
            batches: Arc::default(),
        })
    }

    /// Appends one room's readings in one transaction, on a blocking thread.
    async fn append(&self, room: String, readings: Vec<Reading>) -> Result<(), String> {
        let db = self.db.clone();
        let count = readings.len();
        let stored_room = room.clone();
        tokio::task::spawn_blocking(move || -> rusqlite::Result<()> {
            let mut db = db.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            let tx = db.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO readings (room, seq, celsius) VALUES (?1, ?2, ?3)",
                )?;
                for reading in &readings {
                    insert.execute(rusqlite::params![room, reading.seq, reading.celsius])?;
                }
            }
            tx.commit()
        })
        .await
        .map_err(|e| format!("the insert stopped: {e}"))?
        .map_err(|e| format!("cannot store readings: {e}"))?;
        self.batches
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((stored_room, count));
        Ok(())
    }

    fn rows(&self) -> rusqlite::Result<Vec<(String, u32)>> {
        let db = self
            .db
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut select = db.prepare("SELECT room, seq FROM readings ORDER BY rowid")?;
        let rows = select.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect()
    }
}

/// Stores a batch of one room's readings; a failed insert fails the whole batch, which
/// is then tried again (and dead-lettered if it keeps failing).
#[tars::handler(
    topic = "sensors/{room}/reading",
    qos = 1,
    batch = 100,
    batch_window = "500ms",
    batch_key = "room",
    retries = 2,
    backoff = "100ms",
    dead_letter = "dead/readings"
)]
async fn store(room: String, readings: Vec<Reading>, db: State<Store>) -> Result<(), String> {
    db.append(room, readings).await
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tars_examples::init_logging();
    let (url, _broker) = tars_examples::broker_url().await?;
    let dir = std::env::temp_dir().join(format!("tars-batching-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let store = Store::open(&dir.join("readings.db"))?;

    let service = Client::builder(Config::builder(&url, "sensor-store").build()?)
        .state(store.clone())
        .with_handlers(|h| h.name == "store")
        .connect()
        .await?;
    let sensors = Client::connect(Config::builder(&url, "sensors").build()?).await?;
    let qos1 = PublishOptions::new().qos(QoS::AtLeastOnce);
    for seq in 0..250u32 {
        let room = if seq < 150 { "kitchen" } else { "hall" };
        let reading = Reading {
            seq,
            celsius: 20.0 + f64::from(seq % 7) / 2.0,
        };
        sensors
            .publish_event(
                &format!("sensors/{room}/reading"),
                Reading::EVENT_TYPE,
                &reading,
                qos1.clone(),
            )
            .await?;
    }

    // Every transaction recorded (its rows are visible a moment before).
    let stored = || -> usize {
        let batches = store.batches.lock().unwrap_or_else(|p| p.into_inner());
        batches.iter().map(|(_, n)| n).sum()
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stored() < 250 {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("only {} of 250 readings stored", stored()).into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rows = store.rows()?;
    let kitchen: Vec<u32> = rows
        .iter()
        .filter(|(r, _)| r == "kitchen")
        .map(|(_, s)| *s)
        .collect();
    let hall: Vec<u32> = rows
        .iter()
        .filter(|(r, _)| r == "hall")
        .map(|(_, s)| *s)
        .collect();
    assert!(
        kitchen.iter().copied().eq(0..150),
        "the kitchen's readings, in order"
    );
    assert!(
        hall.iter().copied().eq(150..250),
        "the hall's readings, in order"
    );
    let batches = store
        .batches
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let sizes = |room: &str| -> Vec<usize> {
        batches
            .iter()
            .filter(|(r, _)| r == room)
            .map(|(_, n)| *n)
            .collect()
    };
    println!(
        "batching: 250 readings stored in {} transactions (kitchen {:?}, hall {:?})",
        batches.len(),
        sizes("kitchen"),
        sizes("hall")
    );
    sensors.shutdown().await?;
    service.shutdown().await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
