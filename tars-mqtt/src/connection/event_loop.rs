//! The task that owns the rumqttc event loop.
//!
//! It never awaits the rumqttc request channel (which it alone drains; awaiting it from
//! here deadlocks, rumqtt #263/#910/#1025): acknowledgements are written into the
//! connection's buffer directly (or go through the overflow task), subscriptions go through the session task, and the final health
//! status and DISCONNECT are pushed straight into the event loop's pending queue.
//! After a connection error it waits an exponential, jittered backoff before the next
//! attempt (rumqttc alone retries in a tight loop, rumqtt #703/#918).

use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    ConnectReturnCode, ConnectionError, Disconnect, Event, EventLoop, Outgoing, Packet, Publish,
    QoS, Request, StateError,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, sleep_until, Instant};

use super::inbound::Inbound;
use super::options::lost_will;
use super::outbox::Outbox;
use super::{Control, Counters, SessionInput, Shared};
use crate::backoff::Backoff;

/// How long shutdown waits for the broker to acknowledge outstanding QoS 1/2 publishes
/// (the final health status among them) before it disconnects anyway.
const STOP_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

enum Step {
    Control(Control),
    Event(Result<Event, ConnectionError>),
    FlushDeadline,
}

struct Stopping {
    done: oneshot::Sender<()>,
    deadline: Instant,
    disconnect_queued: bool,
}

/// The event loop task's state.
pub(crate) struct EventLoopTask {
    event_loop: EventLoop,
    shared: Arc<Shared>,
    control: mpsc::UnboundedReceiver<Control>,
    inbound: Inbound,
    backoff: Backoff,
    epoch: u64,
    outbox: Outbox,
}

impl EventLoopTask {
    pub(crate) fn new(
        event_loop: EventLoop,
        shared: Arc<Shared>,
        control: mpsc::UnboundedReceiver<Control>,
        inbound: Inbound,
    ) -> Self {
        let config = &shared.config;
        let backoff = Backoff::new(config.reconnect_min_delay(), config.reconnect_max_delay());
        Self {
            event_loop,
            shared,
            control,
            inbound,
            backoff,
            epoch: 0,
            outbox: Outbox::default(),
        }
    }

    /// Runs until stopped by [`Control::Stop`] or until every client handle is gone.
    pub(crate) async fn run(mut self) {
        let mut stopping: Option<Stopping> = None;
        loop {
            let step = match &stopping {
                None => tokio::select! {
                    biased;
                    Some(control) = self.control.recv() => Step::Control(control),
                    event = self.event_loop.poll() => Step::Event(event),
                },
                Some(stop) => tokio::select! {
                    biased;
                    _ = sleep_until(stop.deadline), if !stop.disconnect_queued => Step::FlushDeadline,
                    event = self.event_loop.poll() => Step::Event(event),
                },
            };
            match step {
                Step::Control(Control::ForceReconnect) => {
                    self.event_loop.clean();
                    if !self
                        .on_connection_lost("the heartbeat watchdog forced a reconnect")
                        .await
                    {
                        break;
                    }
                }
                Step::Control(Control::Stop { last_words, done }) => {
                    if self.event_loop.network.is_none() || !self.shared.status().connected {
                        let _ = done.send(());
                        break;
                    }
                    for (topic, payload) in last_words.into_iter().rev() {
                        let mut publish = Publish::new(topic, QoS::AtLeastOnce, payload);
                        publish.retain = true;
                        self.event_loop
                            .pending
                            .push_front(Request::Publish(publish));
                    }
                    let mut stop = Stopping {
                        done,
                        deadline: Instant::now() + STOP_FLUSH_TIMEOUT,
                        disconnect_queued: false,
                    };
                    self.disconnect_when_flushed(&mut stop);
                    stopping = Some(stop);
                }
                Step::FlushDeadline => {
                    if let Some(stop) = &mut stopping {
                        tracing::warn!(
                            unacknowledged = self.event_loop.state.inflight(),
                            "publishes still unacknowledged after {STOP_FLUSH_TIMEOUT:?}; disconnecting anyway"
                        );
                        self.queue_disconnect(stop);
                    }
                }
                Step::Event(Ok(Event::Outgoing(Outgoing::Disconnect))) if stopping.is_some() => {
                    tracing::info!("disconnected from the broker");
                    break;
                }
                Step::Event(Ok(event)) => {
                    self.on_event(event).await;
                    if let Some(stop) = &mut stopping {
                        self.disconnect_when_flushed(stop);
                    }
                }
                Step::Event(Err(error)) => {
                    if stopping.is_some() {
                        tracing::warn!(reason = %describe(&error), "connection failed during shutdown");
                        break;
                    }
                    if !self.on_connection_lost(&describe(&error)).await {
                        break;
                    }
                }
            }
        }
        self.shared.status.send_modify(|s| {
            s.connected = false;
            s.stopped = true;
        });
        if let Some(stop) = stopping {
            let _ = stop.done.send(());
        }
    }

    async fn on_event(&mut self, event: Event) {
        self.handle(event).await;
        self.outbox.top_up(&mut self.event_loop);
    }

    async fn handle(&mut self, event: Event) {
        match event {
            Event::Incoming(Packet::ConnAck(connack)) => {
                let reconnect = self.epoch > 0;
                self.epoch += 1;
                self.backoff.reset();
                Counters::bump(&self.shared.counters.connections);
                let epoch = self.epoch;
                self.inbound.on_connected(epoch);
                self.outbox.top_up(&mut self.event_loop);
                self.shared.status.send_modify(|s| {
                    s.connected = true;
                    s.epoch = epoch;
                });
                tracing::info!(
                    broker = %self.shared.config.broker(),
                    session_present = connack.session_present,
                    "{}",
                    if reconnect { "reconnected to the broker" } else { "connected to the broker" }
                );
            }
            Event::Incoming(Packet::Publish(publish)) => {
                let connection = Some(&mut self.event_loop);
                self.inbound
                    .on_publish(publish, self.epoch, connection)
                    .await;
                self.inbound.flush_acks(&mut self.event_loop).await;
            }
            Event::Outgoing(Outgoing::PubAck(_) | Outgoing::PubRec(_)) => {
                self.inbound.on_channel_ack_written();
            }
            Event::Incoming(Packet::SubAck(suback)) => {
                let _ = self.shared.session.send(SessionInput::SubAck(suback));
            }
            Event::Outgoing(Outgoing::Subscribe(pkid)) => {
                let _ = self.shared.session.send(SessionInput::SubscribeSent(pkid));
            }
            Event::Outgoing(Outgoing::Publish(_)) => {
                Counters::bump(&self.shared.counters.publishes_written);
            }
            _ => {}
        }
    }

    /// Marks the connection down, logs why, refreshes the last will and waits the
    /// backoff delay. Returns false when a stop request arrived meanwhile.
    async fn on_connection_lost(&mut self, reason: &str) -> bool {
        let was_connected = self.shared.status().connected;
        self.shared.status.send_modify(|s| s.connected = false);
        self.outbox.take_pending(&mut self.event_loop, &self.shared);
        let delay = self.backoff.next_delay();
        let broker = self.shared.config.broker();
        if was_connected {
            tracing::warn!(%broker, reason, "connection lost; reconnecting in {delay:.1?}");
        } else {
            tracing::warn!(%broker, reason, attempt = self.backoff.attempts(), "cannot connect; retrying in {delay:.1?}");
        }
        if self.shared.config.enable_health() {
            match lost_will(&self.shared.config) {
                Ok(will) => {
                    self.event_loop.mqtt_options.set_last_will(will);
                }
                Err(error) => tracing::warn!(%error, "could not refresh the last will"),
            }
        }
        let wait = sleep(delay);
        tokio::pin!(wait);
        loop {
            tokio::select! {
                _ = &mut wait => return true,
                control = self.control.recv() => match control {
                    Some(Control::Stop { done, .. }) => {
                        let _ = done.send(());
                        return false;
                    }
                    Some(Control::ForceReconnect) => {}
                    None => return false,
                },
            }
        }
    }

    /// Queues DISCONNECT once the final health status went out and every QoS 1/2
    /// publish is acknowledged.
    fn disconnect_when_flushed(&mut self, stop: &mut Stopping) {
        if !stop.disconnect_queued
            && self.event_loop.pending.is_empty()
            && self.event_loop.state.inflight() == 0
        {
            self.queue_disconnect(stop);
        }
    }

    fn queue_disconnect(&mut self, stop: &mut Stopping) {
        if !stop.disconnect_queued {
            self.event_loop
                .pending
                .push_back(Request::Disconnect(Disconnect));
            stop.disconnect_queued = true;
        }
    }
}

/// A connection error in words that say what to check.
pub(crate) fn describe(error: &ConnectionError) -> String {
    match error {
        ConnectionError::ConnectionRefused(code) => match code {
            ConnectReturnCode::BadUserNamePassword => {
                "the broker refused the user name or password (check the credentials in MQTT_URL)".into()
            }
            ConnectReturnCode::NotAuthorized => {
                "the broker refused the connection: not authorized (check the credentials in MQTT_URL and the broker's ACL)".into()
            }
            ConnectReturnCode::BadClientId => {
                "the broker refused the client id (check MQTT_CLIENT_ID)".into()
            }
            ConnectReturnCode::ServiceUnavailable => "the broker is unavailable".into(),
            ConnectReturnCode::RefusedProtocolVersion => {
                "the broker does not speak MQTT 3.1.1".into()
            }
            ConnectReturnCode::Success => "connection refused".into(),
        },
        ConnectionError::MqttState(StateError::AwaitPingResp) => {
            "no answer to the keepalive ping (the connection is half-open)".into()
        }
        ConnectionError::NetworkTimeout => "timed out while connecting".into(),
        ConnectionError::Tls(error) => format!(
            "TLS handshake failed ({error}): check that MQTT_TLS_CA_FILE (or the platform's \
             roots) holds the authority that signed the broker's certificate, that the host in \
             MQTT_URL is one the certificate names, and the client certificate \
             (MQTT_TLS_CERT_FILE) if the broker requires one"
        ),
        other => other.to_string(),
    }
}
