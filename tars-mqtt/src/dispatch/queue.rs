//! The bounded queue in front of a handler, with its overflow policy, and the messages
//! that wait out a retry backoff.
//!
//! A message waiting for a retry is parked here, not in a worker: the workers go on
//! with the queue meanwhile. Parked messages count against the capacity, so a flood of
//! failing messages fills the queue and the overflow policy applies as to any other
//! (a worker re-parking the message it holds always succeeds, so at most capacity +
//! concurrency messages are held).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::failures::FailedAttempts;
use crate::telemetry::batch_sizes::BatchSizes;
use crate::telemetry::histogram::DurationHistogram;
use crate::{Message, Overflow};

/// What happened to a message offered to a queue.
#[derive(Debug)]
pub(crate) enum Offered {
    /// Queued; `first` when the queue was empty, so a worker may be waiting for it;
    /// `crowded` when it is now at least half full, so its workers should run before
    /// the reader reads more.
    Queued { first: bool, crowded: bool },
    /// The queue was full and the policy dropped this message (the newest, or the
    /// oldest queued one to make room for the new).
    Dropped(Message),
    /// The queue is full and the message must wait for room (QoS 1/2 under `Block`).
    Full(Message),
}

/// What a worker takes from the queue.
#[derive(Debug)]
pub(crate) enum Work {
    /// A message not tried yet.
    Fresh(Message),
    /// A message whose backoff is over, for another attempt.
    Retry(Message, Box<FailedAttempts>),
    /// A message that was waiting out its backoff when the queue closed (shutdown).
    Abandoned(Message, Box<FailedAttempts>),
}

/// A message waiting out its backoff.
#[derive(Debug)]
struct Parked {
    due: Instant,
    /// Arrival order among messages due at the same instant.
    seq: u64,
    message: Message,
    failures: Box<FailedAttempts>,
}

impl PartialEq for Parked {
    fn eq(&self, other: &Self) -> bool {
        (self.due, self.seq) == (other.due, other.seq)
    }
}

impl Eq for Parked {}

impl PartialOrd for Parked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Parked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.due, self.seq).cmp(&(other.due, other.seq))
    }
}

#[derive(Debug, Default)]
struct State {
    items: VecDeque<Message>,
    /// Earliest due first.
    parked: BinaryHeap<Reverse<Parked>>,
    parked_seq: u64,
    closed: bool,
}

impl State {
    /// Messages holding a place: queued or parked.
    fn held(&self) -> usize {
        self.items.len() + self.parked.len()
    }
}

/// Counters of one handler.
#[derive(Debug, Default)]
pub(crate) struct QueueCounters {
    /// Dropped by the overflow policy.
    pub(crate) dropped: AtomicU64,
    /// Done with, whatever the final outcome (a retried message counts once).
    pub(crate) handled: AtomicU64,
    /// The handler's last attempt returned an error (and no dead letter took it).
    pub(crate) errors: AtomicU64,
    /// The handler's last attempt panicked (and no dead letter took it).
    pub(crate) panics: AtomicU64,
    /// The payload did not decode into what the handler takes.
    pub(crate) undecodable: AtomicU64,
    /// Published as dead letters.
    pub(crate) dead_lettered: AtomicU64,
    /// Attempts after the first.
    pub(crate) retries: AtomicU64,
    /// How long the handler took, recorded when metrics are on: one histogram per
    /// worker, which only that worker records into.
    pub(crate) durations: Box<[DurationHistogram]>,
    /// Messages per call, when a batch handler takes from this queue.
    pub(crate) batch_sizes: BatchSizes,
}

impl QueueCounters {
    /// Handled messages that failed: errors, panics, undecodable payloads and dead
    /// letters.
    pub(crate) fn failed(&self) -> u64 {
        [
            &self.errors,
            &self.panics,
            &self.undecodable,
            &self.dead_lettered,
        ]
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
    /// Their size, as [`intake_size`] counts it.
    overflow_bytes: AtomicUsize,
    /// The most bytes that wait in the overflow before intake pauses (`intake_bytes`).
    intake_limit: usize,
    pub(crate) counters: QueueCounters,
}

/// What a received message weighs against an intake bound: its topic and payload, and
/// what holding it costs besides (the message, its place in the overflow).
pub(crate) fn intake_size(message: &Message) -> usize {
    /// The message struct, its shared parts and the overflow's entry, rounded up.
    const HELD: usize = 256;
    message.topic().len() + message.payload().len() + HELD
}

impl HandlerQueue {
    pub(crate) fn new(
        capacity: usize,
        policy: Overflow,
        workers: usize,
        intake_limit: usize,
    ) -> Self {
        Self {
            state: Mutex::new(State::default()),
            capacity: capacity.max(1),
            policy,
            workers,
            readable: Notify::new(),
            writable: Notify::new(),
            in_overflow: AtomicUsize::new(0),
            overflow_bytes: AtomicUsize::new(0),
            intake_limit,
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
            return Offered::Queued {
                first: false,
                crowded: false,
            };
        }
        let held = state.held();
        if held < self.capacity {
            let first = state.items.is_empty();
            state.items.push_back(message);
            return Offered::Queued {
                first,
                crowded: 2 * (held + 1) >= self.capacity,
            };
        }
        let outcome = match self.policy {
            Overflow::Block => return Offered::Full(message),
            Overflow::DropNewest => Offered::Dropped(message),
            // Parked messages are not dropped: with none queued, the new one goes.
            Overflow::DropOldest => match state.items.pop_front() {
                Some(oldest) => {
                    state.items.push_back(message);
                    Offered::Dropped(oldest)
                }
                None => Offered::Dropped(message),
            },
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
                if state.held() < self.capacity {
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
    pub(crate) async fn pop(&self) -> Option<Work> {
        self.pop_or_wait(|| {}).await
    }

    /// The next work; `None` once the queue is closed and empty. `before_waiting` runs
    /// when there is none yet, before the worker sleeps (until a message arrives, or
    /// the earliest parked one is due).
    pub(crate) async fn pop_or_wait(&self, mut before_waiting: impl FnMut()) -> Option<Work> {
        loop {
            // The common case, a message waiting, takes no waiter registration.
            if let Ok(taken) = self.try_pop() {
                return taken;
            }
            before_waiting();
            let readable = self.readable.notified();
            tokio::pin!(readable);
            readable.as_mut().enable();
            // Checked again once registered: a push or a close in between is not missed.
            let due = match self.try_pop() {
                Ok(taken) => return taken,
                Err(due) => due,
            };
            match due {
                Some(due) => {
                    tokio::select! {
                        () = readable => {}
                        () = tokio::time::sleep_until(due) => {}
                    }
                }
                None => readable.await,
            }
        }
    }

    /// The next work (`Ok(Some(_))`), the end (`Ok(None)`: closed, nothing queued or
    /// parked), or nothing yet (`Err`, with when the earliest parked message is due).
    fn try_pop(&self) -> Result<Option<Work>, Option<Instant>> {
        let mut state = self.lock();
        // Once closed, parked messages go first: none will be tried again.
        let closed = state.closed;
        let due_now = state
            .parked
            .peek()
            .is_some_and(|Reverse(p)| closed || p.due <= Instant::now());
        let work = if due_now {
            let Reverse(parked) = state.parked.pop().expect("peeked");
            Some(if closed {
                Work::Abandoned(parked.message, parked.failures)
            } else {
                Work::Retry(parked.message, parked.failures)
            })
        } else {
            state.items.pop_front().map(Work::Fresh)
        };
        let Some(work) = work else {
            if state.closed && state.parked.is_empty() {
                return Ok(None);
            }
            return Err(state.parked.peek().map(|Reverse(p)| p.due));
        };
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
        Ok(Some(work))
    }

    /// Parks a message until `due`, for another attempt then. Once the queue is closed
    /// it is handed back: nothing will retry it.
    pub(crate) fn park(
        &self,
        message: Message,
        failures: Box<FailedAttempts>,
        due: Instant,
    ) -> Result<(), (Message, Box<FailedAttempts>)> {
        let mut state = self.lock();
        if state.closed {
            return Err((message, failures));
        }
        state.parked_seq += 1;
        let seq = state.parked_seq;
        state.parked.push(Reverse(Parked {
            due,
            seq,
            message,
            failures,
        }));
        drop(state);
        // A sleeping worker may now need to wake earlier than it planned.
        self.readable.notify_one();
        Ok(())
    }

    /// Stops taking messages; workers finish what is queued, then see `None`.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.readable.notify_waiters();
        self.writable.notify_waiters();
    }

    /// Whether the queue was closed (shutdown): nothing more will be queued.
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether messages for this queue wait in the overflow (later ones go behind them).
    pub(crate) fn is_overflowing(&self) -> bool {
        self.in_overflow.load(Ordering::Acquire) > 0
    }

    /// A message of `size` bytes goes to the overflow for this queue.
    pub(crate) fn enter_overflow(&self, size: usize) {
        self.overflow_bytes.fetch_add(size, Ordering::AcqRel);
        self.in_overflow.fetch_add(1, Ordering::AcqRel);
    }

    /// A message of `size` bytes left the overflow (queued, or the queue closed).
    pub(crate) fn leave_overflow(&self, size: usize) {
        self.in_overflow.fetch_sub(1, Ordering::AcqRel);
        self.overflow_bytes.fetch_sub(size, Ordering::AcqRel);
    }

    /// Whether a message of `size` bytes fits within the intake bound; once reading
    /// has paused (`resuming`), within three quarters of it, so that reading resumes
    /// for a batch rather than for each message the handler takes. With nothing in the
    /// overflow anything fits, so that a message larger than the bound still goes.
    pub(crate) fn intake_has_room(&self, size: usize, resuming: bool) -> bool {
        let held = self.overflow_bytes.load(Ordering::Acquire);
        let limit = if resuming {
            self.intake_limit - self.intake_limit / 4
        } else {
            self.intake_limit
        };
        held == 0 || held + size <= limit
    }

    /// Whether the overflow holds more than `factor` times the intake bound (only a
    /// broker sending QoS 1/2 beyond its in-flight window gets there).
    pub(crate) fn intake_beyond(&self, factor: usize) -> bool {
        self.overflow_bytes.load(Ordering::Acquire) > factor.saturating_mul(self.intake_limit)
    }

    /// Bytes of messages waiting in the overflow for this queue.
    pub(crate) fn overflow_bytes(&self) -> usize {
        self.overflow_bytes.load(Ordering::Acquire)
    }

    /// The intake bound, in bytes.
    pub(crate) fn intake_limit(&self) -> usize {
        self.intake_limit
    }

    /// The queue's capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The queue's overflow policy.
    pub(crate) fn policy(&self) -> Overflow {
        self.policy
    }

    /// Messages waiting: queued, or parked for a retry.
    pub(crate) fn len(&self) -> usize {
        self.lock().held()
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

    /// The topic of a fresh message taken.
    fn fresh(work: Option<Work>) -> String {
        match work {
            Some(Work::Fresh(message)) => message.topic().to_owned(),
            other => panic!("expected a fresh message, got {other:?}"),
        }
    }

    fn failures() -> Box<FailedAttempts> {
        FailedAttempts::for_test()
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
        let queue = HandlerQueue::new(2, Overflow::Block, 1, 1 << 20);
        assert!(matches!(
            queue.offer(message(1)),
            Offered::Queued { first: true, .. }
        ));
        assert!(matches!(
            queue.offer(message(2)),
            Offered::Queued {
                first: false,
                crowded: true
            }
        ));
        assert!(matches!(queue.offer(message(3)), Offered::Full(m) if m.topic() == "t/3"));
        assert_eq!(topics(&queue), ["t/1", "t/2"]);
        assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn drop_oldest_keeps_the_latest_messages() {
        let queue = HandlerQueue::new(2, Overflow::DropOldest, 1, 1 << 20);
        for n in 1..=4 {
            queue.offer(message(n));
        }
        assert_eq!(topics(&queue), ["t/3", "t/4"]);
        assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn drop_newest_keeps_the_earliest_messages() {
        let queue = HandlerQueue::new(2, Overflow::DropNewest, 1, 1 << 20);
        for n in 1..=4 {
            queue.offer(message(n));
        }
        assert_eq!(topics(&queue), ["t/1", "t/2"]);
        assert_eq!(queue.counters.dropped.load(Ordering::Relaxed), 2);
    }

    #[tokio::test]
    async fn a_waiting_push_goes_in_once_a_worker_takes_one() {
        let queue = std::sync::Arc::new(HandlerQueue::new(1, Overflow::Block, 1, 1 << 20));
        queue.offer(message(1));
        queue.enter_overflow(64); // as the dispatcher does before handing it over
        let pusher = tokio::spawn({
            let queue = queue.clone();
            async move { queue.push_waiting(message(2)).await }
        });
        tokio::task::yield_now().await;
        assert_eq!(fresh(queue.pop().await), "t/1");
        pusher.await.unwrap();
        assert_eq!(fresh(queue.pop().await), "t/2");
    }

    #[tokio::test]
    async fn closing_lets_workers_drain_then_stop() {
        let queue = HandlerQueue::new(4, Overflow::Block, 1, 1 << 20);
        queue.offer(message(1));
        queue.close();
        assert_eq!(fresh(queue.pop().await), "t/1");
        assert!(queue.pop().await.is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn a_parked_message_comes_back_when_due_and_others_pass_it_meanwhile() {
        let queue = HandlerQueue::new(4, Overflow::Block, 1, 1 << 20);
        let due = Instant::now() + std::time::Duration::from_millis(500);
        queue.park(message(1), failures(), due).unwrap();
        queue.offer(message(2));
        assert_eq!(fresh(queue.pop().await), "t/2", "the parked one waits");
        match queue.pop().await {
            Some(Work::Retry(m, _)) => assert_eq!(m.topic(), "t/1"),
            other => panic!("expected the retry, got {other:?}"),
        }
        assert!(Instant::now() >= due, "not before it is due");
    }

    #[test]
    fn parked_messages_hold_their_place_in_the_capacity() {
        let queue = HandlerQueue::new(2, Overflow::Block, 1, 1 << 20);
        let later = Instant::now() + std::time::Duration::from_secs(60);
        queue.park(message(1), failures(), later).unwrap();
        queue.offer(message(2));
        assert!(matches!(queue.offer(message(3)), Offered::Full(_)));
        assert_eq!(queue.len(), 2);
        let dropping = HandlerQueue::new(1, Overflow::DropOldest, 1, 1 << 20);
        dropping.park(message(1), failures(), later).unwrap();
        assert!(matches!(dropping.offer(message(2)), Offered::Dropped(m) if m.topic() == "t/2"));
    }

    #[tokio::test]
    async fn closing_hands_parked_messages_back_as_abandoned() {
        let queue = HandlerQueue::new(4, Overflow::Block, 1, 1 << 20);
        let later = Instant::now() + std::time::Duration::from_secs(60);
        queue.park(message(1), failures(), later).unwrap();
        queue.close();
        assert!(matches!(queue.pop().await, Some(Work::Abandoned(m, _)) if m.topic() == "t/1"));
        assert!(queue.pop().await.is_none());
        assert!(queue.park(message(2), failures(), later).is_err());
    }
}
