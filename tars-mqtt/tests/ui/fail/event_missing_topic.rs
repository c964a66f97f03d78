use serde::Serialize;
use tars::prelude::*;

#[derive(Event, Serialize)]
#[event(qos = 1)]
struct TtsSay {
    text: String,
}

fn main() {}
