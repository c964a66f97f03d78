//! A service whose body does the work: it publishes a `Tick` every period until it is
//! asked to stop (SIGINT/SIGTERM), then shuts down gracefully.
//!
//! ```sh
//! MQTT_URL=mqtt://localhost:1883 cargo run --example producer
//! ```
//!
//! `CLOCK_PERIOD_MS` sets the period (default 1000).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "clock/tick")]
struct Tick {
    n: u64,
    at: f64,
}

fn period() -> Duration {
    let millis = std::env::var("CLOCK_PERIOD_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    Duration::from_millis(millis)
}

#[tars::service(name = "tars-clock")]
async fn main(ctx: Context) -> tars::Result<()> {
    let mut ticker = tokio::time::interval(period());
    for n in 1.. {
        ticker.tick().await;
        ctx.publish(&Tick {
            n,
            at: tars::now_ts(),
        })
        .await?;
    }
    Ok(())
}
