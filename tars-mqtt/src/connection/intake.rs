//! The reader's flow control: whether reading is paused because a handler cannot take
//! more, and whether the connection waits for answers that only reading brings.
//!
//! The dispatcher pauses and resumes reading (see `dispatch/inbound.rs`); the writer
//! counts the answers it waits for and reads `pauses` for its keepalive check; a request
//! counts itself while it waits for its reply.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Whether reading is paused by backpressure (for the writer's keepalive check), and
/// whether the connection waits for an answer from the broker (for the reader).
#[derive(Debug, Default)]
pub(crate) struct Intake {
    paused: AtomicBool,
    pauses: AtomicU64,
    /// Answers the writer waits for: acknowledgements of QoS 1/2 publishes, SUBACKs.
    awaited: AtomicUsize,
    /// Requests waiting for their reply, which comes only by reading.
    requests: AtomicUsize,
    /// Told when `awaited` or `requests` leaves zero.
    pub(crate) awaiting: Notify,
}

impl Intake {
    pub(crate) fn pause(&self) {
        self.pauses.fetch_add(1, Ordering::AcqRel);
        self.paused.store(true, Ordering::Release);
    }

    pub(crate) fn resume(&self) {
        self.paused.store(false, Ordering::Release);
    }

    /// Whether the reader is waiting for the handlers now.
    pub(crate) fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Acquire)
    }

    /// How many times the reader has paused.
    pub(crate) fn pauses(&self) -> u64 {
        self.pauses.load(Ordering::Acquire)
    }

    /// The writer's count of the answers it waits for; a paused reader reads on while
    /// there are any.
    pub(crate) fn set_awaited(&self, answers: usize) {
        let before = self.awaited.load(Ordering::Relaxed);
        if before == answers {
            return;
        }
        self.awaited.store(answers, Ordering::Release);
        if before == 0 {
            self.awaiting.notify_waiters();
        }
    }

    /// A request started waiting for its reply.
    pub(crate) fn request_started(&self) {
        if self.requests.fetch_add(1, Ordering::AcqRel) == 0 {
            self.awaiting.notify_waiters();
        }
    }

    /// A request stopped waiting (answered, timed out or dropped).
    pub(crate) fn request_ended(&self) {
        self.requests.fetch_sub(1, Ordering::AcqRel);
    }

    /// Whether the connection waits for something only reading brings (an answer of
    /// the broker, a request's reply): a paused reader must read on then.
    pub(crate) fn must_read(&self) -> bool {
        self.awaited.load(Ordering::Acquire) > 0 || self.requests.load(Ordering::Acquire) > 0
    }
}
