//! The reading half of a connection: decodes packets as they arrive, hands messages to
//! the dispatcher a whole read at a time, and passes acknowledgements and answers to the
//! writer. It is the only part that pauses under backpressure (when a handler's queue
//! and its intake bound are full); the writer goes on meanwhile.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::error::ConnectionError;
use super::wire::{self, Incoming};
use super::Dispatcher;
use crate::MqttVersion;

/// Free room kept in the read buffer before each read.
const READ_ROOM: usize = 64 * 1024;

/// Reads until the connection fails; returns why.
pub(crate) async fn run<R: AsyncRead + Unpin, D: Dispatcher>(
    mut socket: R,
    mut buffer: BytesMut,
    dispatcher: &mut D,
    events: mpsc::UnboundedSender<Incoming>,
    epoch: u64,
    version: MqttVersion,
) -> ConnectionError {
    loop {
        loop {
            let packet = match wire::decode(version, &mut buffer) {
                Ok(Some(packet)) => packet,
                Ok(None) => break,
                Err(error) => return error.into(),
            };
            match packet {
                Incoming::Publish(publish) => {
                    dispatcher.on_publish(publish, epoch).await;
                    continue;
                }
                Incoming::UnsubAck(_) => continue,
                Incoming::Disconnect(reason) => return ConnectionError::Disconnected(reason),
                Incoming::Redirect { reason, reference } => {
                    return ConnectionError::Redirected { reason, reference }
                }
                Incoming::ConnAck { .. } => return ConnectionError::SecondConnAck,
                // Acknowledgements and answers: the writer's business.
                Incoming::PubAck(..)
                | Incoming::PubRec(..)
                | Incoming::PubRel(_)
                | Incoming::PubComp(_)
                | Incoming::SubAck { .. }
                | Incoming::PingResp => {}
            }
            if events.send(packet).is_err() {
                return ConnectionError::WriterStopped;
            }
        }
        // Handlers get this read's messages now: one wake-up per read, not per message.
        // A queue left half full or more lets its workers run before the next read (on
        // a one-thread runtime they run only when this task yields).
        if dispatcher.end_of_read() {
            tokio::task::yield_now().await;
        }
        if buffer.capacity() - buffer.len() < READ_ROOM / 4 {
            buffer.reserve(READ_ROOM);
        }
        match socket.read_buf(&mut buffer).await {
            Ok(0) => {
                return ConnectionError::Closed {
                    before_connack: false,
                }
            }
            Ok(_) => {}
            Err(error) => return ConnectionError::Read(error),
        }
    }
}
