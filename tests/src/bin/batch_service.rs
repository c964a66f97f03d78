//! A `#[tars::service]` with a batch handler, for the batching tests across processes:
//! `sensors/{room}/reading` (QoS 1) in batches of 100 per room, handed over 10 s after
//! their first reading (long enough that only shutdown cuts one short). Each batch
//! prints `stored N readings of ROOM: FIRST..LAST` (the `n` of its envelopes' data).

use std::io::Write;

use tars::Envelope;

#[tars::handler(
    topic = "sensors/{room}/reading",
    qos = 1,
    batch = 100,
    batch_window = "10s",
    batch_key = "room"
)]
async fn store(room: String, readings: Vec<Envelope<serde_json::Value>>) {
    let n = |envelope: Option<&Envelope<serde_json::Value>>| {
        envelope.and_then(|e| e.data["n"].as_u64()).unwrap_or(0)
    };
    let line = format!(
        "stored {} readings of {room}: {}..{}",
        readings.len(),
        n(readings.first()),
        n(readings.last())
    );
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tars::service(name = "batch-service")]
async fn main() {}
