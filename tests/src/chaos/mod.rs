//! The chaos run: a fleet of service processes on mosquitto or on a 3-node rmqtt
//! cluster, each through fault proxies of its own, under faults drawn from a seed
//! (broker restarts and pauses or node deaths, cuts, black holes, kills, graceful
//! stops, bursts), then a checker that reads what every process
//! printed and what the broker delivered, and states each invariant with its
//! counterexample. `cargo run -p tars-tests --bin chaos -- --seed N --duration 90s`
//! replays a run (`--cluster` on the cluster); `tests/tests/chaos.rs` runs fixed seeds in CI. See
//! `docs/reliability.md` ("The chaos run").

pub mod check;
pub mod events;
mod fleet;
pub mod plan;
pub mod record;
pub mod sessions;

use std::time::Duration;

pub use fleet::run;
pub use plan::Brokers;

/// The numbers of one incarnation of a publishing process start at its incarnation
/// times this, so that a restarted process never reuses one.
pub const INCARNATION_SPAN: u64 = 1_000_000_000;

/// The numbers of the tasks the burst fault publishes start here.
pub const BURST_BASE: u64 = 1_000_000 * INCARNATION_SPAN;

/// A whole number from the environment, `default` when unset or not a number.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What a run is asked to do.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The fault schedule's seed.
    pub seed: u64,
    /// How long faults are injected (the checks follow).
    pub duration: Duration,
    /// The brokers the fleet is on.
    pub brokers: Brokers,
}

/// The runs CI makes (`tests/tests/chaos.rs`), [`CI_DURATION`] each: two on mosquitto
/// and one on the cluster, together holding every kind of fault, node deaths included
/// (a unit test checks it).
pub const CI_RUNS: [(u64, Brokers); 3] = [
    (2, Brokers::Mosquitto),
    (11, Brokers::Mosquitto),
    (12, Brokers::Cluster),
];
/// How long CI runs each seed (3 minutes of faults in all).
pub const CI_DURATION: Duration = Duration::from_secs(60);

/// The services' keepalive and heartbeat interval in the run.
pub const KEEPALIVE: Duration = Duration::from_secs(2);
/// The heartbeat interval of every service.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// The most resident memory a service process may reach.
pub const MEMORY_BOUND_KIB: u64 = 96 * 1024;
