//! The first of two services for the trace export test: a handler on `trace/in` that
//! passes the text on to `trace/mid`.

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "trace/in", qos = 1)]
struct Incoming {
    text: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "trace/mid", qos = 1)]
struct Relayed {
    text: String,
}

#[tars::handler]
async fn relay(incoming: Incoming) -> Relayed {
    Relayed {
        text: incoming.text,
    }
}

#[tars::service(name = "trace-relay")]
async fn main() {}
