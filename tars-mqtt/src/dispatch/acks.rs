//! Acknowledging received QoS 1/2 messages, in the order they arrived, for both kinds of
//! session. This module alone decides when a PUBACK (QoS 1) or PUBREC (QoS 2) is owed.
//!
//! - Clean session (the default): a message is settled once every matching handler has
//!   it queued. One that waits in the overflow is settled when the overflow task has
//!   queued it, so the broker's in-flight window throttles a slow handler.
//! - Persistent session (`MQTT_CLEAN_SESSION=false`): a message is settled once every
//!   handler finished with it. Each copy of the message carries an [`AckGuard`]; the
//!   worker marks it handled, and the last copy dropped settles it. A message never
//!   handled (the process died, or shutdown closed its queue first) is not acknowledged,
//!   so the broker delivers it again to the same client id.
//!
//! Settled acknowledgements are released in arrival order into the writer's command
//! lane, which writes them ahead of any data. Acknowledgements of an older connection
//! are void (the broker redelivers those messages).
//!
//! The dispatcher tells this module what happened to a message ([`AckTracker::on_received`],
//! [`AckTracker::on_skipped`], [`AckTracker::on_queued`], [`AckTracker::on_overflowed`]),
//! workers mark it handled, and a dead-lettered message is settled once the broker has
//! its dead letter ([`settle_once_delivered`]); the decisions are all here.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::connection::{Command, InboundAck};

/// The acknowledgements owed, oldest first.
#[derive(Debug)]
pub(crate) struct AckTracker {
    state: Mutex<State>,
    commands: mpsc::UnboundedSender<Command>,
    /// Persistent session: acknowledgements wait for the handlers.
    after_handlers: bool,
}

/// What a received message owes: its acknowledgement (QoS 1/2), and with a persistent
/// session the guard its copies carry to the handlers.
#[derive(Debug)]
pub(crate) struct Owed {
    ack: Option<InboundAck>,
    guard: Option<Arc<AckGuard>>,
}

impl Owed {
    /// Hands over the guard the message carries (persistent session, QoS 1/2): the
    /// message's copies hold it from then on, not this.
    pub(crate) fn take_guard(&mut self) -> Option<Arc<AckGuard>> {
        self.guard.take()
    }
}

#[derive(Debug, Default)]
struct State {
    epoch: u64,
    next_seq: u64,
    owed: VecDeque<Pending>,
}

#[derive(Debug)]
struct Pending {
    seq: u64,
    ack: InboundAck,
    settled: bool,
    handled: bool,
}

impl AckTracker {
    /// A tracker that releases acknowledgements into `commands`; with a persistent
    /// session (`clean_session` false) they wait for the handlers.
    pub(crate) fn new(commands: mpsc::UnboundedSender<Command>, clean_session: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(State::default()),
            commands,
            after_handlers: !clean_session,
        })
    }

    /// A message arrived (`ack` for QoS 1/2): what it owes.
    pub(crate) fn on_received(self: &Arc<Self>, ack: Option<InboundAck>) -> Owed {
        let guard = match ack {
            Some(ack) if self.after_handlers => Some(self.register(ack)),
            _ => None,
        };
        Owed { ack, guard }
    }

    /// The message goes no further (too large, a duplicate, sent again before its
    /// PUBREL): acknowledged now, in order.
    pub(crate) fn on_skipped(&self, owed: Owed) {
        match owed {
            Owed {
                guard: Some(guard), ..
            } => guard.mark_handled(),
            Owed { ack: Some(ack), .. } => self.settled(ack),
            _ => {}
        }
    }

    /// Every matching handler has the message queued (or dropped by its policy): a
    /// clean session acknowledges it now; a persistent one when the handlers are done.
    pub(crate) fn on_queued(&self, owed: &Owed) {
        if let (Some(ack), false) = (owed.ack, self.after_handlers) {
            self.settled(ack);
        }
    }

    /// A handler's queue was full and the message waits in the overflow: a clean
    /// session acknowledges it once queued, when the overflow drops the returned guard
    /// (so the broker's in-flight window throttles a slow handler).
    pub(crate) fn on_overflowed(self: &Arc<Self>, owed: &Owed) -> Option<Arc<AckGuard>> {
        match (owed.ack, self.after_handlers) {
            (Some(ack), false) => {
                let guard = self.register(ack);
                guard.mark_handled();
                Some(guard)
            }
            _ => None,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A message settled as it arrived (queued everywhere at once, dropped by policy,
    /// deduplicated, skipped): acknowledged now, or as soon as those ahead of it are.
    pub(crate) fn settled(&self, ack: InboundAck) {
        let mut state = self.lock();
        if state.owed.is_empty() {
            if ack.epoch == state.epoch {
                let _ = self.commands.send(Command::Ack(ack));
            }
            return;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        state.owed.push_back(Pending {
            seq,
            ack,
            settled: true,
            handled: true,
        });
    }

    /// Registers a message whose acknowledgement waits for its guard.
    fn register(self: &Arc<Self>, ack: InboundAck) -> Arc<AckGuard> {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.owed.push_back(Pending {
            seq,
            ack,
            settled: false,
            handled: false,
        });
        Arc::new(AckGuard {
            tracker: self.clone(),
            seq,
            epoch: ack.epoch,
            handled: AtomicBool::new(false),
        })
    }

    /// A new connection: what was owed on the previous one is void.
    pub(crate) fn on_connected(&self, epoch: u64) {
        let mut state = self.lock();
        state.epoch = epoch;
        state.owed.clear();
    }

    /// Acknowledgements registered and not yet released.
    #[cfg(test)]
    pub(crate) fn outstanding(&self) -> usize {
        self.lock().owed.len()
    }

    fn settle(&self, seq: u64, epoch: u64, handled: bool) {
        let mut state = self.lock();
        if state.epoch != epoch {
            return;
        }
        if let Some(owed) = state.owed.iter_mut().find(|o| o.seq == seq) {
            owed.settled = true;
            owed.handled = handled;
        }
        while state.owed.front().is_some_and(|o| o.settled) {
            let Some(owed) = state.owed.pop_front() else {
                break;
            };
            if owed.handled {
                let _ = self.commands.send(Command::Ack(owed.ack));
            }
        }
    }
}

/// Settles a message's acknowledgement when the last holder drops it: acknowledged if it
/// was marked handled, else left for the broker to deliver again.
#[derive(Debug)]
pub(crate) struct AckGuard {
    tracker: Arc<AckTracker>,
    seq: u64,
    epoch: u64,
    handled: AtomicBool,
}

impl AckGuard {
    /// The message was handled (or is settled by policy): acknowledge it once dropped.
    pub(crate) fn mark_handled(&self) {
        self.handled.store(true, Ordering::Release);
    }
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        let handled = self.handled.load(Ordering::Acquire);
        self.tracker.settle(self.seq, self.epoch, handled);
    }
}

/// Settles a dead-lettered message once the broker has its dead letter: `guard` (the
/// message's, persistent session) is marked handled when `delivered` resolves. A small
/// task waits for it, so that the worker goes on at once: waiting in the worker could
/// stall on a reader paused by backpressure, behind which the broker's PUBACK sits. If
/// the client stops first (`stopped`), the message is not acknowledged and the broker
/// delivers it again.
pub(crate) fn settle_once_delivered(
    guard: Arc<AckGuard>,
    delivered: impl std::future::Future<Output = ()> + Send + 'static,
    stopped: impl std::future::Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(async move {
        tokio::select! {
            () = delivered => guard.mark_handled(),
            () = stopped => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::QoS;

    fn ack(pkid: u16) -> InboundAck {
        InboundAck {
            pkid,
            qos: QoS::AtLeastOnce,
            epoch: 1,
        }
    }

    fn tracker() -> (Arc<AckTracker>, mpsc::UnboundedReceiver<Command>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let tracker = AckTracker::new(tx, true);
        tracker.on_connected(1);
        (tracker, rx)
    }

    fn released(rx: &mut mpsc::UnboundedReceiver<Command>) -> Vec<u16> {
        let mut out = Vec::new();
        while let Ok(command) = rx.try_recv() {
            if let Command::Ack(ack) = command {
                out.push(ack.pkid);
            }
        }
        out
    }

    #[test]
    fn a_message_settled_with_nothing_ahead_is_acknowledged_at_once() {
        let (tracker, mut rx) = tracker();
        tracker.settled(ack(1));
        assert_eq!(released(&mut rx), [1]);
        assert_eq!(tracker.outstanding(), 0);
    }

    #[test]
    fn acknowledgements_go_out_in_arrival_order() {
        let (tracker, mut rx) = tracker();
        let first = tracker.register(ack(1));
        let second = tracker.register(ack(2));
        tracker.settled(ack(3));
        second.mark_handled();
        drop(second);
        assert_eq!(released(&mut rx), Vec::<u16>::new(), "1 is still owed");
        first.mark_handled();
        drop(first);
        assert_eq!(released(&mut rx), [1, 2, 3]);
    }

    #[test]
    fn an_unhandled_message_is_not_acknowledged_and_does_not_block_the_others() {
        let (tracker, mut rx) = tracker();
        let unhandled = tracker.register(ack(1));
        let handled = tracker.register(ack(2));
        handled.mark_handled();
        drop(handled);
        drop(unhandled);
        assert_eq!(released(&mut rx), [2]);
        assert_eq!(tracker.outstanding(), 0);
    }

    #[test]
    fn acknowledgements_of_an_older_connection_are_void() {
        let (tracker, mut rx) = tracker();
        let old = tracker.register(ack(1));
        tracker.on_connected(2);
        old.mark_handled();
        drop(old);
        tracker.settled(ack(9)); // epoch 1: void on connection 2
        assert_eq!(released(&mut rx), Vec::<u16>::new());
    }
}
