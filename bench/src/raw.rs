//! Hand-written rumqttc code: the baseline every tars figure is compared with, written
//! as a careful user would (TCP_NODELAY, one task owning the event loop, no extra hop).

use std::time::Duration;

use bytes::Bytes;
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, NetworkOptions, Outgoing, Packet, QoS};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::events::{RawEnvelope, Sample};
use crate::tally;

/// Requests rumqttc's channel holds (the same as tars's).
pub const CHANNEL_CAPACITY: usize = 1024;

/// A raw client on `127.0.0.1:port`.
pub fn connect(port: u16, client_id: &str) -> (AsyncClient, EventLoop) {
    let mut options = MqttOptions::new(client_id, ("127.0.0.1", port));
    options.set_keep_alive(30);
    options.set_max_packet_size(1 << 20, 1 << 20);
    let (client, mut event_loop) = AsyncClient::builder(options)
        .capacity(CHANNEL_CAPACITY)
        .build();
    let mut network = NetworkOptions::new();
    network.set_tcp_nodelay(true);
    event_loop.set_network_options(network);
    (client, event_loop)
}

/// Polls until the CONNACK and the SUBACK of `filter` (sent first) arrived.
pub async fn subscribe(client: &AsyncClient, event_loop: &mut EventLoop, filter: &str, qos: QoS) {
    client
        .subscribe(filter, qos)
        .await
        .expect("the request channel is open");
    loop {
        match event_loop.poll().await {
            Ok(Event::Incoming(Packet::SubAck(_))) => return,
            Ok(_) => {}
            Err(error) => panic!("raw client could not subscribe to {filter}: {error}"),
        }
    }
}

/// A raw subscriber decoding each sample envelope with serde_json and recording it into
/// the tally. Resolves `ready` once subscribed.
pub fn spawn_consumer(
    port: u16,
    client_id: &'static str,
    qos: QoS,
    ready: oneshot::Sender<()>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let (client, mut event_loop) = connect(port, client_id);
        subscribe(&client, &mut event_loop, crate::events::SAMPLE_TOPIC, qos).await;
        let _ = ready.send(());
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    if let Ok(envelope) =
                        serde_json::from_slice::<RawEnvelope<Sample>>(&publish.payload)
                    {
                        tally::record(envelope.data.seq);
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    })
}

/// A raw publisher's event loop, counting the PUBLISH packets it writes.
pub struct Publisher {
    /// The client to publish through.
    pub client: AsyncClient,
    written: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: JoinHandle<()>,
}

impl Publisher {
    /// Connects a publisher and runs its event loop.
    pub async fn start(port: u16, client_id: &str) -> Self {
        let (client, mut event_loop) = connect(port, client_id);
        loop {
            match event_loop.poll().await {
                Ok(Event::Incoming(Packet::ConnAck(_))) => break,
                Ok(_) => {}
                Err(error) => panic!("raw publisher could not connect: {error}"),
            }
        }
        let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = written.clone();
        let task = tokio::spawn(async move {
            loop {
                match event_loop.poll().await {
                    Ok(Event::Outgoing(Outgoing::Publish(_))) => {
                        counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        Self {
            client,
            written,
            task,
        }
    }

    /// PUBLISH packets written so far.
    pub fn written(&self) -> u64 {
        self.written.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Publishes every payload on the sample topic.
    pub async fn publish_all(&self, payloads: &[Bytes], qos: QoS) {
        for payload in payloads {
            self.client
                .publish(
                    crate::events::SAMPLE_TOPIC,
                    payload.clone(),
                    rumqttc::PublishOptions::new(qos),
                )
                .await
                .expect("the request channel is open");
        }
    }

    /// Disconnects and stops its event loop.
    pub async fn stop(self) {
        let _ = self.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.task.abort();
    }
}

/// Polls `event_loop` until `count` publishes have been written.
///
/// # Panics
///
/// When the connection fails: the measurement would be void.
pub async fn drive_publishes(event_loop: &mut EventLoop, count: u64) {
    let mut written = 0;
    while written < count {
        match event_loop.poll().await {
            Ok(rumqttc::Event::Outgoing(rumqttc::Outgoing::Publish(_))) => written += 1,
            Ok(_) => {}
            Err(error) => panic!("the bench publisher failed: {error}"),
        }
    }
}

/// Polls a little longer, so that the acknowledgements of the last QoS 1 publishes
/// arrive.
pub async fn settle(event_loop: &mut EventLoop) {
    let _ = tokio::time::timeout(std::time::Duration::from_millis(200), async {
        while event_loop.poll().await.is_ok() {}
    })
    .await;
}
