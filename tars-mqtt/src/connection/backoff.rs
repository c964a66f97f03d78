//! Exponential reconnect backoff with jitter.

use std::time::Duration;

/// Delays that double from `min` up to `max`, each drawn at random from the upper half
/// of its step (never below `min`), so that a fleet does not reconnect in lockstep.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub(crate) fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max,
            attempt: 0,
        }
    }

    /// The delay before the next attempt.
    pub(crate) fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .min
            .saturating_mul(1 << self.attempt.min(20))
            .min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let floor = (ceiling / 2).max(self.min);
        if ceiling <= floor {
            return floor;
        }
        floor + (ceiling - floor).mul_f64(fastrand::f64())
    }

    /// Starts over from `min` (after a successful connection).
    pub(crate) fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_max_and_stay_within_bounds() {
        let (min, max) = (Duration::from_millis(100), Duration::from_secs(2));
        let mut backoff = Backoff::new(min, max);
        assert_eq!(backoff.next_delay(), min);
        let mut previous_ceiling = min;
        for _ in 0..20 {
            let delay = backoff.next_delay();
            assert!(delay >= min && delay <= max, "{delay:?}");
            previous_ceiling = previous_ceiling.max(delay);
        }
        assert!(previous_ceiling >= max / 2, "reached {previous_ceiling:?}");
        backoff.reset();
        assert_eq!(backoff.next_delay(), min);
    }

    #[test]
    fn jitter_spreads_delays() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(5));
            b.next_delay();
            b.next_delay();
            b.next_delay();
            seen.insert(b.next_delay());
        }
        assert!(seen.len() > 1);
    }
}
