//! The raw side of `tars-bench processes`: the consumer a user would write by hand with
//! rumqttc (the rumqttc-next client): one event loop, each payload decoded into a typed
//! envelope with serde_json. It prints `ready` once subscribed and `done N` when the
//! count reaches `BENCH_EXPECT`. With `BENCH_PUBLISH=N` it publishes N envelopes once
//! it reads `go` on its standard input (on `BENCH_PUBLISH_TOPIC`, default
//! `bench/proc/out`), each serialized as a hand-written producer
//! would (a fresh uuid, the time, serde_json), then prints `published N`. A ping on
//! `bench/proc/ping` is answered on `bench/proc/pong` with the ping's id.

use std::io::Write;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, PublishOptions, QoS};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncBufReadExt;

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

#[tokio::main]
async fn main() {
    let url = std::env::var("MQTT_URL").expect("MQTT_URL");
    let port: u16 = url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("a port");
    let expect: u64 = std::env::var("BENCH_EXPECT")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(u64::MAX);
    let mut options = MqttOptions::new(
        std::env::var("MQTT_CLIENT_ID").unwrap_or_else(|_| "bench-raw-consumer".into()),
        ("127.0.0.1", port),
    );
    options.set_keep_alive(60);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut event_loop) = AsyncClient::builder(options).capacity(1024).build();
    client
        .subscribe("bench/proc/q0", QoS::AtMostOnce)
        .await
        .unwrap();
    client
        .subscribe("bench/proc/q1", QoS::AtLeastOnce)
        .await
        .unwrap();
    client
        .subscribe("bench/proc/ping", QoS::AtMostOnce)
        .await
        .unwrap();
    if let Some(count) = std::env::var("BENCH_PUBLISH")
        .ok()
        .and_then(|n| n.parse::<u64>().ok())
    {
        let publisher = client.clone();
        let topic =
            std::env::var("BENCH_PUBLISH_TOPIC").unwrap_or_else(|_| "bench/proc/out".into());
        tokio::spawn(async move {
            let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
            while let Ok(Some(line)) = stdin.next_line().await {
                if line == "go" {
                    break;
                }
            }
            for seq in 0..count {
                let envelope = OutEnvelope {
                    id: uuid::Uuid::new_v4().simple().to_string(),
                    event_type: "reading",
                    ts: now_ts(),
                    source: "bench-raw",
                    data: Reading {
                        seq,
                        text: "the quick brown fox jumps over the lazy dog",
                    },
                };
                let payload = serde_json::to_vec(&envelope).expect("serializes");
                publisher
                    .publish(
                        topic.as_str(),
                        payload,
                        PublishOptions::new(QoS::AtMostOnce),
                    )
                    .await
                    .expect("the request channel is open");
            }
            say(&format!("published {count}"));
        });
    }
    let mut subacks = 0;
    let mut count = 0u64;
    let mut seq_sum = 0u64;
    loop {
        match event_loop.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                subacks += 1;
                if subacks == 3 {
                    say("ready");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish)))
                if &publish.topic[..] == b"bench/proc/ping" =>
            {
                if let Ok(ping) = serde_json::from_slice::<PingEnvelope>(&publish.payload) {
                    let pong = PongEnvelope {
                        id: ping.id,
                        event_type: "pong",
                        ts: now_ts(),
                        source: "bench-raw",
                        data: Seq { seq: ping.data.seq },
                    };
                    let payload = serde_json::to_vec(&pong).expect("serializes");
                    let _ = client.try_publish(
                        "bench/proc/pong",
                        payload,
                        PublishOptions::new(QoS::AtMostOnce),
                    );
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => {
                if let Ok(envelope) = serde_json::from_slice::<Envelope>(&publish.payload) {
                    seq_sum = seq_sum.wrapping_add(envelope.data.seq);
                    count += 1;
                    if count == expect {
                        say(&format!("done {count}"));
                    }
                }
            }
            Ok(_) => {}
            Err(error) => {
                eprintln!("raw consumer: {error}");
                return;
            }
        }
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
