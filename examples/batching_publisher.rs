//! Extension pattern 2: a batching publisher (for batches on the receiving side, a
//! batch handler, see `batching.rs`).
//!
//! High-frequency producers (sensor samples, partial transcripts, telemetry) publish
//! fewer, larger messages: events are collected and published as one envelope
//! `{"items": [...], "count": n}` when `max_items` are waiting or `max_delay` has passed
//! since the first of them, whichever comes first. The queue in front is bounded, so a
//! producer faster than the broker waits instead of growing memory.
//!
//! The program pushes 25 samples with batches of at most 10, watches what arrives and
//! checks that every sample got through, in order. It uses `MQTT_URL` when set, else an
//! embedded broker.
//!
//! ```sh
//! cargo run --example batching_publisher
//! ```

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::{Client, Config, Context, Envelope, PublishOptions, QoS};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Publishes events in batches on one topic.
pub struct BatchPublisher<E> {
    queue: mpsc::Sender<E>,
    worker: JoinHandle<tars::Result<()>>,
}

#[derive(Serialize, Deserialize)]
struct Batch<E> {
    items: Vec<E>,
    count: usize,
}

impl<E: Serialize + Send + Sync + 'static> BatchPublisher<E> {
    /// Batches of at most `max_items`, published at most `max_delay` after their first
    /// event, on `topic` with envelope type `event_type`.
    pub fn new(
        client: Client,
        topic: &str,
        event_type: &str,
        max_items: usize,
        max_delay: Duration,
    ) -> Self {
        let (queue, events) = mpsc::channel(max_items * 4);
        let (topic, event_type) = (topic.to_owned(), event_type.to_owned());
        let worker = tokio::spawn(run(client, topic, event_type, events, max_items, max_delay));
        Self { queue, worker }
    }

    /// Adds an event; waits when the queue in front of the batcher is full.
    pub async fn push(&self, event: E) {
        // The worker only stops when the publisher is closed.
        let _ = self.queue.send(event).await;
    }

    /// Publishes what is left and stops.
    pub async fn close(self) -> tars::Result<()> {
        drop(self.queue);
        self.worker.await.unwrap_or(Ok(()))
    }
}

async fn run<E: Serialize>(
    client: Client,
    topic: String,
    event_type: String,
    mut events: mpsc::Receiver<E>,
    max_items: usize,
    max_delay: Duration,
) -> tars::Result<()> {
    let mut batch = Vec::with_capacity(max_items);
    loop {
        // Wait for the first event of a batch, then fill it until full or late.
        let Some(first) = events.recv().await else {
            break;
        };
        batch.push(first);
        let deadline = tokio::time::Instant::now() + max_delay;
        while batch.len() < max_items {
            match tokio::time::timeout_at(deadline, events.recv()).await {
                Ok(Some(event)) => batch.push(event),
                Ok(None) | Err(_) => break,
            }
        }
        let items = std::mem::replace(&mut batch, Vec::with_capacity(max_items));
        let count = items.len();
        let options = PublishOptions::new().qos(QoS::AtLeastOnce);
        client
            .publish_event(&topic, &event_type, &Batch { items, count }, options)
            .await?;
    }
    Ok(())
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Sample {
    n: u32,
    level: f32,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tars_examples::init_logging();
    let (url, _broker) = tars_examples::broker_url().await?;
    let (got_tx, mut got) = mpsc::unbounded_channel();
    let watcher = Client::connect(Config::builder(&url, "batch-watcher").build()?).await?;
    watcher
        .subscribe_envelope(
            "audio/levels",
            QoS::AtLeastOnce,
            move |batch: Envelope<Batch<Sample>>, _ctx: Context| {
                let got = got_tx.clone();
                async move {
                    let _ = got.send(batch.data.items);
                }
            },
        )
        .await?;

    let client = Client::connect(Config::builder(&url, "batching-demo").build()?).await?;
    let publisher = BatchPublisher::new(
        client.clone(),
        "audio/levels",
        "audio.levels",
        10,
        Duration::from_millis(200),
    );
    for n in 0..25 {
        publisher
            .push(Sample {
                n,
                level: n as f32 / 25.0,
            })
            .await;
    }
    publisher.close().await?;

    let mut received = Vec::new();
    let mut batches = Vec::new();
    while received.len() < 25 {
        let items = tokio::time::timeout(Duration::from_secs(5), got.recv())
            .await?
            .ok_or("watcher gone")?;
        batches.push(items.len());
        received.extend(items);
    }
    assert!(
        received.iter().map(|s| s.n).eq(0..25),
        "every sample, in order"
    );
    println!(
        "batching_publisher: 25 samples in {} batches of {:?}",
        batches.len(),
        batches
    );
    client.shutdown().await?;
    watcher.shutdown().await?;
    Ok(())
}
