//! A histogram of batch sizes (messages per batch handler call), recorded with atomics
//! and read when metrics are scraped, in the shape of the duration histogram.

#![cfg_attr(not(feature = "metrics"), allow(dead_code))]

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use super::histogram::HistogramSnapshot;

/// Upper bounds of the buckets, in messages; a last bucket takes everything above.
pub(crate) const BUCKETS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// Counts of batch sizes per bucket, and their sum.
#[derive(Debug, Default)]
pub(crate) struct BatchSizes {
    /// Set when a batch worker takes this queue: only batch handlers report sizes.
    in_use: AtomicBool,
    /// Per bucket (not cumulative); the last one is above the last bound.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    sum: AtomicU64,
}

impl BatchSizes {
    /// This queue feeds a batch handler: its sizes are reported, from zero.
    pub(crate) fn mark_in_use(&self) {
        self.in_use.store(true, Ordering::Relaxed);
    }

    /// Whether a batch handler takes from this queue.
    pub(crate) fn in_use(&self) -> bool {
        self.in_use.load(Ordering::Relaxed)
    }

    /// Records one batch of `size` messages.
    pub(crate) fn observe(&self, size: usize) {
        let size = size as u64;
        let bucket = BUCKETS
            .iter()
            .position(|bound| size <= *bound)
            .unwrap_or(BUCKETS.len());
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(size, Ordering::Relaxed);
    }

    /// What it holds now (bounds and sum in messages).
    pub(crate) fn snapshot(&self) -> HistogramSnapshot {
        let sum = self.sum.load(Ordering::Relaxed) as f64;
        HistogramSnapshot::read(BUCKETS.iter().map(|b| *b as f64), &self.buckets, sum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_land_in_the_first_bucket_that_holds_them() {
        let sizes = BatchSizes::default();
        for size in [1, 100, 100, 50, 7000] {
            sizes.observe(size);
        }
        let snapshot = sizes.snapshot();
        let at = |bound: f64| {
            snapshot
                .buckets
                .iter()
                .find(|(b, _)| *b == bound)
                .unwrap()
                .1
        };
        assert_eq!(
            (at(1.0), at(50.0), at(100.0), at(f64::INFINITY)),
            (1, 1, 2, 1)
        );
        assert_eq!(snapshot.count, 5);
        assert_eq!(snapshot.sum, 7251.0);
    }
}
