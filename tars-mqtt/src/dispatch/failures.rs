//! What a message's failed attempts left: how many, when, and the last error. It
//! travels with the message while it waits out its backoff in the queue.

use std::time::SystemTime;

use crate::model::failure::HandlerError;

/// The failures of one message so far.
#[derive(Debug)]
pub(crate) struct FailedAttempts {
    /// Attempts made, all failed.
    pub(crate) attempts: u32,
    pub(crate) first_failed_at: SystemTime,
    pub(crate) last_failed_at: SystemTime,
    pub(crate) last: FailedAttempt,
}

/// One failed attempt.
#[derive(Debug)]
pub(crate) struct FailedAttempt {
    pub(crate) error: HandlerError,
    pub(crate) panicked: bool,
}

impl FailedAttempts {
    pub(crate) fn first(failure: FailedAttempt) -> Box<Self> {
        let now = SystemTime::now();
        Box::new(Self {
            attempts: 1,
            first_failed_at: now,
            last_failed_at: now,
            last: failure,
        })
    }

    /// One failed attempt, for queue tests.
    #[cfg(test)]
    pub(crate) fn for_test() -> Box<Self> {
        Self::first(FailedAttempt {
            error: HandlerError::failed("test"),
            panicked: false,
        })
    }

    pub(crate) fn again(&mut self, failure: FailedAttempt) {
        self.attempts += 1;
        self.last_failed_at = SystemTime::now();
        self.last = failure;
    }
}
