//! The task that owns subscriptions on the broker: it sends each SUBSCRIBE and waits
//! for its SUBACK, restores every subscription after every CONNACK, then publishes
//! health (`ready` the first time, `reconnected` after).
//!
//! It is the only sender of SUBSCRIBE packets, so the next SUBSCRIBE the event loop
//! reports writing is always the one it waits for.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{QoS, SubscribeFilter, SubscribeReasonCode};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::timeout;

use super::{SessionInput, Shared, Status};
use crate::health::events;
use crate::publish::{publish_bytes, publish_health};
use crate::{Error, Result};

/// How long the broker has to answer a SUBSCRIBE.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Filters per SUBSCRIBE packet when restoring many subscriptions.
const FILTERS_PER_PACKET: usize = 64;

struct Request {
    filter: String,
    qos: QoS,
    reply: oneshot::Sender<Result<()>>,
}

/// Why waiting for a SUBACK ended without one.
enum Interrupted {
    ConnectionLost,
    TimedOut,
    Closed,
}

pub(crate) struct SessionTask {
    shared: Arc<Shared>,
    inputs: mpsc::UnboundedReceiver<SessionInput>,
    status: watch::Receiver<Status>,
    /// Subscribe requests received while (re)subscribing or disconnected.
    waiting: VecDeque<Request>,
    restored_epoch: u64,
    /// Whether `ready` was published (after that, connections announce `reconnected`).
    announced_ready: bool,
}

impl SessionTask {
    pub(crate) fn new(shared: Arc<Shared>, inputs: mpsc::UnboundedReceiver<SessionInput>) -> Self {
        let status = shared.status.subscribe();
        Self {
            shared,
            inputs,
            status,
            waiting: VecDeque::new(),
            restored_epoch: 0,
            announced_ready: false,
        }
    }

    pub(crate) async fn run(mut self) {
        loop {
            let status = *self.status.borrow_and_update();
            if status.stopped {
                return;
            }
            if status.connected && status.epoch != self.restored_epoch {
                if self.restore(status.epoch).await.is_err() {
                    continue;
                }
                self.restored_epoch = status.epoch;
                self.publish_connected_health().await;
                self.shared
                    .status
                    .send_modify(|s| s.subscribed_epoch = status.epoch);
                continue;
            }
            if status.connected {
                if let Some(request) = self.waiting.pop_front() {
                    self.subscribe_one(request).await;
                    continue;
                }
            }
            tokio::select! {
                changed = self.status.changed() => if changed.is_err() { return },
                input = self.inputs.recv() => match input {
                    None => return,
                    Some(SessionInput::Subscribe { filter, qos, reply }) => {
                        self.waiting.push_back(Request { filter, qos, reply });
                    }
                    // Stray answers to a SUBSCRIBE that timed out.
                    Some(SessionInput::SubscribeSent(_) | SessionInput::SubAck(_)) => {}
                },
            }
        }
    }

    /// Sends every subscription again on a new connection.
    async fn restore(&mut self, epoch: u64) -> Result<(), ()> {
        let subscriptions = self.shared.routes_read().subscriptions();
        for chunk in subscriptions.chunks(FILTERS_PER_PACKET) {
            match self.subscribe_and_wait(chunk.to_vec()).await {
                Ok(codes) => {
                    for ((filter, _), code) in chunk.iter().zip(codes) {
                        if code == SubscribeReasonCode::Failure {
                            tracing::error!(filter, "the broker refused the subscription (check its ACL for this client)");
                        }
                    }
                }
                Err(Interrupted::TimedOut) => {
                    tracing::warn!(
                        epoch,
                        "the broker did not acknowledge subscriptions within {SUBACK_TIMEOUT:?}"
                    );
                }
                Err(Interrupted::ConnectionLost | Interrupted::Closed) => return Err(()),
            }
        }
        if !subscriptions.is_empty() {
            tracing::info!(count = subscriptions.len(), "subscriptions restored");
        }
        Ok(())
    }

    async fn subscribe_one(&mut self, request: Request) {
        let filters = vec![(request.filter.clone(), request.qos)];
        let result = match self.subscribe_and_wait(filters).await {
            Ok(codes) if codes.first() == Some(&SubscribeReasonCode::Failure) => {
                Err(Error::SubscriptionRefused {
                    filter: request.filter,
                })
            }
            Ok(_) => {
                tracing::info!(
                    filter = request.filter,
                    qos = request.qos as u8,
                    "subscribed"
                );
                Ok(())
            }
            Err(Interrupted::TimedOut) => Err(Error::Timeout {
                what: "the broker to acknowledge the subscription",
                after: SUBACK_TIMEOUT,
            }),
            // The route is in place: the restore on the next connection subscribes it.
            Err(Interrupted::ConnectionLost) => Ok(()),
            Err(Interrupted::Closed) => Err(Error::Closed),
        };
        let _ = request.reply.send(result);
    }

    /// Sends one SUBSCRIBE and waits for its SUBACK's return codes.
    async fn subscribe_and_wait(
        &mut self,
        filters: Vec<(String, QoS)>,
    ) -> Result<Vec<SubscribeReasonCode>, Interrupted> {
        let packet: Vec<SubscribeFilter> = filters
            .into_iter()
            .map(|(filter, qos)| SubscribeFilter::new(filter, qos))
            .collect();
        if self.shared.mqtt.subscribe_many(packet).await.is_err() {
            return Err(Interrupted::Closed);
        }
        let epoch = self.status.borrow().epoch;
        let mut sent_pkid = None;
        let wait = async {
            loop {
                tokio::select! {
                    changed = self.status.changed() => {
                        let status = *self.status.borrow_and_update();
                        if changed.is_err() || status.stopped {
                            return Err(Interrupted::Closed);
                        }
                        if !status.connected || status.epoch != epoch {
                            return Err(Interrupted::ConnectionLost);
                        }
                    }
                    input = self.inputs.recv() => match input {
                        None => return Err(Interrupted::Closed),
                        Some(SessionInput::SubscribeSent(pkid)) => {
                            sent_pkid.get_or_insert(pkid);
                        }
                        Some(SessionInput::SubAck(suback)) if Some(suback.pkid) == sent_pkid => {
                            return Ok(suback.return_codes);
                        }
                        Some(SessionInput::SubAck(_)) => {}
                        Some(SessionInput::Subscribe { filter, qos, reply }) => {
                            self.waiting.push_back(Request { filter, qos, reply });
                        }
                    },
                }
            }
        };
        timeout(SUBACK_TIMEOUT, wait)
            .await
            .unwrap_or(Err(Interrupted::TimedOut))
    }

    async fn publish_connected_health(&mut self) {
        if let Some(manifest) = &self.shared.manifest {
            let topic = crate::manifest::manifest_topic(self.shared.config.client_id());
            if let Err(error) = publish_bytes(
                &self.shared,
                &topic,
                QoS::AtLeastOnce,
                true,
                manifest.clone(),
            )
            .await
            {
                tracing::warn!(%error, "could not publish the service manifest");
            }
        }
        if !self.shared.config.enable_health() {
            return;
        }
        let event = if self.announced_ready {
            events::RECONNECTED
        } else {
            events::READY
        };
        self.announced_ready = true;
        if let Err(error) = publish_health(&self.shared, true, Some(event), None).await {
            tracing::warn!(%error, event, "could not publish health");
        }
    }
}
