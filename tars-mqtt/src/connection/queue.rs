//! The bounded queue in front of a handler, with its overflow policy.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;

use crate::histogram::DurationHistogram;
use crate::{Message, Overflow};

/// What happened to a message offered to a queue.
#[derive(Debug)]
pub(crate) enum Offered {
    /// Queued; `first` when the queue was empty, so a worker may be waiting for it.
    Queued { first: bool },
    /// The queue was full and the policy dropped this message (the newest, or the
    /// oldest queued one to make room for the new).
    Dropped(Message),
    /// The queue is full and the message must wait for room (QoS 1/2 under `Block`).
    Full(Message),
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Message>,
    closed: bool,
}

/// Counters of one handler.
#[derive(Debug, Default)]
pub(crate) struct QueueCounters {
    /// Dropped by the overflow policy.
    pub(crate) dropped: AtomicU64,
    /// Handled, whatever the outcome.
    pub(crate) handled: AtomicU64,
    /// The handler returned an error.
    pub(crate) errors: AtomicU64,
    /// The handler panicked.
    pub(crate) panics: AtomicU64,
    /// The payload did not decode into what the handler takes.
    pub(crate) undecodable: AtomicU64,
    /// How long the handler took, recorded when metrics are on: one histogram per
    /// worker, which only that worker records into.
    pub(crate) durations: Box<[DurationHistogram]>,
}

impl QueueCounters {
    /// Handled messages that failed: errors, panics and undecodable payloads.
    pub(crate) fn failed(&self) -> u64 {
        [&self.errors, &self.panics, &self.undecodable]
            .iter()
            .map(|n| n.load(Ordering::Relaxed))
            .sum()
    }
}

/// A bounded FIFO shared by the dispatcher (producer), the overflow task and the
/// handler's workers (consumers).
#[derive(Debug)]
pub(crate) struct HandlerQueue {
    state: Mutex<State>,
    capacity: usize,
    policy: Overflow,
    /// Workers taking from this queue (the handler's concurrency).
    workers: usize,
    readable: Notify,
    writable: Notify,
    /// Messages for this queue waiting in the overflow task.
    in_overflow: AtomicUsize,
    pub(crate) counters: QueueCounters,
}

impl HandlerQueue {
    pub(crate) fn new(capacity: usize, policy: Overflow, workers: usize) -> Self {
        Self {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            policy,
            workers,
            readable: Notify::new(),
            writable: Notify::new(),
            in_overflow: AtomicUsize::new(0),
            counters: QueueCounters {
                durations: (0..workers.max(1)).map(|_| Default::default()).collect(),
                ..Default::default()
            },
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Offers a message without waiting, and without waking a worker: the dispatcher
    /// calls [`HandlerQueue::wake`] once per read for the queues that were empty
    /// (workers wait only on an empty queue). Under `Block` a full queue drops nothing:
    /// the message comes back as `Full`, to wait in the overflow.
    pub(crate) fn offer(&self, message: Message) -> Offered {
        let mut state = self.lock();
        if state.closed {
            // Shutting down: nobody will handle it.
            return Offered::Queued { first: false };
        }
        if state.items.len() < self.capacity {
            let first = state.items.is_empty();
            state.items.push_back(message);
            return Offered::Queued { first };
        }
        let outcome = match self.policy {
            Overflow::Block => return Offered::Full(message),
            Overflow::DropNewest => Offered::Dropped(message),
            Overflow::DropOldest => {
                let oldest = state.items.pop_front().expect("a full queue is not empty");
                state.items.push_back(message);
                Offered::Dropped(oldest)
            }
        };
        self.counters.dropped.fetch_add(1, Ordering::Relaxed);
        outcome
    }

    /// Wakes a worker for the messages offered since the last wake-up.
    pub(crate) fn wake(&self) {
        self.readable.notify_one();
    }

    /// Queues a message, waiting for room (the overflow task's path; the dispatcher
    /// called [`HandlerQueue::enter_overflow`] first, which makes workers signal room).
    pub(crate) async fn push_waiting(&self, message: Message) {
        loop {
            let writable = self.writable.notified();
            tokio::pin!(writable);
            writable.as_mut().enable();
            {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                if state.items.len() < self.capacity {
                    state.items.push_back(message);
                    drop(state);
                    self.readable.notify_one();
                    return;
                }
            }
            writable.await;
        }
    }

    /// The next message; `None` once the queue is closed and empty.
    #[cfg(test)]
    pub(crate) async fn pop(&self) -> Option<Message> {
        self.pop_or_wait(|| {}).await
    }

    /// The next message; `None` once the queue is closed and empty. `before_waiting`
    /// runs when there is none yet, before the worker sleeps.
    pub(crate) async fn pop_or_wait(&self, mut before_waiting: impl FnMut()) -> Option<Message> {
        loop {
            // The common case, a message waiting, takes no waiter registration.
            if let Some(taken) = self.try_pop() {
                return taken;
            }
            before_waiting();
            let readable = self.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            // Checked again once registered: a push or a close in between is not missed.
            if let Some(taken) = self.try_pop() {
                return taken;
            }
            readable.await;
        }
    }

    /// The next message (`Some(Some(_))`), the end (`Some(None)`: closed and empty), or
    /// nothing yet (`None`).
    fn try_pop(&self) -> Option<Option<Message>> {
        let mut state = self.lock();
        if let Some(message) = state.items.pop_front() {
            let more = !state.items.is_empty();
            drop(state);
            if self.is_overflowing() {
                // The overflow task waits for this room.
                self.writable.notify_one();
            }
            if more && self.workers > 1 {
                // Another worker of a concurrent handler may take the next one.
                self.readable.notify_one();
            }
            return Some(Some(message));
        }
        state.closed.then_some(None)
    }

    /// Stops taking messages; workers finish what is queued, then see `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }

    /// Whether messages for this queue wait in the overflow (later ones go behind them).
    pub(crate) fn is_overflowing(&self) -> bool {
        self.in_overflow.load(Ordering::Acquire) > 0
    }

    pub(crate) fn enter_overflow(&self) {
        self.in_overflow.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn leave_overflow(&self) {
        self.in_overflow.fetch_sub(1, Ordering::AcqRel);
    }

    /// The queue's capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The queue's overflow policy.
    pub(crate) fn policy(&self) -> Overflow {
        self.policy
    }

    /// Messages waiting.
    pub(crate) fn len(&self) -> usize {
        self.lock().items.len()
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::QoS;

    fn message(n: u32) -> Message {
        Message::new(format!("t/{n}"), Bytes::new(), QoS::AtMostOnce, false)
    }

    fn topics(queue: &HandlerQueue) -> Vec<String> {
        queue
            .lock()
            .items
            .iter()
            .map(|m| m.topic().to_owned())
            .collect()
    }

    #[test]
    fn block_hands_back_what_does_not_fit_and_drops_nothing() {
        let queue = HandlerQueue::new(2, Overflow::Block, 1);
        assert!(matches!(
            queue.offer(message(1)),
            Offered::Queued { first: true }
        ));
        assert!(matches!(
            queue.offer(message(2)),
            Offered::Queued { first: false }
        ));
        assert!(matches!(queue.offer(message(3)), Offered::Full(m) if m.topic() == "t/3"));
        assert_eq!(topics(&queue), ["t/1", "t/2"]);
        assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn drop_oldest_keeps_the_latest_messages() {
        let queue = HandlerQueue::new(2, Overflow::DropOldest, 1);
        for n in 1..=4 {
            queue.offer(message(n));
        }
        assert_eq!(topics(&queue), ["t/3", "t/4"]);
        assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn drop_newest_keeps_the_earliest_messages() {
        let queue = HandlerQueue::new(2, Overflow::DropNewest, 1);
        for n in 1..=4 {
            queue.offer(message(n));
        }
        assert_eq!(topics(&queue), ["t/1", "t/2"]);
        assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_waiting_push_goes_in_once_a_worker_takes_one() {
        let queue = std::sync::Arc::new(HandlerQueue::new(1, Overflow::Block, 1));
        queue.offer(message(1));
        queue.enter_overflow(); // as the dispatcher does before handing it over
        let pusher = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push_waiting(message(2)).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(queue.pop().await.unwrap().topic(), "t/1");
        pusher.await.unwrap();
        assert_eq!(queue.pop().await.unwrap().topic(), "t/2");
    }

    #[tokio::test]
    async fn closing_lets_workers_drain_then_stop() {
        let queue = HandlerQueue::new(4, Overflow::Block, 1);
        queue.offer(message(1));
        queue.close();
        assert_eq!(queue.pop().await.unwrap().topic(), "t/1");
        assert!(queue.pop().await.is_none());
    }
}
