use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "sensors/+/temperature")]
struct Temperature {
    celsius: f32,
}

fn main() {}
