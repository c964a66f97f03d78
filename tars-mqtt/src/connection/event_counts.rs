//! What the session counts per event type for metrics: publishes, and the round trips
//! of requests. Bounded in the number of event types.

// Without the `metrics` feature the figures are kept but nothing reads them back.
#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustc_hash::FxHashMap;

use crate::telemetry::histogram::DurationHistogram;

/// The most event types counted apart; the label values of a metric are bounded by the
/// code, and this keeps them bounded when event types come from input.
const MAX_EVENT_TYPES: usize = 256;
/// The label value under which event types beyond [`MAX_EVENT_TYPES`] are counted.
pub(crate) const OTHER_EVENT_TYPES: &str = "(other)";

/// Per event type: publishes, and the round trips of requests.
#[derive(Debug, Default)]
pub(crate) struct EventMetrics {
    published: Table<AtomicU64>,
    requests: Table<DurationHistogram>,
}

impl EventMetrics {
    /// One publish of `event_type` (`""` for a raw publish) was handed to the connection.
    pub(crate) fn published(&self, event_type: &str) {
        self.published
            .with(event_type, |n| n.fetch_add(1, Ordering::Relaxed));
    }

    /// A request of `event_type` got its reply after `elapsed`.
    pub(crate) fn request_answered(&self, event_type: &str, elapsed: Duration) {
        self.requests
            .with(event_type, |histogram| histogram.observe(elapsed));
    }

    /// Publishes per event type, sorted by event type.
    pub(crate) fn published_counts(&self) -> Vec<(String, u64)> {
        self.published
            .sorted()
            .into_iter()
            .map(|(event_type, n)| (event_type, n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Request round trips per event type, sorted by event type.
    pub(crate) fn request_durations(&self) -> Vec<(String, Arc<DurationHistogram>)> {
        self.requests.sorted()
    }
}

/// Values by event type, bounded in size.
#[derive(Debug)]
struct Table<T> {
    entries: RwLock<FxHashMap<Box<str>, Arc<T>>>,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            entries: RwLock::default(),
        }
    }
}

impl<T: Default> Table<T> {
    /// Runs `f` on the value of `key`, added on first use (under [`OTHER_EVENT_TYPES`]
    /// once the table is full). The common case, a key seen before, takes a read lock
    /// and nothing else.
    fn with<R>(&self, key: &str, f: impl FnOnce(&T) -> R) -> R {
        if let Some(value) = self.read().get(key) {
            return f(value);
        }
        let mut entries = self.entries.write().unwrap_or_else(|p| p.into_inner());
        let key = if entries.len() >= MAX_EVENT_TYPES && !entries.contains_key(key) {
            OTHER_EVENT_TYPES
        } else {
            key
        };
        f(entries.entry(key.into()).or_default())
    }

    fn sorted(&self) -> Vec<(String, Arc<T>)> {
        let mut all: Vec<(String, Arc<T>)> = self
            .read()
            .iter()
            .map(|(key, value)| (key.to_string(), value.clone()))
            .collect();
        all.sort_by(|a, b| a.0.cmp(&b.0));
        all
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, FxHashMap<Box<str>, Arc<T>>> {
        self.entries.read().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_are_counted_per_event_type_and_bounded() {
        let metrics = EventMetrics::default();
        metrics.published("tts.say");
        metrics.published("tts.say");
        metrics.published("");
        assert_eq!(
            metrics.published_counts(),
            [("".to_owned(), 1), ("tts.say".to_owned(), 2)]
        );
        for n in 0..MAX_EVENT_TYPES + 10 {
            metrics.published(&format!("type.{n}"));
        }
        let counts = metrics.published_counts();
        assert!(counts.len() <= MAX_EVENT_TYPES + 1, "{}", counts.len());
        let other = counts.iter().find(|(t, _)| t == OTHER_EVENT_TYPES);
        assert!(other.is_some_and(|(_, n)| *n >= 10), "{other:?}");
    }
}
