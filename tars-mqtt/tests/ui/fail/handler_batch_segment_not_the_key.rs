use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "sensors/kitchen/reading", event_type = "sensor.reading")]
struct Reading {
    celsius: f64,
}

#[tars::handler(topic = "sensors/{room}/reading", batch = 100)]
async fn store(room: String, readings: Vec<Reading>) {
    let _ = (room, readings.len());
}

fn main() {}
