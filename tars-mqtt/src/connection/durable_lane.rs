//! The session's side of the durable outbox (`TARS_OUTBOX_DIR`): a QoS 1/2 publish is
//! kept on disk instead of waiting in the data lane, and a feeder task hands what is
//! owed to the lane, oldest first (what the last run owed before anything new), as the
//! writer makes room. The writer reports what the broker acknowledged (`done`).

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};

use super::wire::{PublishPacket, Receipt};
use super::Connection;
use crate::durable::record::StoredPublish;
use crate::durable::{DurableOutbox, KeepError};
use crate::telemetry::trace::TraceContext;
use crate::{Error, QoS, Result};

/// The durable outbox as the session uses it.
#[derive(Debug)]
pub(crate) struct DurableLane {
    pub(crate) outbox: Arc<DurableOutbox>,
    /// Receipts of kept publishes whose publishers wait (`publish_confirmed`), until
    /// the feeder hands them over: a receipt lives in memory only.
    receipts: Mutex<HashMap<u64, Receipt>>,
}

impl DurableLane {
    pub(crate) fn new(outbox: Arc<DurableOutbox>) -> Self {
        Self {
            outbox,
            receipts: Mutex::default(),
        }
    }

    /// Keeps a QoS 1/2 publish on disk; returns once the fsync policy is met.
    pub(crate) async fn keep(&self, publish: PublishPacket) -> Result<()> {
        let stored = StoredPublish {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos as u8,
            retain: publish.retain,
            properties: publish.properties,
            trace: publish
                .trace
                .map(|t| (t.traceparent(), t.tracestate().map(str::to_owned))),
        };
        let receipt = publish.receipt;
        // The receipt is in place before the feeder can take the publish.
        let kept = |seq| {
            if let Some(receipt) = receipt {
                self.receipts().insert(seq, receipt);
            }
        };
        self.outbox
            .keep(&stored, kept)
            .await
            .map_err(|error| match error {
                KeepError::Full { max, waited } => Error::OutboxFull {
                    max_bytes: max,
                    waited,
                },
                KeepError::Io { .. } => Error::Outbox(error.to_string()),
            })?;
        Ok(())
    }

    fn receipts(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Receipt>> {
        self.receipts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The broker is done with these kept publishes.
    pub(crate) fn done(&self, seqs: &[u64]) {
        self.outbox.done(seqs);
    }

    /// The next publish owed, as a packet for the lane.
    async fn next(&self) -> PublishPacket {
        let (seq, stored) = self.outbox.next_unsent().await;
        let qos = match stored.qos {
            2 => QoS::ExactlyOnce,
            _ => QoS::AtLeastOnce,
        };
        let mut packet =
            PublishPacket::from_stored(stored.topic, qos, stored.retain, stored.payload);
        packet.properties = stored.properties;
        packet.trace = stored
            .trace
            .and_then(|(parent, state)| TraceContext::parse(&parent, state.as_deref()))
            .map(Box::new);
        packet.receipt = self.receipts().remove(&seq);
        packet.durable = NonZeroU64::new(seq);
        packet
    }
}

/// Hands what the outbox owes to the data lane until the session stops.
pub(crate) async fn feed(connection: Arc<Connection>) {
    let Some(lane) = &connection.durable else {
        return;
    };
    loop {
        let packet = tokio::select! {
            packet = lane.next() => packet,
            () = connection.stopped() => return,
        };
        let sent = tokio::select! {
            sent = connection.data.send(packet) => sent,
            () = connection.stopped() => return,
        };
        if sent.is_err() {
            return;
        }
    }
}
