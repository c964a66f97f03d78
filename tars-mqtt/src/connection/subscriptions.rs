//! The task that owns subscriptions on the broker: it sends each SUBSCRIBE and waits
//! for its SUBACK, restores every subscription after every CONNACK, then announces the
//! client's presence (manifest, health `ready` the first time, `reconnected` after).
//!
//! A subscription the broker refuses is never silent: on the first connection it fails
//! the start (`#[tars::service]` exits 1 naming the filter); on a later one it is logged
//! at error and health goes `ok=false` with `err` naming the filter; a
//! [`Client::subscribe`](crate::Client::subscribe) call returns the error.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::timeout;

use super::wire::SubscribeOutcome;
use super::{Command, Connection, Filter, Status, SubscribeRequest, SubscriptionSource};
use crate::{Error, Result};

/// How long the broker has to answer a SUBSCRIBE.
const SUBACK_TIMEOUT: Duration = Duration::from_secs(10);
/// Filters per SUBSCRIBE packet when restoring many subscriptions.
const FILTERS_PER_PACKET: usize = 64;
/// The broker's answer to a refused subscription, as logged and reported.
fn refusal(reason: &str) -> String {
    format!("SUBACK: {reason}")
}

/// Why waiting for a SUBACK ended without one.
enum Interrupted {
    ConnectionLost,
    TimedOut,
    Closed,
}

/// The subscriptions task of one client.
pub(crate) struct SubscriptionsTask<S> {
    connection: Arc<Connection>,
    /// The filters to restore on each connection.
    source: Arc<S>,
    inputs: mpsc::UnboundedReceiver<SubscribeRequest>,
    status: watch::Receiver<Status>,
    /// Subscribe requests received while (re)subscribing or disconnected.
    waiting: VecDeque<SubscribeRequest>,
    restored_epoch: u64,
    /// Whether `ready` was announced (after that, connections announce `reconnected`).
    announced_ready: bool,
}

impl<S: SubscriptionSource> SubscriptionsTask<S> {
    pub(crate) fn new(
        connection: Arc<Connection>,
        source: Arc<S>,
        inputs: mpsc::UnboundedReceiver<SubscribeRequest>,
    ) -> Self {
        let status = connection.status.subscribe();
        Self {
            connection,
            source,
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
            if status.stopped || status.failed {
                return;
            }
            if status.connected && status.epoch != self.restored_epoch {
                let Ok(refused) = self.restore(status.epoch).await else {
                    continue;
                };
                if !self.announced_ready && !refused.is_empty() {
                    let filter = refused
                        .iter()
                        .map(|(f, _)| f.as_str())
                        .collect::<Vec<_>>()
                        .join(", ");
                    let answer = refused[0].1.clone();
                    tracing::error!(filter, answer, "the broker refused a subscription at start (check the broker's ACL for this client)");
                    self.connection
                        .fail_startup(Error::SubscriptionRefused { filter, answer });
                    return;
                }
                self.restored_epoch = status.epoch;
                let refused: Vec<String> = refused.into_iter().map(|(filter, _)| filter).collect();
                self.announce(&refused);
                self.connection
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
                    Some(request) => self.waiting.push_back(request),
                },
            }
        }
    }

    /// Sends every subscription again on a new connection; returns the refused filters
    /// with the broker's answers.
    async fn restore(&mut self, epoch: u64) -> Result<Vec<(String, String)>, ()> {
        let subscriptions = self.source.subscriptions();
        let mut refused = Vec::new();
        match self.subscribe_and_wait(&subscriptions).await {
            Ok(outcomes) => {
                for (subscription, outcome) in subscriptions.iter().zip(outcomes) {
                    if let SubscribeOutcome::Refused(reason) = outcome {
                        let filter = &subscription.filter;
                        let answer = refusal(&reason);
                        tracing::error!(
                            filter,
                            answer,
                            "the broker refused the subscription (check the broker's ACL for this client)"
                        );
                        refused.push((filter.clone(), answer));
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
        if !subscriptions.is_empty() {
            tracing::info!(count = subscriptions.len(), "subscriptions restored");
        }
        Ok(refused)
    }

    fn announce(&mut self, refused: &[String]) {
        let first = !self.announced_ready;
        self.announced_ready = true;
        let broker = self.connection.broker_display();
        match self.connection.presence.announce(first, refused, &broker) {
            Ok(packets) => {
                for packet in packets {
                    self.connection.send_urgent(packet);
                }
                if self.connection.presence.health_on() {
                    tracing::info!(
                        ok = refused.is_empty(),
                        event = if first { "ready" } else { "reconnected" },
                        "published health"
                    );
                }
            }
            Err(error) => tracing::warn!(%error, "could not build the health status"),
        }
    }

    async fn subscribe_one(&mut self, request: SubscribeRequest) {
        let subscription = request.filter;
        let result = match self
            .subscribe_and_wait(std::slice::from_ref(&subscription))
            .await
        {
            Ok(outcomes) => match outcomes.into_iter().next() {
                Some(SubscribeOutcome::Refused(reason)) => Err(Error::SubscriptionRefused {
                    filter: subscription.filter,
                    answer: refusal(&reason),
                }),
                _ => {
                    tracing::info!(
                        filter = subscription.filter,
                        qos = subscription.qos as u8,
                        "subscribed"
                    );
                    Ok(())
                }
            },
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

    /// Sends the SUBSCRIBE packets for `filters` and waits for the broker's answer per
    /// filter, in their order.
    async fn subscribe_and_wait(
        &mut self,
        filters: &[Filter],
    ) -> Result<Vec<SubscribeOutcome>, Interrupted> {
        let status = *self.status.borrow();
        let epoch = status.epoch;
        let mut answers = Vec::new();
        for (filters, identifier) in packets(filters, status.subscription_identifiers) {
            let (reply, answer) = oneshot::channel();
            let command = Command::Subscribe {
                filters,
                identifier,
                reply,
            };
            if self.connection.commands.send(command).is_err() {
                return Err(Interrupted::Closed);
            }
            answers.push(answer);
        }
        let all_answers = async move {
            let mut outcomes = Vec::new();
            for answer in answers {
                outcomes.extend(answer.await?);
            }
            Ok::<_, oneshot::error::RecvError>(outcomes)
        };
        let wait = async {
            tokio::pin!(all_answers);
            loop {
                tokio::select! {
                    outcomes = &mut all_answers => {
                        return outcomes.map_err(|_| Interrupted::ConnectionLost);
                    }
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
                        Some(request) => self.waiting.push_back(request),
                    },
                }
            }
        };
        timeout(SUBACK_TIMEOUT, wait)
            .await
            .unwrap_or(Err(Interrupted::TimedOut))
    }
}

/// The SUBSCRIBE packets for `filters`, with their identifiers: under MQTT 5 with a
/// broker that takes identifiers, one packet per filter (an identifier belongs to a
/// whole packet); otherwise up to [`FILTERS_PER_PACKET`] filters per packet.
fn packets(filters: &[Filter], identifiers: bool) -> Vec<(Vec<Filter>, Option<u32>)> {
    if identifiers {
        return filters
            .iter()
            .map(|f| (vec![f.clone()], Some(f.identifier)))
            .collect();
    }
    filters
        .chunks(FILTERS_PER_PACKET)
        .map(|chunk| (chunk.to_vec(), None))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QoS, SubscribeOptions};

    fn filters(count: usize) -> Vec<Filter> {
        (0..count)
            .map(|i| {
                Filter::new(
                    format!("t/{i}"),
                    QoS::AtLeastOnce,
                    SubscribeOptions::default(),
                )
            })
            .collect()
    }

    #[test]
    fn with_identifiers_each_filter_goes_in_a_packet_of_its_own_with_its_identifier() {
        let filters = filters(3);
        let packets = packets(&filters, true);
        assert_eq!(packets.len(), 3);
        for ((sent, identifier), filter) in packets.iter().zip(&filters) {
            assert_eq!(sent, std::slice::from_ref(filter));
            assert_eq!(*identifier, Some(filter.identifier));
        }
    }

    #[test]
    fn without_identifiers_filters_share_packets() {
        let filters = filters(FILTERS_PER_PACKET + 1);
        let packets = packets(&filters, false);
        assert_eq!(packets.len(), 2);
        assert!(packets.iter().all(|(_, identifier)| identifier.is_none()));
        let sent: Vec<Filter> = packets.into_iter().flat_map(|(f, _)| f).collect();
        assert_eq!(sent, filters);
    }
}
