//! What a handler gets to act on the bus.

use serde::Serialize;

use crate::{Client, Event, PublishOptions, QoS, Result};

/// A handler's access to the connection: publishing events, health and raw payloads.
/// Cheap to clone and `Send + 'static`, so a handler may move it into a spawned task.
#[derive(Clone, Debug)]
pub struct Context {
    client: Client,
}

impl Context {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Publishes a typed event on its topic, with its QoS and retain flag.
    pub async fn publish<E: Event + Serialize>(&self, event: &E) -> Result<()> {
        self.client.publish(event).await
    }

    /// Publishes `data` in an envelope; see [`Client::publish_event`].
    pub async fn publish_event<D: Serialize + ?Sized>(
        &self,
        topic: &str,
        event_type: &str,
        data: &D,
        options: PublishOptions,
    ) -> Result<String> {
        self.client
            .publish_event(topic, event_type, data, options)
            .await
    }

    /// Publishes a raw payload; see [`Client::publish_bytes`].
    pub async fn publish_bytes(
        &self,
        topic: &str,
        qos: QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) -> Result<()> {
        self.client.publish_bytes(topic, qos, retain, payload).await
    }

    /// Publishes a health status; see [`Client::publish_health`].
    pub async fn publish_health(
        &self,
        ok: bool,
        event: Option<&str>,
        error: Option<&str>,
    ) -> Result<()> {
        self.client.publish_health(ok, event, error).await
    }

    /// The service instance's state of type `T`, if it was provided (handlers of
    /// `#[tars::handler]` take it as a `State<T>` argument instead).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<crate::State<T>> {
        self.client.shared().states.get::<T>()
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}
