//! MQTT over websockets (`ws://`), against mosquitto's websockets listener: the
//! transport tars opens itself, through rumqttc-next's websocket adapter.

use std::time::Duration;

use tars::{Client, Message, QoS};
use tars_tests::{free_port, init_tracing, Mosquitto, Probe};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_over_websockets_receives_publishes_and_announces_health() {
    init_tracing();
    let ws_port = free_port();
    let broker = Mosquitto::start_with(&format!(
        "allow_anonymous true\nlistener {ws_port} 127.0.0.1\nprotocol websockets\n"
    ));
    let config = tars::Config::builder(format!("ws://127.0.0.1:{ws_port}"), "ws-client")
        .enable_health(true)
        .build()
        .unwrap();
    let (seen_tx, mut seen) = tokio::sync::mpsc::unbounded_channel();
    let client = Client::builder(config)
        .subscribe("ws/in", QoS::AtLeastOnce, move |message: Message| {
            let seen_tx = seen_tx.clone();
            async move {
                let _ = seen_tx.send(message.payload().to_vec());
            }
        })
        .connect()
        .await
        .expect("connects over websockets");
    assert!(client.is_connected());

    // In: a plain TCP peer publishes, the websocket client's handler gets it.
    let mut probe = Probe::start(broker.port(), &["ws/out", "system/health/ws-client"]).await;
    probe.publish("ws/in", QoS::AtLeastOnce, "over tcp").await;
    let got = tokio::time::timeout(Duration::from_secs(5), seen.recv())
        .await
        .expect("the handler got the message")
        .unwrap();
    assert_eq!(got, b"over tcp");

    // Out: the websocket client publishes, the TCP peer sees it; health went out too.
    let health = probe
        .expect_on("system/health/ws-client", Duration::from_secs(5))
        .await;
    assert_eq!(health.json()["data"]["event"], "ready");
    client
        .publish_bytes("ws/out", QoS::AtLeastOnce, false, "over websockets")
        .await
        .unwrap();
    let out = probe.expect_on("ws/out", Duration::from_secs(5)).await;
    assert_eq!(out.payload, b"over websockets");
    client.shutdown().await.unwrap();
}
