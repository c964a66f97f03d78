//! The raw side of `tars-bench processes`: the consumer a user would write by hand with
//! rumqttc (the rumqttc-next client): one event loop, each payload decoded into a typed
//! envelope with serde_json. It prints `ready` once subscribed and `done N` when the
//! count reaches `BENCH_EXPECT`.

use std::io::Write;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use serde::Deserialize;

#[derive(Deserialize)]
struct Envelope {
    #[allow(dead_code)]
    id: String,
    data: Sample,
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
    let mut options = MqttOptions::new("bench-raw-consumer", ("127.0.0.1", port));
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
    let mut subacks = 0;
    let mut count = 0u64;
    let mut seq_sum = 0u64;
    loop {
        match event_loop.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => {
                subacks += 1;
                if subacks == 2 {
                    say("ready");
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

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
