//! The fault schedule, drawn from a seed: the same seed and duration give the same
//! faults at the same offsets, on the same services.

use std::fmt;
use std::time::Duration;

/// The services of the fleet, by role; the index is the service's place in
/// [`SERVICES`].
pub const SERVICES: [&str; 8] = [
    "chaos-publisher",
    "chaos-worker-1",
    "chaos-worker-2",
    "chaos-worker-3",
    "chaos-ordered",
    "chaos-retrying",
    "chaos-responder",
    "chaos-requester",
];

/// The brokers a run's fleet is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Brokers {
    /// One mosquitto, with persistence on.
    #[default]
    Mosquitto,
    /// A cluster of [`CLUSTER_NODES`] rmqtt nodes (`tests/src/cluster.rs`); every
    /// service lists them all, starting with a different one.
    Cluster,
}

impl Brokers {
    /// The chaos command's argument that selects them (empty for mosquitto), for a
    /// replay line.
    pub fn replay_flag(self) -> &'static str {
        match self {
            Brokers::Mosquitto => "",
            Brokers::Cluster => " --cluster",
        }
    }
}

impl fmt::Display for Brokers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Brokers::Mosquitto => write!(f, "mosquitto"),
            Brokers::Cluster => write!(f, "a {CLUSTER_NODES}-node rmqtt cluster"),
        }
    }
}

/// How many nodes the cluster has.
pub const CLUSTER_NODES: usize = 3;

/// One fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// mosquitto stopped with SIGTERM (it saves its persistence file) and started again.
    BrokerRestart,
    /// mosquitto stopped (SIGSTOP) for longer than the keepalive, then continued.
    BrokerPause(Duration),
    /// Every connection of one service cut by its proxy.
    Cut(usize),
    /// One service's proxy forwards nothing for a while (connections stay open).
    BlackHole(usize, Duration),
    /// SIGKILL, then the service started again after a moment.
    Kill(usize, Duration),
    /// SIGTERM, the service's graceful stop awaited, then started again.
    Term(usize),
    /// A burst of tasks into the slow handler with retries.
    Burst(u32),
    /// A cluster node killed (SIGKILL), started again after a while, and waited for
    /// until the cluster routes again.
    NodeDeath(usize, Duration),
}

impl Fault {
    /// The kind's name, for the report.
    pub fn kind(&self) -> &'static str {
        match self {
            Fault::BrokerRestart => "broker restart",
            Fault::BrokerPause(_) => "broker pause",
            Fault::Cut(_) => "connection cut",
            Fault::BlackHole(..) => "black hole",
            Fault::Kill(..) => "SIGKILL",
            Fault::Term(_) => "SIGTERM",
            Fault::Burst(_) => "burst",
            Fault::NodeDeath(..) => "node death",
        }
    }

    /// The service it strikes, if one.
    pub fn service(&self) -> Option<usize> {
        match *self {
            Fault::Cut(s) | Fault::BlackHole(s, _) | Fault::Kill(s, _) | Fault::Term(s) => Some(s),
            Fault::BrokerRestart
            | Fault::BrokerPause(_)
            | Fault::Burst(_)
            | Fault::NodeDeath(..) => None,
        }
    }

    /// Whether it strikes every service at once (the broker, or a cluster node: the
    /// surviving nodes stall until the cluster routes again).
    pub fn is_broker(&self) -> bool {
        matches!(
            self,
            Fault::BrokerRestart | Fault::BrokerPause(_) | Fault::NodeDeath(..)
        )
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Fault::BrokerRestart => write!(f, "broker restart"),
            Fault::BrokerPause(d) => write!(f, "broker pause {d:?}"),
            Fault::Cut(s) => write!(f, "cut {}", SERVICES[s]),
            Fault::BlackHole(s, d) => write!(f, "black hole {} {d:?}", SERVICES[s]),
            Fault::Kill(s, d) => write!(f, "SIGKILL {} (restart after {d:?})", SERVICES[s]),
            Fault::Term(s) => write!(f, "SIGTERM {}", SERVICES[s]),
            Fault::Burst(n) => write!(f, "burst of {n} tasks"),
            Fault::NodeDeath(node, d) => {
                write!(f, "death of node {} (restart after {d:?})", node + 1)
            }
        }
    }
}

/// A fault and when it starts, from the start of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Planned {
    pub at: Duration,
    pub fault: Fault,
}

/// SplitMix64: small, fast and the same everywhere (the schedule must not change with
/// a dependency's version).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `low..high`.
    pub fn below(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }

    fn millis(&mut self, low: u64, high: u64) -> Duration {
        Duration::from_millis(self.below(low, high))
    }
}

/// How long after the last fault the run goes on without new ones (before the checks).
pub const CALM: Duration = Duration::from_secs(5);

/// The faults of a run of `duration` from `seed` on `brokers`, in order of their
/// start: one every 1.5 to 6 s, faults of different targets overlapping. On the
/// cluster, the broker's faults are node deaths (the mosquitto schedules of a seed do
/// not change with this mode).
pub fn schedule(
    seed: u64,
    duration: Duration,
    keepalive: Duration,
    brokers: Brokers,
) -> Vec<Planned> {
    let mut rng = Rng::new(seed);
    let mut planned = Vec::new();
    let mut at = rng.millis(2_000, 5_000);
    let end = duration.saturating_sub(CALM);
    while at < end {
        let service = rng.below(0, SERVICES.len() as u64) as usize;
        let fault = match (rng.below(0, 100), brokers) {
            (0..14, Brokers::Cluster) => Fault::NodeDeath(
                rng.below(0, CLUSTER_NODES as u64) as usize,
                rng.millis(500, 3_000),
            ),
            (0..8, Brokers::Mosquitto) => Fault::BrokerRestart,
            (8..14, Brokers::Mosquitto) => Fault::BrokerPause(keepalive * 2 + rng.millis(0, 1_000)),
            (14..34, _) => Fault::Cut(service),
            (34..50, _) => Fault::BlackHole(service, rng.millis(500, 4_000)),
            (50..70, _) => Fault::Kill(service, rng.millis(100, 2_000)),
            (70..85, _) => Fault::Term(service),
            _ => Fault::Burst(rng.below(100, 400) as u32),
        };
        planned.push(Planned { at, fault });
        at += rng.millis(1_500, 6_000);
    }
    planned
}

/// A duration as `90s`, `30m` or `1h` (at least 20 s: the fleet needs time to start).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let bad = || format!("--duration {raw:?} is not a duration like 90s, 30m or 1h");
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (number, unit) = raw.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "s" => number,
        "m" => number * 60,
        "h" => number * 3600,
        _ => return Err(bad()),
    };
    if seconds < 20 {
        return Err(format!("--duration {raw:?} is too short: at least 20s"));
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::{CI_DURATION, CI_RUNS, KEEPALIVE};

    #[test]
    fn the_ci_seeds_hold_every_kind_of_fault() {
        let kinds: std::collections::BTreeSet<&str> = CI_RUNS
            .iter()
            .flat_map(|&(seed, brokers)| schedule(seed, CI_DURATION, KEEPALIVE, brokers))
            .map(|planned| planned.fault.kind())
            .collect();
        let every = [
            Fault::BrokerRestart,
            Fault::BrokerPause(Duration::ZERO),
            Fault::Cut(0),
            Fault::BlackHole(0, Duration::ZERO),
            Fault::Kill(0, Duration::ZERO),
            Fault::Term(0),
            Fault::Burst(0),
            Fault::NodeDeath(0, Duration::ZERO),
        ];
        for fault in every {
            assert!(
                kinds.contains(fault.kind()),
                "no {} in {kinds:?}",
                fault.kind()
            );
        }
    }

    #[test]
    fn durations_read_as_documented() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        for bad in ["", "90", "s", "1.5h", "10s", "-1m"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_seed_gives_the_same_schedule_and_another_seed_another() {
        let run = Duration::from_secs(120);
        let keepalive = Duration::from_secs(2);
        let first = schedule(7, run, keepalive, Brokers::Mosquitto);
        assert_eq!(first, schedule(7, run, keepalive, Brokers::Mosquitto));
        assert_ne!(first, schedule(8, run, keepalive, Brokers::Mosquitto));
        assert!(first.len() > 10, "{first:?}");
        assert!(first.windows(2).all(|w| w[0].at < w[1].at));
        assert!(first.iter().all(|p| p.at < run - CALM));
    }

    #[test]
    fn on_the_cluster_the_broker_faults_are_node_deaths() {
        let run = Duration::from_secs(600);
        let keepalive = Duration::from_secs(2);
        let faults = schedule(7, run, keepalive, Brokers::Cluster);
        assert!(faults
            .iter()
            .all(|p| !matches!(p.fault, Fault::BrokerRestart | Fault::BrokerPause(_))));
        let deaths: Vec<usize> = faults
            .iter()
            .filter_map(|p| match p.fault {
                Fault::NodeDeath(node, _) => Some(node),
                _ => None,
            })
            .collect();
        assert!(deaths.len() > 5, "{faults:?}");
        assert!(deaths.iter().all(|&node| node < CLUSTER_NODES));
        assert!((0..CLUSTER_NODES).all(|node| deaths.contains(&node)));
        let mosquitto = schedule(7, run, keepalive, Brokers::Mosquitto);
        assert!(mosquitto.iter().any(|p| p.fault.is_broker()));
        assert!(mosquitto
            .iter()
            .all(|p| !matches!(p.fault, Fault::NodeDeath(..))));
    }
}
