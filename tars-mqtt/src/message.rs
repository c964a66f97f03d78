//! A received MQTT message.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::DeserializeOwned;

use crate::connection::acks::AckGuard;
use crate::envelope::{self, DecodeError, EnvelopeHeader};
use crate::{Envelope, QoS};

/// A message as received from the broker. Cheap to clone (the payload is shared).
#[derive(Debug, Clone)]
pub struct Message {
    /// The topic, sharing the memory of the packet it came in.
    topic: ByteString,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    /// With a persistent session: settles the acknowledgement once every copy is gone.
    ack: Option<Arc<AckGuard>>,
}

impl Message {
    pub(crate) fn new(
        topic: impl Into<ByteString>,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Self {
        Self {
            topic: topic.into(),
            payload,
            qos,
            retain,
            ack: None,
        }
    }

    /// Ties the message's acknowledgement to its handling (persistent sessions).
    pub(crate) fn with_ack(mut self, guard: Arc<AckGuard>) -> Self {
        self.ack = Some(guard);
        self
    }

    /// The message was handled (or deliberately dropped): its acknowledgement may go
    /// once every copy is dropped.
    pub(crate) fn mark_handled(&self) {
        if let Some(guard) = &self.ack {
            guard.mark_handled();
        }
    }

    /// The topic it was published on.
    pub fn topic(&self) -> &str {
        &self.topic
    }
    /// The raw payload.
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }
    /// The payload as shared bytes.
    pub fn payload_bytes(&self) -> &Bytes {
        &self.payload
    }
    /// The QoS it was delivered with.
    pub fn qos(&self) -> QoS {
        self.qos
    }
    /// Whether it is a retained message delivered on subscribe.
    pub fn retain(&self) -> bool {
        self.retain
    }

    /// Decodes the payload as an envelope with `T` data.
    pub fn envelope<T: DeserializeOwned>(&self) -> Result<Envelope<T>, DecodeError> {
        envelope::decode(&self.payload)
    }

    /// Decodes the payload as plain JSON (e.g. a heartbeat).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        serde_json::from_slice(&self.payload).map_err(DecodeError::new::<T>)
    }

    /// The envelope id and type, if the payload is an envelope.
    pub(crate) fn header(&self) -> Option<EnvelopeHeader<'_>> {
        serde_json::from_slice(&self.payload).ok()
    }
}
