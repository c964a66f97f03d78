//! A histogram of durations with fixed buckets, recorded with atomics (no lock on the
//! hot path) and read whole when metrics are scraped.

// Without the `metrics` feature durations are recorded (for `Client` users who enable
// them) but nothing reads them back.
#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the buckets, in seconds (Prometheus's usual latency buckets, with
/// finer ones below 5 ms where handlers and round trips on one machine fall); a last
/// bucket takes everything above.
pub(crate) const BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`BUCKETS_SECONDS`] in nanoseconds.
const BUCKETS_NANOS: [u64; BUCKETS_SECONDS.len()] = {
    let mut nanos = [0u64; BUCKETS_SECONDS.len()];
    let mut i = 0;
    while i < nanos.len() {
        nanos[i] = (BUCKETS_SECONDS[i] * 1e9 + 0.5) as u64;
        i += 1;
    }
    nanos
};

/// Counts of durations per bucket and their sum (their number is the buckets' sum).
#[derive(Debug, Default)]
pub(crate) struct DurationHistogram {
    /// Per bucket (not cumulative); the last one is above the last bound.
    buckets: [AtomicU64; BUCKETS_SECONDS.len() + 1],
    sum_nanos: AtomicU64,
}

/// A histogram read at one moment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct HistogramSnapshot {
    /// `(upper bound in seconds, count in that bucket)`, the last bound `+Inf`.
    pub(crate) buckets: Vec<(f64, u64)>,
    /// The sum of what was observed: seconds for durations, messages for batch sizes.
    pub(crate) sum: f64,
    pub(crate) count: u64,
}

impl HistogramSnapshot {
    /// Reads counters kept per bucket (`bounds` and a last one above them).
    pub(crate) fn read(
        bounds: impl Iterator<Item = f64>,
        counters: &[AtomicU64],
        sum: f64,
    ) -> Self {
        let buckets: Vec<(f64, u64)> = bounds
            .chain([f64::INFINITY])
            .zip(counters)
            .map(|(bound, count)| (bound, count.load(Ordering::Relaxed)))
            .collect();
        Self {
            count: buckets.iter().map(|(_, n)| n).sum(),
            buckets,
            sum,
        }
    }

    /// Adds `other`, bucket by bucket.
    pub(crate) fn add(&mut self, other: &HistogramSnapshot) {
        for ((_, total), (_, n)) in self.buckets.iter_mut().zip(&other.buckets) {
            *total += n;
        }
        self.sum += other.sum;
        self.count += other.count;
    }
}

impl Default for HistogramSnapshot {
    /// Nothing recorded.
    fn default() -> Self {
        DurationHistogram::default().snapshot()
    }
}

impl DurationHistogram {
    /// Records one duration.
    pub(crate) fn observe(&self, duration: Duration) {
        let (bucket, nanos) = Self::place(duration);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Records one duration into a histogram that only the caller's task records into
    /// (a handler worker's own): plain loads and stores instead of atomic additions,
    /// which cost a handled message several nanoseconds each. Readers still see whole
    /// values.
    pub(crate) fn observe_exclusive(&self, nanos: u64) {
        let bucket = Self::bucket_of(nanos);
        let add = |counter: &AtomicU64, n: u64| {
            counter.store(
                counter.load(Ordering::Relaxed).wrapping_add(n),
                Ordering::Relaxed,
            );
        };
        add(&self.buckets[bucket], 1);
        add(&self.sum_nanos, nanos);
    }

    /// The bucket of `duration`, and the duration in nanoseconds.
    fn place(duration: Duration) -> (usize, u64) {
        let nanos = u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX);
        (Self::bucket_of(nanos), nanos)
    }

    /// The first bucket that holds `nanos` (integer comparisons: this runs per message).
    fn bucket_of(nanos: u64) -> usize {
        BUCKETS_NANOS
            .iter()
            .position(|bound| nanos <= *bound)
            .unwrap_or(BUCKETS_NANOS.len())
    }

    /// The sum of several histograms.
    pub(crate) fn merged<'a>(all: impl IntoIterator<Item = &'a Self>) -> HistogramSnapshot {
        let mut total = Self::default().snapshot();
        for histogram in all {
            total.add(&histogram.snapshot());
        }
        total
    }

    /// What it holds now.
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let sum = self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9;
        HistogramSnapshot::read(BUCKETS_SECONDS.iter().copied(), &self.buckets, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_land_in_the_first_bucket_that_holds_them() {
        let histogram = DurationHistogram::default();
        histogram.observe(Duration::from_micros(200));
        histogram.observe(Duration::from_millis(1));
        histogram.observe(Duration::from_millis(700));
        histogram.observe(Duration::from_secs(60));
        let snapshot = histogram.snapshot();
        let count_at = |bound: f64| {
            snapshot
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .map(|(_, n)| *n)
        };
        assert_eq!(count_at(0.0005), Some(1));
        assert_eq!(count_at(0.001), Some(1), "a bound is inclusive");
        assert_eq!(count_at(1.0), Some(1));
        assert_eq!(count_at(f64::INFINITY), Some(1));
        assert_eq!(snapshot.count, 4);
        assert!((snapshot.sum - 60.7012).abs() < 1e-9);
    }

    #[test]
    fn bounds_in_nanoseconds_are_the_bounds_in_seconds() {
        assert_eq!(BUCKETS_NANOS[0], 500_000);
        assert_eq!(BUCKETS_NANOS[1], 1_000_000);
        assert_eq!(BUCKETS_NANOS[BUCKETS_NANOS.len() - 1], 10_000_000_000);
        assert_eq!(
            DurationHistogram::bucket_of(500_000),
            0,
            "a bound is inclusive"
        );
        assert_eq!(DurationHistogram::bucket_of(500_001), 1);
    }

    #[test]
    fn histograms_merge_bucket_by_bucket() {
        let (one, other) = (DurationHistogram::default(), DurationHistogram::default());
        one.observe(Duration::from_millis(3));
        other.observe_exclusive(3_000_000);
        other.observe_exclusive(2_000_000_000);
        let merged = DurationHistogram::merged([&one, &other]);
        assert_eq!(merged.count, 3);
        let at_5ms = merged.buckets.iter().find(|(b, _)| *b == 0.005).unwrap().1;
        assert_eq!(at_5ms, 2);
        assert!((merged.sum - 2.006).abs() < 1e-9);
    }
}
