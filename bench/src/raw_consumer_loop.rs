// The raw consumer's client loop, written once for both rumqttc-next clients:
// `bench/src/bin/raw_consumer.rs` includes it in a module per MQTT version, where
// `mqtt` names that version's crate and `limit_packets` sets its packet size limit.

use crate::{Envelope, OutEnvelope, PingEnvelope, PongEnvelope, Reading, Seq};
use mqtt::{AsyncClient, Event, MqttOptions, Packet, PublishOptions, QoS};
use tokio::io::AsyncBufReadExt;

/// Runs the consumer until the connection fails.
pub(crate) async fn run() {
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
    limit_packets(&mut options);
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
                    ts: crate::now_ts(),
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
            crate::say(&format!("published {count}"));
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
                    crate::say("ready");
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish)))
                if &publish.topic[..] == b"bench/proc/ping" =>
            {
                if let Ok(ping) = serde_json::from_slice::<PingEnvelope>(&publish.payload) {
                    let pong = PongEnvelope {
                        id: ping.id,
                        event_type: "pong",
                        ts: crate::now_ts(),
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
                        crate::say(&format!("done {count}"));
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

