use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "sensors/kitchen/reading", event_type = "sensor.reading")]
struct Reading {
    celsius: f64,
}

#[tars::handler(topic = "sensors/{room}/reading", batch_window = "50ms", batch_key = "room")]
async fn store(room: String, reading: Reading) {
    let _ = (room, reading.celsius);
}

fn main() {}
