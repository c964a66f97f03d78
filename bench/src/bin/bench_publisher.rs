//! A burst publisher process for `tars-bench processes --publisher rumqttc`: a rumqttc
//! client as a user would write one to flood a topic, with a request channel of
//! 10,000, publishing in a loop as fast as the client accepts while a task polls its
//! event loop. It connects, prints `ready`, waits for `go` on its standard input,
//! publishes `BENCH_COUNT` numbered ~150-byte envelopes on `BENCH_TOPIC` at QoS
//! `BENCH_QOS` (0 or 1) to `127.0.0.1:BENCH_PORT`, and prints `published N` once the
//! last one is written (and, at QoS 1, acknowledged).

use std::io::{BufRead, Write};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Outgoing, Packet, PublishOptions, QoS};

fn env_number(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} must be set to a number"))
}

fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let port = env_number("BENCH_PORT") as u16;
    let count = env_number("BENCH_COUNT");
    let qos = match env_number("BENCH_QOS") {
        0 => QoS::AtMostOnce,
        _ => QoS::AtLeastOnce,
    };
    let topic = std::env::var("BENCH_TOPIC").expect("BENCH_TOPIC must be set");
    let payloads = tars_bench::burst_payloads(count);

    let id = format!("bench-rumqttc-publisher-{}", std::process::id());
    let mut options = MqttOptions::new(id, ("127.0.0.1", port));
    options.set_keep_alive(30);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut event_loop) = AsyncClient::builder(options).capacity(10_000).build();
    // Connected before `ready`.
    loop {
        match event_loop.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => break,
            Ok(_) => {}
            Err(error) => panic!("the publisher could not connect: {error}"),
        }
    }
    say("ready");
    let go = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
    });
    // Keep polling (pings) until told to go.
    tokio::pin!(go);
    loop {
        tokio::select! {
            _ = &mut go => break,
            polled = event_loop.poll() => { polled.expect("the publisher's connection failed"); }
        }
    }
    let feeder = tokio::spawn(async move {
        for payload in payloads {
            if client
                .publish(topic.as_str(), payload, PublishOptions::new(qos))
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let (mut written, mut acked) = (0u64, 0u64);
    while written < count || (qos != QoS::AtMostOnce && acked < count) {
        match event_loop.poll().await {
            Ok(Event::Outgoing(Outgoing::Publish(_))) => written += 1,
            Ok(Event::Incoming(Packet::PubAck(_))) => acked += 1,
            Ok(_) => {}
            Err(error) => panic!("the publisher's connection failed: {error}"),
        }
    }
    let _ = feeder.await;
    say(&format!("published {count}"));
    // Let the last packets leave before the process ends.
    let _ = tokio::time::timeout(Duration::from_millis(200), async {
        while event_loop.poll().await.is_ok() {}
    })
    .await;
}
