//! The results table, its targets, and the same as JSON.

use serde::Serialize;

use crate::budgets::Measured;
use crate::measure::{LatencySummary, ThroughputSummary};
use crate::memory::Memory;

/// The targets of the benchmark (ratios in the same run).
pub mod targets {
    /// Inbound tars rate / raw rate.
    pub const INBOUND_RATIO: f64 = 0.95;
    /// Outbound tars rate / raw rate.
    pub const OUTBOUND_RATIO: f64 = 0.90;
    /// tars p50 − raw p50, microseconds.
    pub const ROUND_TRIP_P50_DELTA_US: f64 = 20.0;
    /// Idle resident set of a service, KiB.
    pub const IDLE_RSS_KIB: u64 = 10 * 1024;
}

/// How many messages each scenario used.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sizes {
    /// Runs per scenario (medians are reported).
    pub runs: usize,
    /// Inbound QoS 0 burst.
    pub inbound_qos0: u64,
    /// Inbound QoS 1 burst.
    pub inbound_qos1: u64,
    /// Outbound publishes.
    pub outbound: u64,
    /// Round trips.
    pub round_trips: u64,
    /// Burst for the memory figure.
    pub memory_burst: u64,
}

/// Every figure measured against one broker.
#[derive(Debug, Clone, Serialize)]
pub struct BrokerReport {
    /// `mosquitto` or `embedded`.
    pub broker: &'static str,
    /// Inbound at QoS 0.
    pub inbound_qos0: ThroughputSummary,
    /// Inbound at QoS 1.
    pub inbound_qos1: ThroughputSummary,
    /// Outbound at QoS 0.
    pub outbound: ThroughputSummary,
    /// Request → handler → reply.
    pub round_trip: LatencySummary,
    /// The service's resident set.
    pub memory: Option<Memory>,
}

/// The whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Scenario sizes.
    pub sizes: Sizes,
    /// One entry per broker.
    pub brokers: Vec<BrokerReport>,
    /// Deterministic cost per message, when callgrind ran.
    pub cost: Option<Measured>,
    /// Targets missed, one line each.
    pub missed: Vec<String>,
    /// A smoke run: too short to measure, targets not checked.
    pub smoke: bool,
}

impl Report {
    /// Assembles the report and lists the targets it misses (unless `smoke`: a smoke
    /// run's counts are too small to measure anything).
    pub fn new(
        sizes: Sizes,
        brokers: Vec<BrokerReport>,
        cost: Option<Measured>,
        smoke: bool,
    ) -> Self {
        let mut missed = Vec::new();
        for b in brokers.iter().filter(|_| !smoke) {
            let name = b.broker;
            check_ratio(
                &mut missed,
                name,
                "inbound QoS 0",
                &b.inbound_qos0,
                targets::INBOUND_RATIO,
            );
            check_ratio(
                &mut missed,
                name,
                "inbound QoS 1",
                &b.inbound_qos1,
                targets::INBOUND_RATIO,
            );
            check_ratio(
                &mut missed,
                name,
                "outbound",
                &b.outbound,
                targets::OUTBOUND_RATIO,
            );
            if b.inbound_qos1.tars.lost > 0 {
                missed.push(format!(
                    "{name}: tars lost {} QoS 1 messages",
                    b.inbound_qos1.tars.lost
                ));
            }
            if b.inbound_qos0.tars.lost > b.inbound_qos0.raw.lost {
                missed.push(format!(
                    "{name}: tars lost more QoS 0 messages than raw ({} vs {})",
                    b.inbound_qos0.tars.lost, b.inbound_qos0.raw.lost
                ));
            }
            if b.round_trip.p50_delta_us > targets::ROUND_TRIP_P50_DELTA_US {
                missed.push(format!(
                    "{name}: round trip p50 {:+.1} µs over raw (target ≤ {} µs)",
                    b.round_trip.p50_delta_us,
                    targets::ROUND_TRIP_P50_DELTA_US
                ));
            }
            if let Some(memory) = b.memory {
                if memory.idle_rss_kib > targets::IDLE_RSS_KIB {
                    missed.push(format!(
                        "{name}: idle RSS {} KiB (target ≤ {} KiB)",
                        memory.idle_rss_kib,
                        targets::IDLE_RSS_KIB
                    ));
                }
            }
        }
        Self {
            sizes,
            brokers,
            cost,
            missed,
            smoke,
        }
    }

    /// The table, as printed.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.sizes;
        out.push_str(&format!(
            "tars-bench: medians of {} run(s); ratio = tars / raw in the same run (range over runs)\n\n",
            s.runs
        ));
        out.push_str(&format!(
            "{:<24} {:<10} {:>14} {:>14} {:>20} {:>12}\n",
            "scenario", "broker", "raw", "tars", "tars/raw", "lost raw/tars"
        ));
        for b in &self.brokers {
            let rows = [
                (
                    format!("inbound QoS 0 ×{}", s.inbound_qos0),
                    &b.inbound_qos0,
                ),
                (
                    format!("inbound QoS 1 ×{}", s.inbound_qos1),
                    &b.inbound_qos1,
                ),
                (format!("outbound QoS 0 ×{}", s.outbound), &b.outbound),
            ];
            for (label, t) in rows {
                out.push_str(&format!(
                    "{:<24} {:<10} {:>10.0} m/s {:>10.0} m/s {:>7.3} ({:.2}–{:.2}) {:>6}/{}\n",
                    label,
                    b.broker,
                    t.raw.rate,
                    t.tars.rate,
                    t.ratio,
                    t.ratio_range.0,
                    t.ratio_range.1,
                    t.raw.lost,
                    t.tars.lost
                ));
            }
            let r = &b.round_trip;
            out.push_str(&format!(
                "{:<24} {:<10} {:>14} {:>14} {:>20}\n",
                format!("round trip ×{} p50", s.round_trips),
                b.broker,
                format!("{:.0} µs", r.raw.p50_us),
                format!("{:.0} µs", r.tars.p50_us),
                format!("{:+.1} µs", r.p50_delta_us),
            ));
            out.push_str(&format!(
                "{:<24} {:<10} {:>14} {:>14}\n",
                "round trip p99 / max",
                b.broker,
                format!("{:.0}/{:.0} µs", r.raw.p99_us, r.raw.max_us),
                format!("{:.0}/{:.0} µs", r.tars.p99_us, r.tars.max_us),
            ));
            if let Some(m) = b.memory {
                out.push_str(&format!(
                    "{:<24} {:<10} {:>14} {:>14}\n",
                    format!("service RSS idle/×{}", m.burst),
                    b.broker,
                    "",
                    format!(
                        "{:.1}/{:.1} MiB",
                        m.idle_rss_kib as f64 / 1024.0,
                        m.load_rss_kib as f64 / 1024.0
                    ),
                ));
            }
        }
        if let Some(cost) = &self.cost {
            out.push_str("\ncost per message (callgrind instructions, heap allocations)\n");
            for (name, c) in &cost.paths {
                out.push_str(&format!(
                    "  {:<22} {:>8.0} instr {:>6.2} allocs\n",
                    name, c.instructions, c.allocations
                ));
            }
            out.push_str(&format!(
                "  {:<22} {:>8.0} instr {:>6.2} allocs\n",
                "framework inbound",
                cost.framework_inbound.instructions,
                cost.framework_inbound.allocations
            ));
        }
        out.push('\n');
        if self.smoke {
            out.push_str(
                "smoke run: the counts are too small to measure anything; targets not checked\n",
            );
        } else if self.missed.is_empty() {
            out.push_str("targets: all met\n");
        } else {
            out.push_str("targets missed:\n");
            for line in &self.missed {
                out.push_str(&format!("  - {line}\n"));
            }
        }
        out
    }
}

fn check_ratio(
    missed: &mut Vec<String>,
    broker: &str,
    scenario: &str,
    summary: &ThroughputSummary,
    target: f64,
) {
    if summary.ratio < target {
        missed.push(format!(
            "{broker}: {scenario} at {:.3} × raw (target ≥ {target})",
            summary.ratio
        ));
    }
}
