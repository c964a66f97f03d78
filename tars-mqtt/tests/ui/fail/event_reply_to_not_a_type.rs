use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "llm/response", reply_to = "llm.request")]
struct LlmResponse {
    reply: String,
}

fn main() {}
