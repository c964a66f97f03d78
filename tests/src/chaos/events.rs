//! The chaos fleet's messages and the line every service prints for the checker.
//! Implemented by hand (no `#[derive(Event)]`), as in [`crate::events`].

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tars::{Event, QoS};

/// Declares one numbered event of the fleet in the calling crate, a service binary:
/// derived there, so that it is in that service's manifest and nowhere else.
/// `chaos_event!(Job, "chaos/jobs", "chaos.job")`.
#[macro_export]
macro_rules! chaos_event {
    ($name:ident, $topic:tt, $type:tt) => {
        /// A numbered message of the chaos fleet: unique per kind across the run (the
        /// publishing process's incarnation × 10⁹ + its count).
        #[derive(tars::Event, serde::Serialize, serde::Deserialize, Debug, Clone, Copy)]
        #[event(topic = $topic, event_type = $type, qos = 1)]
        struct $name {
            n: u64,
        }
    };
}

/// A task for the slow handler with retries (the bursts publish it; the fleet's
/// services declare theirs with [`chaos_event!`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Its number.
    pub n: u64,
}

impl Event for Task {
    const TOPIC: &'static str = "chaos/tasks";
    const EVENT_TYPE: &'static str = "chaos.task";
    const QOS: QoS = QoS::AtLeastOnce;
}

/// Where the retrying handler's dead letters go.
pub const DEAD_LETTER_TOPIC: &str = "chaos/dead";
/// A task whose number is a multiple of this always fails (it is dead-lettered).
pub const FAILING_EVERY: u64 = 7;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Prints one record for the checker: `chaos <ms> <what>`, flushed at once (a SIGKILL
/// must not lose what was printed).
pub fn record(what: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "chaos {} {what}", now_ms());
    let _ = out.flush();
}
