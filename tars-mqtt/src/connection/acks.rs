//! Acknowledging QoS 1/2 messages once their handlers finished, in the order they
//! arrived (persistent sessions, `MQTT_CLEAN_SESSION=false`). A message whose handler
//! never finished (the process died, or shutdown closed its queue first) is not
//! acknowledged, so the broker delivers it again to the same client id.
//!
//! Each received message carries an [`AckGuard`] shared by its copies (one per matching
//! handler). The worker marks it handled once the handler returned; when the last copy
//! is dropped the guard reports to [`AckOrder`], which sends every acknowledgement whose
//! predecessors are all settled, through one task, in arrival order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use super::inbound::Ack;
use super::Shared;

/// The acknowledgements owed, in arrival order.
#[derive(Debug)]
pub(crate) struct AckOrder {
    state: Mutex<State>,
    ready: mpsc::UnboundedSender<Ack>,
}

#[derive(Debug, Default)]
struct State {
    epoch: u64,
    next_seq: u64,
    /// Oldest first: (sequence, ack, settled, handled).
    owed: VecDeque<Owed>,
}

#[derive(Debug)]
struct Owed {
    seq: u64,
    ack: Ack,
    settled: bool,
    handled: bool,
}

impl AckOrder {
    /// The order, and the task that sends what it releases.
    pub(crate) fn new(shared: Arc<Shared>) -> (Arc<Self>, impl std::future::Future<Output = ()>) {
        let (ready, released) = mpsc::unbounded_channel();
        let order = Arc::new(Self {
            state: Mutex::new(State::default()),
            ready,
        });
        (order, send_released(released, shared))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a received message; its ack goes out once the guard is settled.
    pub(crate) fn register(self: &Arc<Self>, ack: Ack) -> Arc<AckGuard> {
        let mut state = self.lock();
        let seq = state.next_seq;
        state.next_seq += 1;
        state.owed.push_back(Owed {
            seq,
            ack,
            settled: false,
            handled: false,
        });
        Arc::new(AckGuard {
            order: self.clone(),
            seq,
            epoch: state.epoch,
            handled: AtomicBool::new(false),
        })
    }

    /// A new connection: what was owed on the previous one is void (the broker
    /// delivers unacknowledged messages again).
    pub(crate) fn on_connected(&self, epoch: u64) {
        let mut state = self.lock();
        state.epoch = epoch;
        state.owed.clear();
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
            let owed = state.owed.pop_front().expect("front exists");
            if owed.handled {
                let _ = self.ready.send(owed.ack);
            }
        }
    }
}

/// Settles a message's acknowledgement when the last copy of the message is dropped:
/// acknowledged if a handler marked it handled, else left for the broker to redeliver.
#[derive(Debug)]
pub(crate) struct AckGuard {
    order: Arc<AckOrder>,
    seq: u64,
    epoch: u64,
    handled: AtomicBool,
}

impl AckGuard {
    /// The message was handled (or deliberately dropped by an overflow policy).
    pub(crate) fn mark_handled(&self) {
        self.handled.store(true, Ordering::Release);
    }
}

impl Drop for AckGuard {
    fn drop(&mut self) {
        let handled = self.handled.load(Ordering::Acquire);
        self.order.settle(self.seq, self.epoch, handled);
    }
}

/// Sends released acks, in order, while their connection is the current one.
async fn send_released(mut released: mpsc::UnboundedReceiver<Ack>, shared: Arc<Shared>) {
    while let Some(ack) = released.recv().await {
        if shared.status().epoch == ack.epoch() {
            let _ = shared.mqtt.ack(&ack.as_publish()).await;
        }
    }
}
