//! The second of two services for the trace export test: a handler on `trace/mid` that
//! says it is done on `trace/out`.

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "trace/mid", qos = 1)]
struct Relayed {
    text: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "trace/out", qos = 1)]
struct Finished {
    text: String,
}

#[tars::handler]
async fn finish(relayed: Relayed) -> Finished {
    Finished { text: relayed.text }
}

#[tars::service(name = "trace-finish")]
async fn main() {}
