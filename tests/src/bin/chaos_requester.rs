//! The chaos fleet's requester: a ping every `CHAOS_PACE_MS` (default 250), numbered
//! like the publisher's messages, recording that it was sent and how it ended:
//! `answered`, `timed-out`, or `failed` with the error.

use std::time::Duration;

use tars::prelude::*;
use tars_tests::chaos::events::record;
use tars_tests::chaos::{env_number, INCARNATION_SPAN};

tars_tests::chaos_event!(Ping, "chaos/ping", "chaos.ping");
tars_tests::chaos_event!(Pong, "chaos/pong", "chaos.pong");

#[tars::service(name = "chaos-requester", allow_empty)]
async fn main(ctx: Context) {
    let base = env_number("CHAOS_INCARNATION", 0) * INCARNATION_SPAN;
    let pace = Duration::from_millis(env_number("CHAOS_PACE_MS", 250));
    let mut ticks = tokio::time::interval(pace);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    for count in 0.. {
        ticks.tick().await;
        let n = base + count;
        record(format_args!("request {n} sent"));
        match ctx.request::<Ping, Pong>(&Ping { n }).await {
            Ok(pong) if pong.n == n => record(format_args!("request {n} answered")),
            Ok(pong) => record(format_args!("request {n} failed answered with {}", pong.n)),
            Err(tars::Error::Timeout { .. }) => record(format_args!("request {n} timed-out")),
            Err(error) => record(format_args!("request {n} failed {error}")),
        }
    }
}
