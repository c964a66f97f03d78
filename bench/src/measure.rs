//! Figures of one run, and the medians over several.

use std::future::Future;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Messages per second, and what was lost on the way.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Throughput {
    /// Messages per second.
    pub rate: f64,
    /// Messages sent.
    pub sent: u64,
    /// Distinct messages received.
    pub received: u64,
    /// Messages never received.
    pub lost: u64,
    /// Messages received more than once.
    pub duplicates: u64,
}

impl Throughput {
    /// `counted` messages (received or written) over `elapsed` seconds, with what the
    /// tally received of the `sent` ones.
    pub fn tallied(counted: u64, elapsed: f64, sent: u64) -> Self {
        let (received, distinct) = (crate::tally::received(), crate::tally::distinct());
        Self {
            rate: counted as f64 / elapsed.max(1e-9),
            sent,
            received: distinct,
            lost: sent - distinct.min(sent),
            duplicates: received - distinct,
        }
    }
}

/// Round-trip latency in microseconds.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Latency {
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// Slowest.
    pub max_us: f64,
    /// Round trips measured.
    pub samples: usize,
}

impl Latency {
    /// From the measured round trips.
    pub fn from_samples(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
            samples.get(index).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        Self {
            p50_us: at(0.50),
            p99_us: at(0.99),
            max_us: at(1.0),
            samples: samples.len(),
        }
    }
}

/// A figure for raw rumqttc and for tars, measured in the same run.
#[derive(Debug, Clone, Serialize)]
pub struct Pair<T> {
    /// Hand-written rumqttc.
    pub raw: T,
    /// tars.
    pub tars: T,
}

/// The median of several runs of a throughput pair, with the spread of the rates.
#[derive(Debug, Clone, Serialize)]
pub struct ThroughputSummary {
    /// Median run of raw rumqttc (by rate), with the most lost in any run.
    pub raw: Throughput,
    /// Median run of tars (by rate), with the most lost in any run.
    pub tars: Throughput,
    /// tars rate / raw rate, median over runs.
    pub ratio: f64,
    /// Lowest and highest ratio over the runs.
    pub ratio_range: (f64, f64),
    /// Runs measured.
    pub runs: usize,
}

impl ThroughputSummary {
    /// Summarizes runs (at least one).
    pub fn of(runs: &[Pair<Throughput>]) -> Self {
        let pick = |side: fn(&Pair<Throughput>) -> Throughput| {
            let mut all: Vec<Throughput> = runs.iter().map(side).collect();
            all.sort_by(|a, b| a.rate.total_cmp(&b.rate));
            let mut median = all[all.len() / 2];
            median.lost = all.iter().map(|t| t.lost).max().unwrap_or(0);
            median.duplicates = all.iter().map(|t| t.duplicates).max().unwrap_or(0);
            median
        };
        let mut ratios: Vec<f64> = runs.iter().map(|p| p.tars.rate / p.raw.rate).collect();
        ratios.sort_by(f64::total_cmp);
        Self {
            raw: pick(|p| p.raw),
            tars: pick(|p| p.tars),
            ratio: ratios[ratios.len() / 2],
            ratio_range: (ratios[0], ratios[ratios.len() - 1]),
            runs: runs.len(),
        }
    }
}

/// The median of several latency runs.
#[derive(Debug, Clone, Serialize)]
pub struct LatencySummary {
    /// Raw rumqttc, median run by p50.
    pub raw: Latency,
    /// tars, median run by p50.
    pub tars: Latency,
    /// tars p50 − raw p50 in microseconds, median over runs.
    pub p50_delta_us: f64,
    /// Runs measured.
    pub runs: usize,
}

impl LatencySummary {
    /// Summarizes runs (at least one).
    pub fn of(runs: &[Pair<Latency>]) -> Self {
        let pick = |side: fn(&Pair<Latency>) -> Latency| {
            let mut all: Vec<Latency> = runs.iter().map(side).collect();
            all.sort_by(|a, b| a.p50_us.total_cmp(&b.p50_us));
            all[all.len() / 2]
        };
        let mut deltas: Vec<f64> = runs.iter().map(|p| p.tars.p50_us - p.raw.p50_us).collect();
        deltas.sort_by(f64::total_cmp);
        Self {
            raw: pick(|p| p.raw),
            tars: pick(|p| p.tars),
            p50_delta_us: deltas[deltas.len() / 2],
            runs: runs.len(),
        }
    }
}

/// Polls `progress` every millisecond until it reaches `target` or stops moving for
/// `idle`; returns the last value and when it last changed.
pub async fn wait_for_progress(
    progress: impl Fn() -> u64,
    target: u64,
    idle: Duration,
) -> (u64, Instant) {
    let mut last = progress();
    let mut changed_at = Instant::now();
    loop {
        if last >= target {
            return (last, changed_at);
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        let now = progress();
        if now != last {
            last = now;
            changed_at = Instant::now();
        } else if changed_at.elapsed() >= idle {
            return (last, changed_at);
        }
    }
}

/// Awaits `future`, failing the benchmark with `what` if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, future)
        .await
        .unwrap_or_else(|_| panic!("benchmark step timed out after {limit:?}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throughput(rate: f64, lost: u64) -> Throughput {
        Throughput {
            rate,
            sent: 100,
            received: 100 - lost,
            lost,
            duplicates: 0,
        }
    }

    #[test]
    fn percentiles_come_from_the_sorted_samples() {
        let samples = (1..=100).rev().map(Duration::from_micros).collect();
        let latency = Latency::from_samples(samples);
        assert_eq!(
            (
                latency.p50_us.round(),
                latency.p99_us.round(),
                latency.max_us
            ),
            (51.0, 99.0, 100.0)
        );
        assert_eq!(latency.samples, 100);
    }

    #[test]
    fn summaries_take_median_rates_and_the_worst_loss() {
        let runs = [
            Pair {
                raw: throughput(100.0, 0),
                tars: throughput(90.0, 0),
            },
            Pair {
                raw: throughput(200.0, 3),
                tars: throughput(210.0, 0),
            },
            Pair {
                raw: throughput(150.0, 0),
                tars: throughput(150.0, 1),
            },
        ];
        let summary = ThroughputSummary::of(&runs);
        assert_eq!((summary.raw.rate, summary.tars.rate), (150.0, 150.0));
        assert_eq!((summary.raw.lost, summary.tars.lost), (3, 1));
        assert_eq!(summary.ratio, 1.0);
        assert_eq!(summary.ratio_range, (0.9, 1.05));
    }
}
