//! What was on its way out when a connection failed, kept for the next one.
//!
//! When a connection fails, rumqttc moves its unacknowledged publishes and the requests
//! still in its channel into `EventLoop::pending`, then empties that list as soon as
//! the broker starts a clean session (rumqtt #864): QoS 1/2 publishes made while
//! disconnected, or unacknowledged at the moment of the cut, would be lost. The outbox
//! takes them out before the next connection and puts them back in front once it is
//! up, whatever the session type. It is bounded by what it is fed: rumqttc's request
//! channel (1,024) and in-flight window (100).

use std::collections::VecDeque;

use rumqttc::{EventLoop, QoS, Request};

use super::Shared;

/// QoS 1/2 publishes waiting for the next connection.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    publishes: VecDeque<Request>,
}

impl Outbox {
    /// Takes what rumqttc kept of the failed connection: QoS 1/2 publishes are kept
    /// (sent again with fresh packet ids), QoS 0 publishes are dropped and counted,
    /// acknowledgements of the old connection and subscription requests are dropped
    /// (the session task restores every subscription on the next CONNACK).
    pub(crate) fn take_pending(&mut self, event_loop: &mut EventLoop, shared: &Shared) {
        let mut dropped_qos0 = 0u64;
        for request in event_loop.pending.drain(..) {
            match request {
                Request::Publish(mut publish) if publish.qos != QoS::AtMostOnce => {
                    publish.pkid = 0;
                    publish.dup = false;
                    self.publishes.push_back(Request::Publish(publish));
                }
                Request::Publish(_) => dropped_qos0 += 1,
                _ => {}
            }
        }
        if dropped_qos0 > 0 {
            shared
                .counters
                .dropped_offline
                .fetch_add(dropped_qos0, std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(
                dropped = dropped_qos0,
                "QoS 0 publishes dropped with the connection"
            );
        }
        if !self.publishes.is_empty() {
            tracing::info!(
                kept = self.publishes.len(),
                "QoS 1/2 publishes kept for the next connection"
            );
        }
    }

    /// Moves kept publishes into rumqttc's `pending` queue, as many as its in-flight
    /// window has room for. Called on every CONNACK and after every event while
    /// anything is kept: rumqttc sends `pending` before reading its request channel,
    /// and stops reading that channel while the window is full, so the kept publishes
    /// go out first and in order. (Handing rumqttc more than its window at once makes
    /// packet ids collide, and it keeps only one colliding publish.)
    pub(crate) fn top_up(&mut self, event_loop: &mut EventLoop) {
        if self.publishes.is_empty() || event_loop.network.is_none() {
            return;
        }
        let window = usize::from(event_loop.mqtt_options.inflight());
        let busy = usize::from(event_loop.state.inflight()) + event_loop.pending.len();
        let room = window.saturating_sub(busy).min(self.publishes.len());
        event_loop.pending.extend(self.publishes.drain(..room));
        if self.publishes.is_empty() {
            tracing::info!("every publish kept from the previous connection is sent");
        }
    }
}
