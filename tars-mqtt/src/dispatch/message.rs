//! A received MQTT message.

use std::sync::Arc;

use bytes::Bytes;
use bytestring::ByteString;
use serde::de::DeserializeOwned;

use super::acks::{self, AckGuard};
use crate::contract::envelope::{self, EnvelopeHeader};
use crate::model::error::DecodeError;
use crate::{Envelope, Properties, QoS};

/// A message as received from the broker. Cheap to clone (the payload is shared).
#[derive(Debug, Clone)]
pub struct Message {
    /// The topic, sharing the memory of the packet it came in.
    topic: ByteString,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    /// Which handler of an ordered group this copy is for (0 outside groups).
    member: u16,
    /// With a persistent session: settles the acknowledgement once every copy is gone.
    ack: Option<Arc<AckGuard>>,
    /// MQTT 5 properties, when it had any.
    properties: Option<Box<Properties>>,
}

impl Message {
    /// A message of no session, for tests and the benchmark.
    #[cfg(any(test, feature = "bench"))]
    pub(crate) fn new(
        topic: impl Into<ByteString>,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Self {
        Self::received(topic.into(), payload, qos, retain, None, None)
    }

    /// The copy for handler `member` of an ordered group.
    pub(crate) fn for_member(mut self, member: u16) -> Self {
        self.member = member;
        self
    }

    /// Marks this copy as for handler `member` of an ordered group.
    pub(crate) fn set_member(&mut self, member: u16) {
        self.member = member;
    }

    /// Which handler of an ordered group this copy is for.
    pub(crate) fn member(&self) -> u16 {
        self.member
    }

    /// A message as received, with the MQTT 5 properties it came with and, with a
    /// persistent session, the guard that acknowledges it: built in place.
    pub(crate) fn received(
        topic: ByteString,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: Option<Box<Properties>>,
        ack: Option<Arc<AckGuard>>,
    ) -> Self {
        Self {
            topic,
            payload,
            qos,
            retain,
            member: 0,
            ack,
            properties,
        }
    }

    /// The message was handled (or deliberately dropped): its acknowledgement may go
    /// once every copy is dropped.
    pub(crate) fn mark_handled(&self) {
        if let Some(guard) = &self.ack {
            guard.mark_handled();
        }
    }

    /// Settles the message once `receipt` says the broker has its dead letter (see
    /// [`acks::settle_once_delivered`]); without a guard (clean session, QoS 0) now.
    pub(crate) fn settle_once_delivered(
        self,
        receipt: crate::connection::wire::Receipt,
        mut status: tokio::sync::watch::Receiver<crate::connection::Status>,
    ) {
        match self.ack.clone() {
            None => self.mark_handled(),
            Some(guard) => acks::settle_once_delivered(
                guard,
                async move {
                    // Acknowledged or refused, the broker is done with it.
                    let _ = receipt.delivered().await;
                },
                async move {
                    let _ = status.wait_for(|s| s.stopped).await;
                },
            ),
        }
    }

    /// Whether its acknowledgement waits for its handling (a QoS 1/2 message of a
    /// persistent session): left unhandled, the broker delivers it again.
    pub(crate) fn awaits_handling(&self) -> bool {
        self.ack.is_some()
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
    /// Its MQTT 5 properties; `None` under MQTT 3.1.1 or when it came with none.
    pub fn properties(&self) -> Option<&Properties> {
        self.properties.as_deref()
    }
    /// Its MQTT 5 user properties, in order (empty under 3.1.1).
    pub fn user_properties(&self) -> &[(String, String)] {
        self.properties().map_or(&[], |p| p.user.as_slice())
    }
    /// The value of its first MQTT 5 user property called `name`.
    pub fn user_property(&self, name: &str) -> Option<&str> {
        self.properties()?.user_property(name)
    }
    /// Its MQTT 5 content type.
    pub fn content_type(&self) -> Option<&str> {
        self.properties()?.content_type.as_deref()
    }
    /// Where its MQTT 5 requester wants the answer; a handler's returned event goes
    /// there.
    pub fn response_topic(&self) -> Option<&str> {
        self.properties()?.response_topic.as_deref()
    }
    /// What its MQTT 5 requester wants back with the answer.
    pub fn correlation_data(&self) -> Option<&Bytes> {
        self.properties()?.correlation_data.as_ref()
    }
    /// The MQTT 5 message expiry it was delivered with: what was left of the
    /// publisher's expiry when the broker sent it.
    pub fn message_expiry(&self) -> Option<std::time::Duration> {
        self.properties()?.message_expiry
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
