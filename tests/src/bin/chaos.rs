//! The chaos run from the command line:
//!
//! ```text
//! cargo run -p tars-tests --bin chaos -- [--seed N] [--duration 90s|30m|1h] [--cluster] [--keep DIR]
//! ```
//!
//! Prints the seed first (a new one from the clock unless given), runs the fleet under
//! the seed's faults for the duration, checks the invariants and prints the report.
//! Exits 1 with the seed, the fault schedule and the first violated invariant when one
//! is broken; 2 on bad arguments.

use std::process::ExitCode;
use std::time::Duration;

use tars_tests::chaos::{check, plan, Brokers, Options};

const USAGE: &str = "usage: chaos [--seed N] [--duration D] [--cluster] [--keep DIR]
  --duration D  how long faults are injected: 90s, 30m, 1h (default 3m)
  --cluster     run the fleet on a 3-node rmqtt cluster (node deaths for broker faults)
  --keep DIR    write every process's output and what the observer saw into DIR";

fn main() -> ExitCode {
    let (options, keep) = match parse(std::env::args().skip(1)) {
        Ok(parsed) => parsed,
        Err(message) => {
            eprintln!("error: {message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    println!(
        "chaos run: seed {} for {:?} on {} (replay: --seed {} --duration {}s{})",
        options.seed,
        options.duration,
        options.brokers,
        options.seed,
        options.duration.as_secs(),
        options.brokers.replay_flag()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let (schedule, record) = runtime.block_on(tars_tests::chaos::run(options));
    if let Some(dir) = &keep {
        if let Err(error) = tars_tests::chaos::record::keep(&record, dir) {
            eprintln!(
                "error: could not keep the run's records in {}: {error}",
                dir.display()
            );
        }
    }
    let verdict = check::check(&record);
    print!("{}", verdict.report);
    match verdict.violations.first() {
        None => {
            println!("every invariant held (seed {})", options.seed);
            ExitCode::SUCCESS
        }
        Some(violation) => {
            println!("\nFAILED: seed {}", options.seed);
            println!("fault schedule:");
            for planned in &schedule {
                println!("  {:>7.1} s  {}", planned.at.as_secs_f64(), planned.fault);
            }
            println!("first violated invariant: {}", violation.invariant);
            println!("counterexample: {}", violation.counterexample);
            for other in &verdict.violations[1..] {
                println!(
                    "also violated: {}: {}",
                    other.invariant, other.counterexample
                );
            }
            ExitCode::FAILURE
        }
    }
}

fn parse(
    mut args: impl Iterator<Item = String>,
) -> Result<(Options, Option<std::path::PathBuf>), String> {
    let mut keep = None;
    let mut options = Options {
        seed: tars_tests::chaos::events::now_ms(),
        duration: Duration::from_secs(180),
        brokers: Brokers::Mosquitto,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--seed" => {
                let raw = value("--seed")?;
                options.seed = raw
                    .parse()
                    .map_err(|_| format!("--seed {raw:?} is not a whole number"))?;
            }
            "--duration" => options.duration = plan::parse_duration(&value("--duration")?)?,
            "--keep" => keep = Some(value("--keep")?.into()),
            "--cluster" => options.brokers = Brokers::Cluster,
            "-h" | "--help" => {
                return Err("help".to_owned()).or_else(|_| {
                    println!("{USAGE}");
                    std::process::exit(0)
                })
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok((options, keep))
}
