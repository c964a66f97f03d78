//! The writing half of a connection. It never waits on the reading half: while intake
//! is paused because a handler's queue is full, acknowledgements, PINGREQ, heartbeats,
//! health and publishes keep going out.
//!
//! What it writes, in this order of priority:
//! 1. answers the reader asks for (PUBREL, PUBCOMP) and the command lane (acks,
//!    heartbeat, health, SUBSCRIBE, the stop sequence), unbounded but small by nature;
//! 2. publishes kept from a failed connection, then the data lane (bounded), both
//!    within the in-flight window.
//!
//! Everything ready at once is encoded into one buffer and written with one syscall.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::{interval_at, sleep_until, Instant, MissedTickBehavior};

use super::error::ConnectionError;
use super::outbox::Outbox;
use super::topic_alias::TopicAliases;
use super::wire::{
    self, Delivery, Incoming, Outgoing, PubAnswer, PublishPacket, Receipt, SubscribeOutcome,
};
use super::{Command, Connection};
use crate::QoS;

/// Bytes gathered before a write, so that one write carries a batch.
const BATCH_BYTES: usize = 64 * 1024;
/// How long shutdown waits for the broker to acknowledge outstanding QoS 1/2 publishes
/// (the final health status among them) before it disconnects anyway.
pub(crate) const STOP_FLUSH_TIMEOUT: Duration = Duration::from_secs(3);

/// How a writer ended without an error.
#[derive(Debug)]
pub(crate) enum Finished {
    /// DISCONNECT was written after the stop sequence.
    Stopped(oneshot::Sender<()>),
}

/// The lanes a writer reads; they outlive a connection.
pub(crate) struct Lanes<'a> {
    pub(crate) commands: &'a mut mpsc::UnboundedReceiver<Command>,
    pub(crate) data: &'a mut mpsc::Receiver<PublishPacket>,
    pub(crate) outbox: &'a mut Outbox,
}

struct Stopping {
    done: oneshot::Sender<()>,
    deadline: Instant,
}

/// One connection's writer.
pub(crate) struct Writer<'a, W> {
    socket: W,
    lanes: Lanes<'a>,
    /// What the reader passes on: acknowledgements of our publishes and answers.
    events: mpsc::UnboundedReceiver<Incoming>,
    connection: &'a Connection,
    epoch: u64,
    buffer: BytesMut,
    publishes_in_buffer: u64,
    /// Receipts of the QoS 0 publishes in `buffer`: told once it is written.
    written_receipts: Vec<Receipt>,
    /// MQTT 5 topic aliases of this connection, when on and the broker takes them.
    aliases: Option<TopicAliases>,
    subscribes: HashMap<u16, oneshot::Sender<Vec<SubscribeOutcome>>>,
    last_subscribe_pkid: u16,
    /// Reader pauses counted when the outstanding PINGREQ was sent.
    ping_outstanding: Option<u64>,
    stopping: Option<Stopping>,
}

/// A connection's topic aliases: MQTT 5, `TARS_TOPIC_ALIASES` on, and a broker that
/// takes some.
fn aliases(connection: &Connection) -> Option<TopicAliases> {
    let config = &connection.config;
    if !config.topic_aliases() || config.mqtt_version() != crate::MqttVersion::V5 {
        return None;
    }
    TopicAliases::new(connection.status().topic_alias_max)
}

/// A QoS 0 publish whose buffer was never written (the connection failed first) is
/// not sent: its waiting publisher is told so.
impl<W> Drop for Writer<'_, W> {
    fn drop(&mut self) {
        for receipt in self.written_receipts.drain(..) {
            receipt.deliver(Delivery::NotSent);
        }
    }
}

impl<'a, W: AsyncWrite + Unpin> Writer<'a, W> {
    pub(crate) fn new(
        socket: W,
        lanes: Lanes<'a>,
        events: mpsc::UnboundedReceiver<Incoming>,
        connection: &'a Connection,
        epoch: u64,
    ) -> Self {
        Self {
            socket,
            lanes,
            events,
            connection,
            epoch,
            buffer: BytesMut::with_capacity(BATCH_BYTES),
            publishes_in_buffer: 0,
            written_receipts: Vec::new(),
            aliases: aliases(connection),
            subscribes: HashMap::new(),
            last_subscribe_pkid: 0,
            ping_outstanding: None,
            stopping: None,
        }
    }

    /// Writes until the connection fails (the reason) or the stop sequence ends.
    pub(crate) async fn run(mut self) -> Result<Finished, ConnectionError> {
        let keepalive = self.connection.config.keepalive();
        let mut keepalive_tick = interval_at(Instant::now() + keepalive, keepalive);
        keepalive_tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // What the last connection's broker finished with is reported; publishes kept
        // from it go out first.
        self.report_durable_done();
        self.take_ready_publishes();
        self.write_buffer().await?;
        loop {
            let data_open = self.lanes.outbox.has_room() && !self.lanes.outbox.has_kept();
            let deadline = self.stopping.as_ref().map(|s| s.deadline);
            tokio::select! {
                biased;
                Some(event) = self.events.recv() => self.on_reader_event(event)?,
                Some(command) = self.lanes.commands.recv() => self.on_command(command)?,
                _ = keepalive_tick.tick() => self.on_keepalive()?,
                _ = sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    tracing::warn!(
                        unacknowledged = self.lanes.outbox.in_flight(),
                        "publishes still unacknowledged after {STOP_FLUSH_TIMEOUT:?}; disconnecting anyway"
                    );
                    return self.disconnect().await;
                }
                Some(publish) = self.lanes.data.recv(), if data_open => self.push_publish(publish)?,
            }
            self.take_ready()?;
            self.report_durable_done();
            self.write_buffer().await?;
            self.connection
                .counters
                .outbox
                .store(self.lanes.outbox.len() as u64, Ordering::Relaxed);
            // A reader paused by a full handler reads on while answers are awaited.
            self.connection
                .intake
                .set_awaited(self.lanes.outbox.in_flight() + self.subscribes.len());
            if self.stop_is_flushed() {
                return self.disconnect().await;
            }
        }
    }

    /// Takes, without waiting, everything else that is ready, up to a batch.
    fn take_ready(&mut self) -> Result<(), ConnectionError> {
        while self.buffer.len() < BATCH_BYTES {
            if let Ok(event) = self.events.try_recv() {
                self.on_reader_event(event)?;
            } else if let Ok(command) = self.lanes.commands.try_recv() {
                self.on_command(command)?;
            } else {
                break;
            }
        }
        self.take_ready_publishes();
        Ok(())
    }

    /// Tells the durable outbox which of its publishes the broker is done with, then
    /// their waiting publishers.
    fn report_durable_done(&mut self) {
        let Some(done) = self.lanes.outbox.take_done_durable() else {
            return;
        };
        if let Some(durable) = &self.connection.durable {
            durable.done(&done.seqs);
        }
        done.tell();
    }

    fn take_ready_publishes(&mut self) {
        while self.buffer.len() < BATCH_BYTES {
            if let Some(kept) = self.lanes.outbox.next_kept() {
                let _ = self.push_publish(kept);
                continue;
            }
            if self.lanes.outbox.has_kept() || !self.lanes.outbox.has_room() {
                return;
            }
            match self.lanes.data.try_recv() {
                Ok(publish) => {
                    let _ = self.push_publish(publish);
                }
                Err(_) => return,
            }
        }
    }

    fn on_reader_event(&mut self, packet: Incoming) -> Result<(), ConnectionError> {
        match packet {
            Incoming::PubAck(pkid, PubAnswer::Refused(reason)) => {
                tracing::warn!(pkid, reason, "the broker refused a QoS 1 publish");
                let refused = &self.connection.counters.publishes_refused;
                self.lanes.outbox.on_refused(pkid, reason, refused);
            }
            Incoming::PubAck(pkid, answer) => {
                let heard = answer == PubAnswer::NoSubscribers;
                let answered = &self.connection.counters.publishes_acknowledged;
                self.lanes.outbox.on_puback(pkid, heard, answered);
            }
            Incoming::PubRec(pkid, PubAnswer::Refused(reason)) => {
                // A refused QoS 2 publish ends at its PUBREC (MQTT 5, 4.3.3).
                tracing::warn!(pkid, reason, "the broker refused a QoS 2 publish");
                let refused = &self.connection.counters.publishes_refused;
                self.lanes.outbox.on_refused(pkid, reason, refused);
            }
            Incoming::PubRec(pkid, answer) => {
                self.lanes
                    .outbox
                    .on_pubrec(pkid, answer == PubAnswer::NoSubscribers);
                self.encode(&Outgoing::PubRel(pkid))?;
            }
            Incoming::PubComp(pkid) => {
                let answered = &self.connection.counters.publishes_acknowledged;
                self.lanes.outbox.on_pubcomp(pkid, answered);
            }
            Incoming::PubRel(pkid) => {
                if !self.connection.qos2.released(pkid) {
                    tracing::debug!(pkid, "PUBREL of no held QoS 2 message (its PUBCOMP was lost); completing it again");
                }
                self.encode(&Outgoing::PubComp(pkid))?;
            }
            Incoming::SubAck { pkid, outcomes } => {
                if let Some(reply) = self.subscribes.remove(&pkid) {
                    let _ = reply.send(outcomes);
                }
            }
            Incoming::PingResp => self.ping_outstanding = None,
            // The reader keeps the rest (messages, DISCONNECT, CONNACK) to itself.
            Incoming::ConnAck { .. }
            | Incoming::Publish(_)
            | Incoming::UnsubAck(_)
            | Incoming::Disconnect(_)
            | Incoming::Redirect { .. } => {}
        }
        Ok(())
    }

    fn on_command(&mut self, command: Command) -> Result<(), ConnectionError> {
        match command {
            Command::Publish(publish) => self.push_presence(publish)?,
            Command::Ack(ack) if ack.epoch == self.epoch => {
                let packet = match ack.qos {
                    QoS::ExactlyOnce => Outgoing::PubRec(ack.pkid),
                    _ => Outgoing::PubAck(ack.pkid),
                };
                self.encode(&packet)?;
            }
            Command::Ack(_) => {} // owed on an older connection: void
            Command::Subscribe {
                filters,
                identifier,
                reply,
            } => {
                let pkid = self.next_subscribe_pkid();
                self.encode(&Outgoing::Subscribe {
                    pkid,
                    filters,
                    identifier,
                })?;
                self.subscribes.insert(pkid, reply);
            }
            Command::Stop { last_words, done } => {
                for publish in last_words {
                    self.push_publish(publish)?;
                }
                self.stopping = Some(Stopping {
                    done,
                    deadline: Instant::now() + STOP_FLUSH_TIMEOUT,
                });
            }
        }
        Ok(())
    }

    fn next_subscribe_pkid(&mut self) -> u16 {
        // SUBSCRIBE ids come from the top of the range, publishes from the bottom: the
        // outbox never holds more than a window's worth.
        self.last_subscribe_pkid = match self.last_subscribe_pkid {
            0 | 60_001 => u16::MAX,
            n => n - 1,
        };
        self.last_subscribe_pkid
    }

    /// A PINGREQ every keepalive interval. An unanswered one means the connection is
    /// half-open, unless the reader was paused meanwhile (the PINGRESP may be waiting,
    /// unread, behind the messages the handlers have no room for).
    fn on_keepalive(&mut self) -> Result<(), ConnectionError> {
        let pauses = self.connection.intake.pauses();
        if let Some(pauses_at_send) = self.ping_outstanding {
            if pauses == pauses_at_send && !self.connection.intake.is_paused() {
                return Err(ConnectionError::HalfOpen);
            }
        }
        self.encode(&Outgoing::PingReq)?;
        self.ping_outstanding = Some(pauses);
        Ok(())
    }

    /// A publish of the command lane (health, manifest): not kept across a failed
    /// connection, since the next one announces presence anew.
    fn push_presence(&mut self, mut publish: PublishPacket) -> Result<(), ConnectionError> {
        self.lanes.outbox.track_presence(&mut publish);
        self.publishes_in_buffer += 1;
        self.encode(&Outgoing::Publish(publish))
    }

    fn push_publish(&mut self, mut publish: PublishPacket) -> Result<(), ConnectionError> {
        if self.lanes.outbox.must_wait(&publish) {
            // The QoS 2 window is full: the publish waits first in line (the data lane
            // behind it) until a PUBCOMP makes room.
            self.lanes.outbox.keep(publish);
            return Ok(());
        }
        self.lanes.outbox.track(&mut publish);
        self.publishes_in_buffer += 1;
        if publish.qos == QoS::AtMostOnce {
            if let Some(receipt) = publish.receipt.take() {
                self.written_receipts.push(receipt);
            }
        }
        let packet = match &mut self.aliases {
            Some(aliases) => {
                let (alias, with_topic) = aliases.alias(&publish.topic);
                Outgoing::AliasedPublish {
                    publish,
                    alias,
                    with_topic,
                }
            }
            None => Outgoing::Publish(publish),
        };
        self.encode(&packet)
    }

    fn encode(&mut self, packet: &Outgoing) -> Result<(), ConnectionError> {
        let version = self.connection.config.mqtt_version();
        wire::encode(
            version,
            packet,
            &mut self.buffer,
            super::wire::MQTT_MAX_PACKET_SIZE,
        )
        .map_err(ConnectionError::from)
    }

    async fn write_buffer(&mut self) -> Result<(), ConnectionError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let written = async {
            self.socket.write_all(&self.buffer).await?;
            self.socket.flush().await
        };
        written.await.map_err(ConnectionError::Write)?;
        self.buffer.clear();
        for receipt in self.written_receipts.drain(..) {
            receipt.deliver(Delivery::Written);
        }
        if self.publishes_in_buffer > 0 {
            self.connection
                .counters
                .publishes_written
                .fetch_add(self.publishes_in_buffer, Ordering::Relaxed);
            self.publishes_in_buffer = 0;
        }
        Ok(())
    }

    /// Whether the stop sequence may end: the last words and everything queued before
    /// them are written and acknowledged.
    fn stop_is_flushed(&mut self) -> bool {
        self.stopping.is_some()
            && self.lanes.outbox.is_empty()
            && self.lanes.data.is_empty()
            && self.lanes.commands.is_empty()
            && self.events.is_empty()
    }

    async fn disconnect(mut self) -> Result<Finished, ConnectionError> {
        self.encode(&Outgoing::Disconnect)?;
        self.write_buffer().await?;
        let _ = self.socket.shutdown().await;
        let done = match self.stopping.take() {
            Some(stopping) => stopping.done,
            None => oneshot::channel().0,
        };
        Ok(Finished::Stopped(done))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, DuplexStream};

    use super::*;
    use crate::connection::presence::Presence;
    use crate::connection::Receivers;
    use crate::Config;

    const PINGREQ: [u8; 2] = [0xC0, 0x00];

    /// A writer's lanes and connection state, kept by the test.
    struct Fixture {
        receivers: Receivers,
        outbox: Outbox,
        connection: std::sync::Arc<Connection>,
    }

    impl Fixture {
        fn new() -> Self {
            let config = Config::builder("mqtt://127.0.0.1:1883", "writer-test")
                .keepalive(Duration::from_secs(5))
                .build()
                .unwrap();
            let presence = Presence::new(&config, None).unwrap();
            let (connection, receivers) = Connection::new(config, presence, 16, None);
            Self {
                receivers,
                connection: std::sync::Arc::new(connection),
                outbox: Outbox::new(10, 10),
            }
        }

        /// A writer on one end of an in-memory stream; the other end plays the broker.
        fn writer(
            &mut self,
        ) -> (
            impl std::future::Future<Output = Result<Finished, ConnectionError>> + '_,
            DuplexStream,
        ) {
            let (socket, broker) = tokio::io::duplex(4096);
            let (_events, reader_events) = mpsc::unbounded_channel();
            let lanes = Lanes {
                commands: &mut self.receivers.commands,
                data: &mut self.receivers.data,
                outbox: &mut self.outbox,
            };
            let writer = Writer::new(socket, lanes, reader_events, &self.connection, 1).run();
            (writer, broker)
        }
    }

    /// Reads what the writer wrote within `within` (paused time advances by itself).
    async fn written(broker: &mut DuplexStream, within: Duration) -> Vec<u8> {
        let mut buffer = vec![0u8; 1024];
        match tokio::time::timeout(within, broker.read(&mut buffer)).await {
            Ok(Ok(n)) => buffer[..n].to_vec(),
            _ => Vec::new(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_unanswered_ping_means_the_connection_is_half_open() {
        let mut fixture = Fixture::new();
        let (writer, mut broker) = fixture.writer();
        tokio::pin!(writer);
        tokio::select! {
            _ = &mut writer => panic!("the writer ended before its first ping"),
            bytes = written(&mut broker, Duration::from_secs(6)) => assert_eq!(bytes, PINGREQ),
        }
        let ended = tokio::time::timeout(Duration::from_secs(6), &mut writer).await;
        match ended {
            Ok(Err(reason)) => assert!(matches!(reason, ConnectionError::HalfOpen), "{reason}"),
            other => panic!(
                "expected the half-open error, got {:?}",
                other.map(|r| r.is_ok())
            ),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_ping_unanswered_while_reads_are_paused_is_not_a_dead_connection() {
        let mut fixture = Fixture::new();
        let connection = fixture.connection.clone();
        let (writer, mut broker) = fixture.writer();
        tokio::pin!(writer);
        // The handlers are swamped: the reader pauses, so no PINGRESP can be read.
        connection.intake.pause();
        for _ in 0..4 {
            tokio::select! {
                _ = &mut writer => panic!("the writer gave up while reads were paused"),
                bytes = written(&mut broker, Duration::from_secs(6)) => {
                    assert_eq!(bytes, PINGREQ, "a PINGREQ every keepalive interval");
                }
            }
        }
        // Control traffic still goes out while reads are paused.
        connection.send_urgent(connection.presence.heartbeat().unwrap());
        tokio::select! {
            _ = &mut writer => panic!("the writer ended"),
            bytes = written(&mut broker, Duration::from_secs(1)) => {
                assert_eq!(bytes.first(), Some(&0x30), "a PUBLISH (the heartbeat) was written");
            }
        }
        connection.intake.resume();
    }
}
