use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event]
struct TtsSay {
    text: String,
}

fn main() {}
