use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "sensors/level", retain = "yes")]
struct Level {
    percent: u8,
}

fn main() {}
