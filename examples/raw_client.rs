//! Extension pattern 3: the connection underneath, for what tars does not wrap.
//!
//! `Client::mqtt()` takes packets built with the MQTT library's own types
//! (`tars::rumqttc::Publish`): set the flags tars does not expose, send payloads that are
//! not envelopes (binary audio frames below). Receive through tars (`subscribe`,
//! handlers), so that subscriptions are restored after every reconnect.
//!
//! It uses `MQTT_URL` when set, else an embedded broker.
//!
//! ```sh
//! cargo run --example raw_client
//! ```

use std::time::Duration;

use tars::{Client, Config, Message, QoS};
use tokio::sync::mpsc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tars_examples::init_logging();
    let (url, _broker) = tars_examples::broker_url().await?;
    let client = Client::connect(Config::builder(&url, "raw-demo").build()?).await?;

    // Receive raw frames through tars: restored after reconnects, isolated handler.
    let (frames_tx, mut frames) = mpsc::unbounded_channel();
    client
        .subscribe("audio/raw/+", QoS::AtMostOnce, move |message: Message| {
            let frames = frames_tx.clone();
            async move {
                let _ = frames.send((message.topic().to_owned(), message.payload().to_vec()));
            }
        })
        .await?;

    // Publish a binary PCM frame as a packet of the library's own type: no envelope.
    let frame: Vec<u8> = (0..320u16).flat_map(|s| s.to_le_bytes()).collect();
    let packet = tars::rumqttc::Publish::new("audio/raw/mic1", QoS::AtMostOnce, frame.clone());
    client.mqtt().publish(packet).await?;

    let (topic, payload) = tokio::time::timeout(Duration::from_secs(5), frames.recv())
        .await?
        .ok_or("no frame")?;
    assert_eq!(
        (topic.as_str(), payload.len()),
        ("audio/raw/mic1", frame.len())
    );
    assert_eq!(payload, frame);
    println!(
        "raw_client: a {}-byte binary frame went out as a raw PUBLISH packet",
        payload.len()
    );
    client.shutdown().await?;
    Ok(())
}
