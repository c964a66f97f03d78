//! The escape hatch under [`Client::mqtt`](crate::Client::mqtt): publishes built with
//! the MQTT library's own packet type, for what tars does not wrap.

use std::sync::Arc;

use crate::connection::{publish, wire, Connection};
use crate::Result;

/// The connection underneath a client, for packets tars does not build itself.
///
/// Receive through tars (`subscribe`, handlers), so that subscriptions are restored
/// after every reconnect.
///
/// ```no_run
/// # async fn demo(client: tars::Client) -> tars::Result<()> {
/// use tars::rumqttc::Publish;
/// use tars::QoS;
///
/// let mut frame = Publish::new("audio/raw/mic1", QoS::AtMostOnce, vec![0u8; 640]);
/// frame.retain = false;
/// client.mqtt().publish(frame).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct MqttHandle {
    connection: Arc<Connection>,
}

impl MqttHandle {
    pub(crate) fn new(connection: Arc<Connection>) -> Self {
        Self { connection }
    }

    /// Sends a PUBLISH as built: topic, payload, QoS, retain and dup flag; tars assigns
    /// the packet id. The topic and size are checked as for every publish, and QoS 1/2
    /// publishes are kept across reconnects like the others.
    pub async fn publish(&self, publish: rumqttc::Publish) -> Result<()> {
        publish::send(&self.connection, wire::from_library(publish)).await
    }
}
