//! The raw side of `tars-bench processes`: the consumer a user would write by hand with
//! rumqttc (the rumqttc-next client): one event loop, each payload decoded into a typed
//! envelope with serde_json. It prints `ready` once subscribed and `done N` when the
//! count reaches `BENCH_EXPECT`. With `BENCH_PUBLISH=N` it publishes N envelopes once
//! it reads `go` on its standard input (on `BENCH_PUBLISH_TOPIC`, default
//! `bench/proc/out`), each serialized as a hand-written producer
//! would (a fresh uuid, the time, serde_json), then prints `published N`. A ping on
//! `bench/proc/ping` is answered on `bench/proc/pong` with the ping's id. With
//! `MQTT_VERSION=5` it speaks MQTT 5 (the rumqttc-v5-next client), 3.1.1 otherwise.

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Serialize)]
struct OutEnvelope<'a> {
    id: String,
    #[serde(rename = "type")]
    event_type: &'a str,
    ts: f64,
    source: &'a str,
    data: Reading<'a>,
}

#[derive(Serialize)]
struct Reading<'a> {
    seq: u64,
    text: &'a str,
}

#[derive(Deserialize)]
struct Envelope {
    #[allow(dead_code)]
    id: String,
    data: Sample,
}

#[derive(Deserialize)]
struct PingEnvelope<'a> {
    id: &'a str,
    data: Seq,
}

#[derive(Serialize, Deserialize)]
struct Seq {
    seq: u64,
}

#[derive(Serialize)]
struct PongEnvelope<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    ts: f64,
    source: &'a str,
    data: Seq,
}

#[derive(Deserialize)]
struct Sample {
    seq: u64,
    #[allow(dead_code)]
    text: String,
}

/// The client loop under MQTT 3.1.1 (rumqttc-v4-next).
mod v3_1_1 {
    use rumqttc as mqtt;

    fn limit_packets(options: &mut mqtt::MqttOptions) {
        options.set_max_packet_size(1 << 20, 1 << 20);
    }

    include!("../raw_consumer_loop.rs");
}

/// The client loop under MQTT 5 (rumqttc-v5-next).
mod v5 {
    use rumqttc_v5 as mqtt;

    fn limit_packets(options: &mut mqtt::MqttOptions) {
        options.set_max_packet_size(Some(1 << 20));
    }

    include!("../raw_consumer_loop.rs");
}

#[tokio::main]
async fn main() {
    match std::env::var("MQTT_VERSION").as_deref() {
        Ok("5") => v5::run().await,
        _ => v3_1_1::run().await,
    }
}

/// Seconds since the Unix epoch, as envelopes carry them.
fn now_ts() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
