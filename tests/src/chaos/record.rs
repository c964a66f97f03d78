//! What a run left behind: each process's printed records, what the observer saw on
//! the broker, and the faults as they were applied.

use std::time::Duration;

use super::plan::{Brokers, Fault};

/// One incarnation of a service process.
#[derive(Debug, Clone)]
pub struct Incarnation {
    /// The service's index in [`super::plan::SERVICES`].
    pub service: usize,
    pub number: u64,
    pub started_ms: u64,
    /// When it ended; `None` while it runs.
    pub ended_ms: Option<u64>,
    /// How it ended: "SIGKILL", "SIGTERM", "final stop", or "by itself".
    pub ended_by: Option<&'static str>,
    /// Its exit code, when it exited with one.
    pub exit_code: Option<i32>,
    /// Everything it printed.
    pub output: String,
}

impl Incarnation {
    /// Its `chaos <ms> <what>` records, in order.
    pub fn records(&self) -> impl Iterator<Item = (u64, &str)> {
        self.output.lines().filter_map(|line| {
            let rest = line.strip_prefix("chaos ")?;
            let (ms, what) = rest.split_once(' ')?;
            Some((ms.parse().ok()?, what))
        })
    }
}

/// A fault as it was applied.
#[derive(Debug, Clone, Copy)]
pub struct Applied {
    pub fault: Fault,
    pub started_ms: u64,
    pub ended_ms: u64,
}

/// A message the observer received on the broker.
#[derive(Debug, Clone)]
pub struct Observed {
    pub at_ms: u64,
    pub topic: String,
    pub payload: Vec<u8>,
}

/// Everything the checker reads.
#[derive(Debug, Clone, Default)]
pub struct RunRecord {
    pub seed: u64,
    pub brokers: Brokers,
    pub started_ms: u64,
    /// When faults stopped and the fleet was healed.
    pub healed_ms: u64,
    pub incarnations: Vec<Incarnation>,
    pub faults: Vec<Applied>,
    /// Heartbeats, health and dead letters, as the observer saw them.
    pub observed: Vec<Observed>,
    /// Tasks of bursts the broker acknowledged, and when (ms).
    pub burst_acked: Vec<(u64, u64)>,
    /// The largest resident set seen per service, in KiB.
    pub max_rss_kib: Vec<u64>,
    /// The last health of each service before the final stop: (service, ok, event).
    pub final_health: Vec<(usize, Option<bool>, String)>,
    /// The heartbeat interval of the services.
    pub heartbeat: Duration,
}

/// Writes a run's records into `dir`: each incarnation's output
/// (`<service>.<incarnation>.log`), what the observer saw (`observed.log`, one line per
/// message) and the faults as applied (`faults.log`).
pub fn keep(run: &RunRecord, dir: &std::path::Path) -> std::io::Result<()> {
    use std::io::Write;
    std::fs::create_dir_all(dir)?;
    for incarnation in &run.incarnations {
        let name = super::plan::SERVICES[incarnation.service];
        let file = dir.join(format!("{name}.{}.log", incarnation.number));
        std::fs::write(file, &incarnation.output)?;
    }
    let mut observed = std::fs::File::create(dir.join("observed.log"))?;
    for o in &run.observed {
        writeln!(
            observed,
            "{} {} {}",
            o.at_ms,
            o.topic,
            String::from_utf8_lossy(&o.payload)
        )?;
    }
    let mut faults = std::fs::File::create(dir.join("faults.log"))?;
    for a in &run.faults {
        writeln!(faults, "{} {} {}", a.started_ms, a.ended_ms, a.fault)?;
    }
    Ok(())
}
