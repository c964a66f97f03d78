//! Faults between a service and its broker: cut and black-holed (half-open)
//! connections, injected by a proxy on loopback (`tars_tests::proxy`), and messages
//! larger than the client accepts.

use std::time::{Duration, Instant};

use tars::{Client, Message, QoS};
use tars_tests::proxy::{FaultProxy, Mode};
use tars_tests::{collect, eventually, init_tracing, Mosquitto, Probe};

use tars_tests::WAIT;

/// A client through `proxy` with health on and a 2 s keepalive.
async fn client_through(proxy: &FaultProxy, name: &str, keepalive: Duration) -> Client {
    let client_id = format!("{name}-{}", &tars::new_id()[..8]);
    let config = tars::Config::builder(proxy.url(), client_id)
        .keepalive(keepalive)
        .enable_health(true)
        .enable_heartbeat(false)
        .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
        .build()
        .unwrap();
    Client::connect(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_black_holed_connection_is_detected_within_two_keepalives_and_the_will_is_seen() {
    init_tracing();
    let broker = Mosquitto::start();
    let proxy = FaultProxy::start(broker.port()).await;
    let keepalive = Duration::from_secs(2);
    let client = client_through(&proxy, "half-open", keepalive).await;
    let topic = format!("system/health/{}", client.config().client_id());
    let mut probe = Probe::start(broker.port(), &[&topic]).await;
    assert_eq!(probe.expect_on(&topic, WAIT).await.health_event(), "ready");

    proxy.set_mode(Mode::BlackHole);
    let cut_at = Instant::now();
    eventually(WAIT, "the client notices the dead connection", || {
        !client.is_connected()
    })
    .await;
    let detected = cut_at.elapsed();
    assert!(
        detected <= 2 * keepalive + Duration::from_millis(1500),
        "a half-open connection took {detected:?} to detect (keepalive {keepalive:?})"
    );
    let will = probe.expect_on(&topic, WAIT).await;
    assert_eq!(
        will.health_event(),
        "lost",
        "the broker published the last will"
    );

    proxy.set_mode(Mode::Pass);
    proxy.cut_all(); // connections opened while black-holed are dead too
    eventually(WAIT, "the client reconnects", || client.is_connected()).await;
    let back = probe.expect_on(&topic, WAIT).await;
    assert_eq!(back.health_event(), "reconnected");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_each_cut_the_client_reconnects_with_its_subscriptions() {
    init_tracing();
    let broker = Mosquitto::start();
    let proxy = FaultProxy::start(broker.port()).await;
    let client = client_through(&proxy, "cut", Duration::from_secs(5)).await;
    let mut seen = collect(&client, "faults/cut").await;
    let probe = Probe::start(broker.port(), &[]).await;
    for round in 1..=3u8 {
        let before = client.stats().connections;
        proxy.cut_all();
        eventually(WAIT, "a new connection", || {
            client.stats().connections > before && client.is_connected()
        })
        .await;
        // Subscriptions are restored right after the CONNACK; publish until one arrives.
        let payload = vec![round];
        let deadline = Instant::now() + WAIT;
        loop {
            probe
                .publish("faults/cut", QoS::AtLeastOnce, payload.clone())
                .await;
            match tokio::time::timeout(Duration::from_millis(200), seen.recv()).await {
                Ok(Some(got)) if got.payload() == payload.as_slice() => break,
                _ if Instant::now() < deadline => continue,
                _ => panic!("no message after cut {round}"),
            }
        }
        while seen.try_recv().is_ok() {}
    }
    assert!(proxy.accepted_connections() >= 4);
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_retained_message_is_skipped_without_a_reconnect_loop() {
    init_tracing();
    let broker = Mosquitto::start();
    let probe = Probe::start(broker.port(), &[]).await;
    probe
        .client
        .publish(
            "faults/big",
            vec![b'x'; 64 * 1024],
            rumqttc::PublishOptions::new(QoS::AtLeastOnce).retained(),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await; // retained by the broker
    let config = tars_tests::config(broker.port(), "oversized")
        .max_packet_size(16 * 1024)
        .build()
        .unwrap();
    let client = Client::connect(config).await.unwrap();
    let mut seen = collect(&client, "faults/#").await;
    eventually(WAIT, "the oversized retained message is skipped", || {
        client.stats().oversized == 1
    })
    .await;
    probe.publish("faults/small", QoS::AtLeastOnce, "ok").await;
    let got = tokio::time::timeout(WAIT, seen.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.topic(), got.payload()), ("faults/small", &b"ok"[..]));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = client.stats();
    assert_eq!(
        (stats.connections, stats.oversized),
        (1, 1),
        "no reconnect: {stats:?}"
    );
    assert!(
        seen.try_recv().is_err(),
        "the big message never reached the handler"
    );
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_cuts_during_a_qos1_burst_lose_no_sequence_number() {
    init_tracing();
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let proxy = FaultProxy::start(broker.port()).await;
    let mut probe = Probe::start(broker.port(), &["faults/burst"]).await;
    let client = client_through(&proxy, "burst", Duration::from_secs(5)).await;
    let sent = 10_000u32;
    let cuts_at = [2_000, 5_000, 8_000];
    for seq in 0..sent {
        if cuts_at.contains(&seq) {
            proxy.cut_all();
        }
        let options = tars::PublishOptions::new().qos(QoS::AtLeastOnce);
        client
            .publish_event(
                "faults/burst",
                "faults.burst",
                &serde_json::json!({ "seq": seq }),
                options,
            )
            .await
            .unwrap();
    }
    let mut seen = vec![false; sent as usize];
    let mut missing = sent;
    let deadline = Instant::now() + Duration::from_secs(60);
    while missing > 0 && Instant::now() < deadline {
        let Some(message) = probe.next_within(Duration::from_secs(10)).await else {
            break;
        };
        let seq = message.json()["data"]["seq"].as_u64().unwrap() as usize;
        if !std::mem::replace(&mut seen[seq], true) {
            missing -= 1;
        }
    }
    let lost: Vec<usize> = (0..sent as usize).filter(|&s| !seen[s]).take(10).collect();
    assert_eq!(
        missing, 0,
        "lost {missing} sequence numbers, first ones: {lost:?}"
    );
    assert!(client.stats().connections >= 4, "{:?}", client.stats());
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_disconnected_qos0_is_dropped_and_counted_and_qos1_waits_for_the_connection() {
    init_tracing();
    let broker = Mosquitto::start();
    let proxy = FaultProxy::start(broker.port()).await;
    let mut probe = Probe::start(broker.port(), &["faults/offline"]).await;
    let client = client_through(&proxy, "offline", Duration::from_secs(5)).await;
    proxy.set_mode(Mode::Refuse);
    proxy.cut_all();
    eventually(WAIT, "the client is disconnected", || {
        !client.is_connected()
    })
    .await;

    let publish = |qos: QoS, text: &'static str| {
        let client = client.clone();
        async move {
            client
                .publish_bytes("faults/offline", qos, false, text)
                .await
        }
    };
    publish(QoS::AtMostOnce, "at most once").await.unwrap();
    assert_eq!(client.stats().dropped_offline, 1);
    publish(QoS::AtLeastOnce, "at least once").await.unwrap();
    assert_eq!(client.stats().dropped_offline, 1);

    proxy.set_mode(Mode::Pass);
    eventually(WAIT, "the client reconnects", || client.is_connected()).await;
    let got = probe.expect_on("faults/offline", WAIT).await;
    assert_eq!(got.payload, b"at least once");
    let more = probe.collect_for(Duration::from_millis(500)).await;
    assert!(more.is_empty(), "only the QoS 1 publish arrives: {more:?}");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_cuts_of_a_persistent_subscriber_during_a_burst_handle_each_message_once() {
    init_tracing();
    let broker = Mosquitto::start_with("allow_anonymous true\nmax_queued_messages 0\n");
    let proxy = FaultProxy::start(broker.port()).await;
    let client_id = format!("durable-{}", &tars::new_id()[..8]);
    let config = tars::Config::builder(proxy.url(), client_id)
        .clean_session(false)
        .dedupe(Duration::from_secs(300), 100_000)
        .reconnect_delays(Duration::from_millis(100), Duration::from_millis(500))
        .build()
        .unwrap();
    let sent = 10_000usize;
    let handled: std::sync::Arc<Vec<std::sync::atomic::AtomicU32>> =
        std::sync::Arc::new((0..sent).map(|_| Default::default()).collect());
    let counts = handled.clone();
    let client = Client::builder(config)
        .subscribe("faults/jobs", QoS::AtLeastOnce, move |m: Message| {
            let counts = counts.clone();
            async move {
                let envelope: serde_json::Value = serde_json::from_slice(m.payload()).unwrap();
                let seq = envelope["data"]["seq"].as_u64().unwrap() as usize;
                counts[seq].fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        })
        .connect()
        .await
        .unwrap();

    let probe = Probe::start(broker.port(), &[]).await;
    for seq in 0..sent {
        if [2_000, 5_000, 8_000].contains(&seq) {
            // Three separate cuts: each one after the previous reconnect.
            eventually(WAIT, "connected before the cut", || client.is_connected()).await;
            proxy.cut_all();
        }
        let payload = tars_tests::python_style_envelope(
            "faults.job",
            serde_json::json!({ "seq": seq }),
            None,
        );
        probe
            .publish("faults/jobs", QoS::AtLeastOnce, payload)
            .await;
    }
    let count = |seq: usize| handled[seq].load(std::sync::atomic::Ordering::SeqCst);
    eventually(
        Duration::from_secs(60),
        "every sequence number handled",
        || (0..sent).all(|seq| count(seq) > 0),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await; // late redeliveries, if any
    let twice: Vec<usize> = (0..sent).filter(|&seq| count(seq) > 1).take(10).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let stats = client.stats();
    assert!(stats.connections >= 4, "{stats:?}");
    client.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_link_delays_and_throttles_but_loses_nothing() {
    init_tracing();
    let broker = Mosquitto::start();
    let proxy = FaultProxy::start(broker.port()).await;
    let client = client_through(&proxy, "slow-link", Duration::from_secs(5)).await;
    let mut seen = collect(&client, "faults/slow").await;

    // 150 ms each way between the client and the broker.
    proxy.set_mode(Mode::Delay(Duration::from_millis(150)));
    let started = Instant::now();
    client
        .publish_bytes("faults/slow", QoS::AtLeastOnce, false, vec![b'x'; 10])
        .await
        .unwrap();
    let got = tokio::time::timeout(WAIT, seen.recv()).await.unwrap();
    assert_eq!(got.map(|m| m.payload().len()), Some(10));
    let round_trip = started.elapsed();
    assert!(round_trip >= Duration::from_millis(300), "{round_trip:?}");

    // 64 KiB/s: a 192 KiB message takes about 3 s each way, and arrives whole.
    proxy.set_mode(Mode::Throttle(64 * 1024));
    let started = Instant::now();
    client
        .publish_bytes(
            "faults/slow",
            QoS::AtLeastOnce,
            false,
            vec![b'y'; 192 * 1024],
        )
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), seen.recv()).await;
    assert_eq!(got.unwrap().map(|m| m.payload().len()), Some(192 * 1024));
    let throttled = started.elapsed();
    assert!(throttled >= Duration::from_secs(4), "{throttled:?}");
    assert_eq!(
        client.stats().connections,
        1,
        "a slow link is not a dead one"
    );
    proxy.set_mode(Mode::Pass);
    client.shutdown().await.unwrap();
}
