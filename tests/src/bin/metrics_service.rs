//! A `#[tars::service]` whose handlers give every outcome the metrics count, on demand:
//! `metrics/item` succeeds, fails or panics as its `action` says (and an undecodable
//! payload is its own outcome); `metrics/slow` takes one message at a time with a queue
//! of one (`drop_newest`) and holds the first until `metrics/release` arrives, telling
//! `metrics/started` when it holds it.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use tars::prelude::*;
use tokio::sync::Semaphore;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "metrics/item", qos = 1)]
struct Item {
    action: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "metrics/slow", qos = 1)]
struct SlowItem {
    n: u64,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "metrics/started")]
struct Started {
    n: u64,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "metrics/release", qos = 1)]
struct Release {}

/// Released once per `metrics/release`.
static RELEASED: LazyLock<Semaphore> = LazyLock::new(|| Semaphore::new(0));

#[tars::handler]
async fn work(item: Item) -> Result<(), String> {
    match item.action.as_str() {
        "ok" => Ok(()),
        "panic" => panic!("asked to panic"),
        other => Err(format!("asked to fail ({other})")),
    }
}

#[tars::handler(queue = 1, overflow = "drop_newest")]
async fn slow(slow: SlowItem, ctx: Context) -> tars::Result<()> {
    if slow.n == 1 {
        ctx.publish(&Started { n: slow.n }).await?;
        if let Ok(permit) = RELEASED.acquire().await {
            permit.forget();
        }
    }
    Ok(())
}

#[tars::handler]
async fn release(_release: Release) {
    RELEASED.add_permits(1);
}

#[tars::service(name = "metrics-service")]
async fn main() {}
