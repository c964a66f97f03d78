use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "camera/frame")]
struct Frame {
    jpeg: String,
}

#[tars::handler(topic = "camera/frame", intake_bytes = "16MB")]
async fn frame(_ev: Frame) {}

fn main() {}
