//! Round trip, one request at a time: a raw requester publishes a ping envelope and
//! waits for the pong carrying the same id, answered by a raw rumqttc responder or by a
//! tars handler returning the reply. Both responders run at once and the requester
//! alternates between them, so that both see the same moments of a noisy machine.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::{Event, Packet, PublishOptions, QoS};
use serde::Serialize;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::events::{envelope, handlers, Ping, Pong, RawEnvelope};
use crate::measure::{within, Latency, Pair};
use crate::{raw, tars_side};

const PING_TOPIC: &str = <Ping as tars::Event>::TOPIC;
const PONG_TOPIC: &str = <Pong as tars::Event>::TOPIC;
const RAW_PING_TOPIC: &str = "bench/raw/ping";
const RAW_PONG_TOPIC: &str = "bench/raw/pong";
const WARMUP: u64 = 100;
const REPLY_LIMIT: Duration = Duration::from_secs(10);

/// `count` round trips to each responder, alternating.
pub async fn run_pair(url: &str, port: u16, count: u64) -> Pair<Latency> {
    let responder = spawn_raw_responder(port).await;
    let client = tars_side::client(url, "bench-tars-responder", Some(handlers::ECHO)).await;
    let pair = measure(port, count).await;
    let _ = client.shutdown().await;
    responder.abort();
    pair
}

async fn measure(port: u16, count: u64) -> Pair<Latency> {
    let (client, mut event_loop) = raw::connect(port, "bench-requester");
    raw::subscribe(&client, &mut event_loop, PONG_TOPIC, QoS::AtMostOnce).await;
    raw::subscribe(&client, &mut event_loop, RAW_PONG_TOPIC, QoS::AtMostOnce).await;
    let pings: Vec<(String, Bytes)> = (0..2 * (WARMUP + count))
        .map(|seq| {
            let payload = envelope(Ping { seq }, "bench-requester");
            let id = serde_json::from_slice::<RawEnvelope<Ping>>(&payload)
                .expect("own envelope")
                .id
                .to_owned();
            (id, Bytes::from(payload))
        })
        .collect();
    let mut raw_samples = Vec::with_capacity(count as usize);
    let mut tars_samples = Vec::with_capacity(count as usize);
    for (seq, (id, payload)) in pings.into_iter().enumerate() {
        let to_tars = seq % 2 == 1;
        let topic = if to_tars { PING_TOPIC } else { RAW_PING_TOPIC };
        let started = Instant::now();
        client
            .publish(topic, payload, PublishOptions::new(QoS::AtMostOnce))
            .await
            .expect("request channel open");
        within(REPLY_LIMIT, "a pong for the ping", async {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Incoming(Packet::Publish(reply))) => {
                        let pong = serde_json::from_slice::<RawEnvelope<Pong>>(&reply.payload);
                        if pong.is_ok_and(|pong| pong.id == id) {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(error) => panic!("requester lost its connection: {error}"),
                }
            }
        })
        .await;
        if seq as u64 >= 2 * WARMUP {
            let samples = if to_tars {
                &mut tars_samples
            } else {
                &mut raw_samples
            };
            samples.push(started.elapsed());
        }
    }
    let _ = client.disconnect().await;
    let _ = tokio::time::timeout(Duration::from_millis(100), event_loop.poll()).await;
    Pair {
        raw: Latency::from_samples(raw_samples),
        tars: Latency::from_samples(tars_samples),
    }
}

/// The reply envelope a hand-written responder writes.
#[derive(Serialize)]
struct Reply<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    event_type: &'a str,
    ts: f64,
    source: &'a str,
    data: Pong,
}

async fn spawn_raw_responder(port: u16) -> JoinHandle<()> {
    let (ready, subscribed) = oneshot::channel();
    let task = tokio::spawn(async move {
        let (client, mut event_loop) = raw::connect(port, "bench-raw-responder");
        raw::subscribe(&client, &mut event_loop, RAW_PING_TOPIC, QoS::AtMostOnce).await;
        let _ = ready.send(());
        loop {
            let publish = match event_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => publish,
                Ok(_) => continue,
                Err(_) => return,
            };
            let Ok(ping) = serde_json::from_slice::<RawEnvelope<Ping>>(&publish.payload) else {
                continue;
            };
            let reply = Reply {
                id: ping.id,
                event_type: <Pong as tars::Event>::EVENT_TYPE,
                ts: tars::now_ts(),
                source: "bench-raw-responder",
                data: Pong { seq: ping.data.seq },
            };
            let payload = serde_json::to_vec(&reply).expect("reply serializes");
            let _ = client
                .publish(
                    RAW_PONG_TOPIC,
                    payload,
                    PublishOptions::new(QoS::AtMostOnce),
                )
                .await;
        }
    });
    within(REPLY_LIMIT, "raw responder subscribes", subscribed)
        .await
        .expect("raw responder subscribed");
    task
}
