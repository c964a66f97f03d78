use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(topic = "robot/speed")]
struct Speed(f32);

fn main() {}
