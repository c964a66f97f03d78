use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "robot/mode")]
enum Mode {
    Idle,
    Moving,
}

fn main() {}
