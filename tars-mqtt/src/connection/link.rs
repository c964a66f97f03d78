//! The task that keeps the connection: it opens the socket, sends CONNECT, runs one
//! reader and one writer over the two halves of the socket, and when the connection
//! fails it keeps what was in flight, waits an exponential, jittered backoff and starts
//! again, on the same broker first and then the next ones of the list when there are
//! several (`failover.rs`). It stops on [`Command::Stop`], connected or not.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep, timeout};

use super::error::ConnectionError;
use super::failover::Failover;
use super::redirect;

use super::backoff::Backoff;
use super::outbox::Outbox;
use super::wire::{
    self, ConnectCode, ConnectPacket, Incoming, PublishPacket, ServerLimits, Stream,
};
use super::writer::{Finished, Lanes, Writer};
use super::{reader, Command, Connection, Counters, Dispatcher};
use crate::config::BrokerUrl;

use crate::QoS;

/// How long opening the socket and the CONNECT/CONNACK exchange may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// QoS 1/2 publishes in flight at once (unacknowledged by the broker).
pub(crate) const IN_FLIGHT_WINDOW: usize = 100;

/// Room kept in the broker's receive maximum (MQTT 5) for the control publishes that
/// go outside the window (health, manifest).
const CONTROL_IN_FLIGHT: usize = 4;

/// QoS 2 publishes in flight at once when the broker sets no receive maximum (MQTT
/// 3.1.1). A QoS 2 publish stays in the broker until its PUBREL, and mosquitto takes at
/// most `max_inflight_messages` (20 by default) of them: past that it refuses the rest
/// with a PUBREC that 3.1.1 cannot say is a refusal, and the messages are lost. 20 is
/// also paho's default.
const QOS2_WINDOW_WITHOUT_RECEIVE_MAXIMUM: usize = 20;

/// The window for QoS 2 publishes: the whole window when the broker said how many it
/// takes (MQTT 5), else [`QOS2_WINDOW_WITHOUT_RECEIVE_MAXIMUM`].
fn qos2_window(receive_maximum: Option<u16>, window: usize) -> usize {
    match receive_maximum {
        Some(_) => window,
        None => window.min(QOS2_WINDOW_WITHOUT_RECEIVE_MAXIMUM),
    }
}

/// The data window within the broker's receive maximum, when it set one.
fn in_flight_window(receive_maximum: Option<u16>) -> usize {
    match receive_maximum {
        None => IN_FLIGHT_WINDOW,
        Some(granted) => {
            let granted = usize::from(granted);
            let data = if granted > 2 * CONTROL_IN_FLIGHT {
                granted - CONTROL_IN_FLIGHT
            } else {
                granted / 2
            };
            data.clamp(1, IN_FLIGHT_WINDOW)
        }
    }
}

/// How one connection ended.
enum Ended {
    Lost(ConnectionError),
    Stopped(oneshot::Sender<()>),
}

/// The link task's state; it outlives each connection.
pub(crate) struct Link<D> {
    connection: Arc<Connection>,
    commands: mpsc::UnboundedReceiver<Command>,
    data: mpsc::Receiver<PublishPacket>,
    dispatcher: D,
    outbox: Outbox,
    backoff: Backoff,
    failover: Failover,
    tls: Option<Arc<rustls::ClientConfig>>,
    epoch: u64,
    /// MQTT 5: the server a redirect named, tried next instead of the list's.
    redirect: Option<BrokerUrl>,
    /// Redirects followed in a row.
    redirects: u32,
}

impl<D: Dispatcher> Link<D> {
    pub(crate) fn new(
        connection: Arc<Connection>,
        commands: mpsc::UnboundedReceiver<Command>,
        data: mpsc::Receiver<PublishPacket>,
        dispatcher: D,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Self {
        let config = &connection.config;
        let backoff = Backoff::new(config.reconnect_min_delay(), config.reconnect_max_delay());
        let failover = Failover::new(config.brokers().len());
        Self {
            connection,
            commands,
            data,
            dispatcher,
            outbox: Outbox::new(IN_FLIGHT_WINDOW, QOS2_WINDOW_WITHOUT_RECEIVE_MAXIMUM),
            backoff,
            failover,
            tls,
            epoch: 0,
            redirect: None,
            redirects: 0,
        }
    }

    /// Runs until stopped.
    pub(crate) async fn run(mut self) {
        let done = loop {
            let connection = self.connection.clone();
            let redirected = self.redirect.take();
            let url = redirected
                .clone()
                .unwrap_or_else(|| connection.config.brokers()[self.failover.current()].clone());
            let attempt = tokio::select! {
                done = offline(&mut self.commands, &mut self.outbox, &connection) => Err(Ok(done)),
                connected = connect(&connection, &url, self.tls.as_ref()) => connected.map_err(Err),
            };
            match attempt {
                Err(Ok(done)) => break Some(done),
                Err(Err(reason)) => {
                    self.log_failure(&reason);
                    if self.follow(&url, &reason) {
                        continue; // the server it names, at once
                    }
                    if redirected.is_some() {
                        continue; // back to the list, at once
                    }
                    if !self.failover.on_failure() {
                        continue; // the next broker of the list, at once
                    }
                }
                Ok((stream, buffer, session_present, limits)) => {
                    self.redirects = 0;
                    *self
                        .connection
                        .redirected_to
                        .lock()
                        .unwrap_or_else(|p| p.into_inner()) =
                        redirected.as_ref().map(ToString::to_string);
                    self.on_connected(session_present, limits);
                    match self.serve(stream, buffer).await {
                        Ended::Stopped(done) => {
                            tracing::info!("disconnected from the broker");
                            break Some(done);
                        }
                        Ended::Lost(reason) => {
                            self.on_lost(&reason);
                            if self.follow(&url, &reason) {
                                continue;
                            }
                            self.failover.on_lost();
                        }
                    }
                }
            }
            if let Some(done) = self.wait_backoff().await {
                break Some(done);
            }
        };
        self.connection.status.send_modify(|s| {
            s.connected = false;
            s.stopped = true;
        });
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Runs one connection's reader and writer until it fails or stops.
    async fn serve(&mut self, stream: Stream, buffer: BytesMut) -> Ended {
        let connection = self.connection.clone();
        let (read_half, write_half) = tokio::io::split(stream);
        let (events, reader_events) = mpsc::unbounded_channel();
        let version = connection.config.mqtt_version();
        let reader = reader::run(
            read_half,
            buffer,
            &mut self.dispatcher,
            events,
            self.epoch,
            version,
        );
        let lanes = Lanes {
            commands: &mut self.commands,
            data: &mut self.data,
            outbox: &mut self.outbox,
        };
        let writer = Writer::new(write_half, lanes, reader_events, &connection, self.epoch).run();
        tokio::select! {
            reason = reader => Ended::Lost(reason),
            finished = writer => match finished {
                Ok(Finished::Stopped(done)) => Ended::Stopped(done),
                Err(reason) => Ended::Lost(reason),
            },
            _ = connection.force_reconnect.notified() => {
                Ended::Lost(ConnectionError::Watchdog)
            }
        }
    }

    /// The broker tried now, password masked, for logs.
    fn broker(&self) -> String {
        self.connection.config.brokers()[self.failover.current()].to_string()
    }

    fn on_connected(&mut self, session_present: bool, limits: ServerLimits) {
        self.connection.qos2.on_connected(session_present);
        let reconnect = self.epoch > 0;
        self.epoch += 1;
        self.backoff.reset();
        self.failover.on_connected();
        let broker = self.failover.current();
        Counters::bump(&self.connection.counters.connections);
        let epoch = self.epoch;
        self.dispatcher.on_connected(epoch);
        let window = in_flight_window(limits.receive_maximum);
        self.outbox
            .set_window(window, qos2_window(limits.receive_maximum, window));
        *self
            .connection
            .connect_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = None;
        self.connection.status.send_modify(|s| {
            s.connected = true;
            s.epoch = epoch;
            s.broker_max_packet = limits.max_packet_size;
            s.topic_alias_max = limits.topic_alias_max.unwrap_or(0);
            s.subscription_identifiers = limits.subscription_identifiers;
            s.broker = broker;
        });
        tracing::info!(
            broker = %self.connection.broker_display(),
            session_present,
            "{}",
            if reconnect { "reconnected to the broker" } else { "connected to the broker" }
        );
    }

    fn on_lost(&mut self, reason: &ConnectionError) {
        self.connection.status.send_modify(|s| s.connected = false);
        let kept = self.outbox.on_connection_lost();
        self.connection
            .counters
            .outbox
            .store(self.outbox.len() as u64, Ordering::Relaxed);
        tracing::warn!(
            broker = %self.broker(),
            %reason,
            kept,
            "connection lost; reconnecting"
        );
    }

    /// A redirect (MQTT 5): the server it names is tried next. False for any other
    /// failure, a reference that names nothing usable, or too many redirects in a row.
    fn follow(&mut self, from: &BrokerUrl, reason: &ConnectionError) -> bool {
        let ConnectionError::Redirected { reason, reference } = reason else {
            return false;
        };
        self.redirects += 1;
        if self.redirects > redirect::MAX_REDIRECTS {
            tracing::warn!(
                reference,
                "too many redirects in a row; back to the broker list"
            );
            self.redirects = 0;
            return false;
        }
        let Some(to) = redirect::target(from, reference) else {
            tracing::warn!(
                reference,
                "the broker's Server Reference names no server; back to the broker list"
            );
            return false;
        };
        tracing::info!(from = %from, to = %to, reason, "the broker redirects: trying the server it names");
        self.redirect = Some(to);
        true
    }

    fn log_failure(&self, reason: &ConnectionError) {
        *self
            .connection
            .connect_failure
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(reason.to_string());
        tracing::warn!(
            broker = %self.broker(),
            %reason,
            attempt = self.backoff.attempts() + 1,
            "cannot connect"
        );
    }

    /// Waits the backoff delay; returns the stop request if one arrived meanwhile.
    async fn wait_backoff(&mut self) -> Option<oneshot::Sender<()>> {
        let delay = self.backoff.next_delay();
        tracing::info!("retrying in {delay:.1?}");
        tokio::select! {
            _ = sleep(delay) => None,
            done = offline(&mut self.commands, &mut self.outbox, &self.connection) => Some(done),
        }
    }
}

/// Takes the command lane while there is no connection, until a stop request: QoS 1/2
/// publishes are kept for the next connection, the rest belongs to no connection.
async fn offline(
    commands: &mut mpsc::UnboundedReceiver<Command>,
    outbox: &mut Outbox,
    connection: &Connection,
) -> oneshot::Sender<()> {
    loop {
        match commands.recv().await {
            Some(Command::Stop { done, .. }) => return done,
            Some(Command::Publish(publish)) if publish.qos != QoS::AtMostOnce => {
                outbox.keep(publish);
                connection
                    .counters
                    .outbox
                    .store(outbox.len() as u64, Ordering::Relaxed);
            }
            Some(Command::Publish(_)) => Counters::bump(&connection.counters.dropped_offline),
            // Acks of a gone connection are void; a subscribe's requester sees the
            // connection lost (the session restores it on the next one).
            Some(Command::Ack(_) | Command::Subscribe { .. }) => {}
            None => std::future::pending::<()>().await,
        }
    }
}

/// Opens the socket and does the CONNECT/CONNACK exchange; returns the stream, what was
/// read past the CONNACK, and whether the broker kept a session.
async fn connect(
    connection: &Connection,
    url: &BrokerUrl,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<(Stream, BytesMut, bool, ServerLimits), ConnectionError> {
    let exchange = async {
        let mut stream = wire::open(url, tls).await.map_err(ConnectionError::Open)?;
        let mut buffer = BytesMut::with_capacity(4096);
        let version = connection.config.mqtt_version();
        wire::encode_connect(version, &connect_packet(connection, url)?, &mut buffer)
            .map_err(ConnectionError::SendConnect)?;
        stream
            .write_all(&buffer)
            .await
            .map_err(ConnectionError::SendConnect)?;
        stream.flush().await.map_err(ConnectionError::SendConnect)?;
        buffer.clear();
        loop {
            match wire::decode(version, &mut buffer)? {
                Some(Incoming::ConnAck {
                    session_present,
                    code: ConnectCode::Accepted,
                    limits,
                }) => {
                    if limits != ServerLimits::default() {
                        tracing::debug!(?limits, "the broker's limits");
                    }
                    return Ok((stream, buffer, session_present, limits));
                }
                Some(Incoming::ConnAck {
                    code: ConnectCode::Redirect { reason, reference },
                    ..
                }) => return Err(ConnectionError::Redirected { reason, reference }),
                Some(Incoming::ConnAck { code, .. }) => {
                    return Err(ConnectionError::Refused { code, version });
                }
                Some(_) => return Err(ConnectionError::NotConnAck),
                None => {}
            }
            match stream.read_buf(&mut buffer).await {
                Ok(0) => {
                    return Err(ConnectionError::Closed {
                        before_connack: true,
                    })
                }
                Ok(_) => {}
                Err(e) => return Err(ConnectionError::Read(e)),
            }
        }
    };
    timeout(CONNECT_TIMEOUT, exchange)
        .await
        .unwrap_or(Err(ConnectionError::ConnectTimeout(CONNECT_TIMEOUT)))
}

/// The receive maximum this client announces (MQTT 5): a handler queue's capacity, so
/// that the broker never has more unacknowledged QoS 1/2 messages out to this client
/// than one queue holds (at least 1, at most 65,535).
fn receive_maximum(config: &crate::Config) -> u16 {
    u16::try_from(config.handler_queue_capacity().max(1)).unwrap_or(u16::MAX)
}

fn connect_packet(
    connection: &Connection,
    url: &BrokerUrl,
) -> Result<ConnectPacket, ConnectionError> {
    let config = &connection.config;
    let will = connection
        .presence
        .will()
        .map_err(|e| ConnectionError::Will(Box::new(e)))?;
    Ok(ConnectPacket {
        client_id: config.client_id().to_owned(),
        keepalive: config.keepalive(),
        clean_session: config.clean_session(),
        session_expiry: config.session_expiry(),
        max_packet_size: wire::MQTT_MAX_PACKET_SIZE,
        receive_maximum: receive_maximum(config),
        credentials: url.username.as_ref().map(|user| {
            let password = url.password.as_ref().map(|p| p.expose().to_owned());
            (user.clone(), password)
        }),
        will,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_window_fits_the_brokers_receive_maximum_with_room_for_control_publishes() {
        assert_eq!(in_flight_window(None), IN_FLIGHT_WINDOW);
        assert_eq!(in_flight_window(Some(65_535)), IN_FLIGHT_WINDOW);
        assert_eq!(in_flight_window(Some(20)), 16);
        assert_eq!(in_flight_window(Some(8)), 4);
        assert_eq!(in_flight_window(Some(1)), 1);
        assert_eq!(qos2_window(None, IN_FLIGHT_WINDOW), 20);
        assert_eq!(
            qos2_window(Some(65_535), IN_FLIGHT_WINDOW),
            IN_FLIGHT_WINDOW
        );
        assert_eq!(qos2_window(None, 4), 4);
    }
}
