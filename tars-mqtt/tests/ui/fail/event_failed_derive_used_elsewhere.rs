use serde::{Deserialize, Serialize};
use tars::prelude::*;

// The derive fails (no topic); the handler and the publish below use the type anyway,
// and add no error of their own.
#[derive(Event, Serialize, Deserialize)]
#[event(qos = 1)]
struct SttFinal {
    text: String,
}

#[tars::handler(topic = "stt/final")]
async fn speak(ev: SttFinal, ctx: Context) -> tars::Result<()> {
    ctx.publish(&ev).await
}

fn main() {}
