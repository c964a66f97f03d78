use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "sensors/kitchen/reading", event_type = "sensor.reading")]
struct Reading {
    celsius: f64,
}

#[tars::handler(topic = "sensors/+/reading", batch = 100)]
async fn store(readings: Vec<Reading>) -> Reading {
    Reading { celsius: readings.len() as f64 }
}

fn main() {}
