//! A `#[tars::service]` for the durable outbox tests (`TARS_OUTBOX_DIR`). Once ready,
//! and once the file `OUTBOX_GO` names exists (when set), it publishes `OUTBOX_COUNT`
//! QoS 1 `Numbered` events on `outbox/numbers`, `n` from `OUTBOX_START` (default 0),
//! printing `published N` after every 100 (N publishes returned) and at the end; a
//! publish that fails prints `publish failed after N: ERROR` and ends the body. Then it
//! runs until its signal.

use std::io::Write;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "outbox/numbers", qos = 1)]
struct Numbered {
    n: u64,
}

/// A service runs at least one handler.
#[tars::handler(topic = "outbox/ignored")]
async fn ignored(_message: Message) {}

fn number(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

#[tars::service(name = "outbox-service")]
async fn main(ctx: Context) {
    if let Ok(go) = std::env::var("OUTBOX_GO") {
        while !std::path::Path::new(&go).exists() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let (start, count) = (number("OUTBOX_START"), number("OUTBOX_COUNT"));
    for (done, n) in (start..start + count).enumerate() {
        if let Err(error) = ctx.publish(&Numbered { n }).await {
            say(&format!("publish failed after {done}: {error}"));
            return;
        }
        if (done + 1) % 100 == 0 {
            say(&format!("published {}", done + 1));
        }
    }
    say(&format!("published {count}"));
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
