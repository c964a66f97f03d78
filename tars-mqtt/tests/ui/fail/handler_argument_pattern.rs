use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final")]
struct SttFinal {
    text: String,
}

#[tars::handler]
async fn speak(SttFinal { text }: SttFinal) {
    let _ = text;
}

fn main() {}
