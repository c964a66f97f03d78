//! The chaos run in CI: fixed seeds of 60 s each, two on mosquitto and one on the
//! 3-node rmqtt cluster (3 minutes of faults), every invariant checked. A failure
//! prints the seed, the fault schedule and the first violated invariant; replay it with
//! `cargo run -p tars-tests --bin chaos -- --seed N --duration 60s [--cluster] --keep
//! DIR` (see docs/reliability.md, "The chaos run").

use tars_tests::chaos::{check, run, Options, CI_DURATION as DURATION, CI_RUNS};
use tars_tests::init_tracing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_under_seeded_faults_keeps_every_invariant() {
    init_tracing();
    for (seed, brokers) in CI_RUNS {
        let options = Options {
            seed,
            duration: DURATION,
            brokers,
        };
        let (schedule, record) = run(options).await;
        let verdict = check::check(&record);
        println!("seed {seed} on {brokers}:\n{}", verdict.report);
        if let Some(violation) = verdict.violations.first() {
            let schedule: Vec<String> = schedule
                .iter()
                .map(|p| format!("  {:>7.1} s  {}", p.at.as_secs_f64(), p.fault))
                .collect();
            panic!(
                "seed {seed} on {brokers}: {}\ncounterexample: {}\nfault schedule:\n{}\nreplay: cargo run -p tars-tests --bin chaos -- --seed {seed} --duration {}s{} --keep /tmp/chaos",
                violation.invariant,
                violation.counterexample,
                schedule.join("\n"),
                DURATION.as_secs(),
                brokers.replay_flag()
            );
        }
    }
}
