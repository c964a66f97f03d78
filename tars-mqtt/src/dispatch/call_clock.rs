//! Timing handler calls for the duration histogram, when metrics are on.
//!
//! Reading a clock is most of what metrics cost a handled message (`Instant::now` takes
//! about 23 ns on a small VM, a twentieth of a message), so the clock is read once per
//! message while messages follow each other (one call's end is the next one's start),
//! and it is the CPU's time-stamp counter through `quanta` (about 9 ns), calibrated once
//! per process against the system clock. `quanta` falls back to the system clock where
//! the counter is not invariant.

use crate::telemetry::histogram::DurationHistogram;

/// A handler worker's clock.
pub(crate) struct CallClock {
    #[cfg(feature = "metrics")]
    clock: Option<quanta::Clock>,
    /// Raw ticks at the end of the last call, while no wait followed it.
    #[cfg(feature = "metrics")]
    last_end: Option<u64>,
}

/// When a call started, in the clock's raw ticks.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Started(#[cfg(feature = "metrics")] u64);

impl CallClock {
    /// A clock that times calls when `on` (metrics are on and the `metrics` feature is
    /// built in).
    pub(crate) fn new(on: bool) -> Self {
        #[cfg(feature = "metrics")]
        return Self {
            clock: on.then(quanta::Clock::new),
            last_end: None,
        };
        #[cfg(not(feature = "metrics"))]
        {
            let _ = on;
            Self {}
        }
    }

    /// The worker waits for a message (or does other work): the next call starts anew.
    pub(crate) fn idle(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.last_end = None;
        }
    }

    /// When the call about to be made starts; `None` when not timing.
    pub(crate) fn start(&mut self) -> Option<Started> {
        #[cfg(feature = "metrics")]
        return self
            .clock
            .as_ref()
            .map(|clock| Started(self.last_end.take().unwrap_or_else(|| clock.raw())));
        #[cfg(not(feature = "metrics"))]
        None
    }

    /// Records the call that started at `started`.
    pub(crate) fn finish(&mut self, started: Option<Started>, into: &DurationHistogram) {
        #[cfg(feature = "metrics")]
        if let (Some(Started(start)), Some(clock)) = (started, &self.clock) {
            let end = clock.raw();
            into.observe_exclusive(clock.delta_as_nanos(start, end));
            self.last_end = Some(end);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (started, into);
    }
}

#[cfg(all(test, feature = "metrics"))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn calls_are_timed_back_to_back_and_anew_after_a_wait() {
        let histogram = DurationHistogram::default();
        let mut clock = CallClock::new(true);
        let first = clock.start();
        std::thread::sleep(Duration::from_millis(20));
        clock.finish(first, &histogram);
        let second = clock.start();
        clock.finish(second, &histogram);
        clock.idle();
        std::thread::sleep(Duration::from_millis(20));
        let third = clock.start();
        clock.finish(third, &histogram);
        let snapshot = histogram.snapshot();
        assert_eq!(snapshot.count, 3);
        let at_5ms: u64 = snapshot
            .buckets
            .iter()
            .filter(|(bound, _)| *bound <= 0.005)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(at_5ms, 2, "the call after a wait does not count the wait");
        assert!(snapshot.sum >= 0.019, "{}", snapshot.sum);
    }

    #[test]
    fn a_clock_that_is_off_times_nothing() {
        let histogram = DurationHistogram::default();
        let mut clock = CallClock::new(false);
        let started = clock.start();
        assert!(started.is_none());
        clock.finish(started, &histogram);
        assert_eq!(histogram.snapshot().count, 0);
    }
}
