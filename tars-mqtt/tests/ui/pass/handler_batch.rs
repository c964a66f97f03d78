//! Every form of a batch handler: `batch = N` with a `Vec` of events, envelopes or
//! messages, a window, a key, a state, and each return kind.
use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "sensors/kitchen/reading", event_type = "sensor.reading", qos = 1)]
struct Reading {
    celsius: f64,
}

struct Store;

// The default window (20 ms); the topic from the event.
#[tars::handler(batch = 100, qos = 1)]
async fn from_event(readings: Vec<Reading>) {
    let _ = readings.iter().map(|r| r.celsius).sum::<f64>();
}

// A window, a key naming a template segment, and the segment's value for the batch.
#[tars::handler(topic = "sensors/{room}/reading", batch = 50, batch_window = "1s", batch_key = "room")]
async fn by_room(room: String, readings: Vec<Reading>, ctx: Context) -> Result<(), String> {
    let _ = (room, readings.len(), ctx);
    Ok(())
}

// Envelopes of any data, a shared state, and the items that failed.
#[tars::handler(topic = "logs/#", batch = 10, retries = 2, backoff = "50ms", dead_letter = "dead/logs")]
async fn envelopes(lines: Vec<Envelope<serde_json::Value>>, _store: State<Store>) -> BatchResult {
    match lines.len() {
        0 => Ok(()),
        _ => Err(BatchError::items([(0, "the first line is refused")])),
    }
}

// Raw messages, flow control and a share group.
#[tars::handler(topic = "frames/+", batch = 8, queue = 64, overflow = "drop_oldest", share = "frames")]
async fn raw(frames: Vec<Message>) -> Result<(), BatchError> {
    let _ = frames.iter().map(|m| m.payload().len()).sum::<usize>();
    Err(BatchError::batch("the disk is full"))
}

fn main() {}
