//! The chaos fleet's publisher, through the durable outbox (`TARS_OUTBOX_DIR`): every
//! `CHAOS_PACE_MS` (default 60) a job for the share group, an item of the ordered
//! stream (on `chaos/stream/a` or `/b` by parity) and a task for the retrying handler,
//! all numbered `CHAOS_INCARNATION` × 10⁹ + its count, each recorded once its publish
//! returned.

use std::time::Duration;

use tars::prelude::*;
use tars_tests::chaos::events::record;
use tars_tests::chaos::{env_number, INCARNATION_SPAN};

tars_tests::chaos_event!(Job, "chaos/jobs", "chaos.job");
tars_tests::chaos_event!(StreamA, "chaos/stream/a", "chaos.stream");
tars_tests::chaos_event!(StreamB, "chaos/stream/b", "chaos.stream");
tars_tests::chaos_event!(Task, "chaos/tasks", "chaos.task");

#[tars::service(name = "chaos-publisher")]
async fn main(ctx: Context) {
    let base = env_number("CHAOS_INCARNATION", 0) * INCARNATION_SPAN;
    let pace = Duration::from_millis(env_number("CHAOS_PACE_MS", 60));
    let mut ticks = tokio::time::interval(pace);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for count in 0.. {
        ticks.tick().await;
        let n = base + count;
        published("job", n, ctx.publish(&Job { n }).await);
        let stream = match n % 2 {
            0 => ctx.publish(&StreamA { n }).await,
            _ => ctx.publish(&StreamB { n }).await,
        };
        published("stream", n, stream);
        published("task", n, ctx.publish(&Task { n }).await);
    }
}

fn published(kind: &str, n: u64, outcome: tars::Result<()>) {
    match outcome {
        Ok(()) => record(format_args!("published {kind} {n}")),
        Err(error) => record(format_args!("publish-failed {kind} {n} {error}")),
    }
}
