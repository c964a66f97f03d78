//! The tars side of `tars-bench processes`: a real `#[tars::service]` (its default
//! runtime, health and heartbeat on, logging at info) with one typed handler per QoS
//! that counts envelopes. It prints `ready` once subscribed and `done N` when the count
//! reaches `BENCH_EXPECT`. With `BENCH_PUBLISH=N` it also publishes N `Reading` events
//! with `ctx.publish` once it reads `go` on its standard input (at QoS 1 on
//! `bench/proc/out1` with `BENCH_PUBLISH_QOS=1`), then prints `published N`. A ping on `bench/proc/ping` is answered on `bench/proc/pong` by a
//! handler returning the reply.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tars::prelude::*;
use tokio::io::AsyncBufReadExt;

#[derive(Deserialize)]
struct Sample {
    seq: u64,
    #[allow(dead_code)]
    text: String,
}

static COUNT: AtomicU64 = AtomicU64::new(0);
static SEQ_SUM: AtomicU64 = AtomicU64::new(0);

fn expected() -> u64 {
    static EXPECT: OnceLock<u64> = OnceLock::new();
    *EXPECT.get_or_init(|| {
        std::env::var("BENCH_EXPECT")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(u64::MAX)
    })
}

fn count(sample: &Sample) {
    SEQ_SUM.fetch_add(sample.seq, Ordering::Relaxed);
    if COUNT.fetch_add(1, Ordering::Relaxed) + 1 == expected() {
        say(&format!("done {}", expected()));
    }
}

#[tars::handler(topic = "bench/proc/q0", qos = 0)]
async fn at_most_once(sample: Envelope<Sample>) {
    count(&sample.data);
}

#[tars::handler(topic = "bench/proc/q1", qos = 1)]
async fn at_least_once(sample: Envelope<Sample>) {
    count(&sample.data);
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "bench/proc/ping")]
struct Ping {
    seq: u64,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "bench/proc/pong")]
struct Pong {
    seq: u64,
}

#[tars::handler]
async fn pong(ping: Ping) -> Pong {
    Pong { seq: ping.seq }
}

/// What the outbound scenario publishes: about 150 bytes as an envelope.
#[derive(Event, Serialize, Deserialize)]
#[event(topic = "bench/proc/out")]
struct Reading {
    seq: u64,
    text: String,
}

/// The same at QoS 1 (`BENCH_PUBLISH_QOS=1`), for `tars-bench outbox`.
#[derive(Event, Serialize, Deserialize)]
#[event(topic = "bench/proc/out1", qos = 1)]
struct ReadingQos1 {
    seq: u64,
    text: String,
}

#[tars::service(name = "bench-service")]
async fn main(ctx: Context) -> tars::Result<()> {
    say("ready");
    let Some(count) = std::env::var("BENCH_PUBLISH")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    else {
        return Ok(());
    };
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = stdin.next_line().await {
        if line == "go" {
            break;
        }
    }
    let qos1 = std::env::var("BENCH_PUBLISH_QOS").is_ok_and(|q| q == "1");
    for seq in 0..count {
        let text = "the quick brown fox jumps over the lazy dog".to_owned();
        match qos1 {
            true => ctx.publish(&ReadingQos1 { seq, text }).await?,
            false => ctx.publish(&Reading { seq, text }).await?,
        }
    }
    say(&format!("published {count}"));
    Ok(())
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
