//! `tars-bench`: tars against hand-written rumqttc, in one run, on brokers of its own.
//!
//! ```sh
//! cargo run --release -p tars-bench --example tars-bench                 # the full table (about 4 minutes)
//! cargo run --release -p tars-bench --example tars-bench -- --smoke      # a short run (CI)
//! cargo run --release -p tars-bench --example tars-bench -- --json out.json
//! cargo run --release -p tars-bench --example tars-bench -- budgets      # cost per message vs bench/budgets.json
//! ```
//!
//! See `docs/performance.md` for what each figure measures and the latest results.

mod alloc;
mod batching;
mod broker;
mod budgets;
mod cluster;
mod cost;
mod events;
mod inbound;
mod measure;
mod memory;
mod outbound;
mod outbox;
mod processes;
mod raw;
mod report;
mod roundtrip;
mod tally;
mod tars_side;

use std::path::PathBuf;
use std::process::ExitCode;

use rumqttc::QoS;

use broker::{Broker, BrokerKind};
use measure::{LatencySummary, ThroughputSummary};
use report::{BrokerReport, Report, Sizes};

#[global_allocator]
static ALLOCATOR: alloc::Counting = alloc::Counting;

const USAGE: &str = "\
usage: tars-bench [--smoke] [--runs N] [--broker mosquitto|embedded] [--no-cost] [--json FILE] [--strict]
       tars-bench budgets [--update] [--file FILE]
       tars-bench cluster [--jobs N]
       tars-bench batching [--runs N] [--messages N] [--seconds N]
       tars-bench outbox [--runs N] [--messages N]
       tars-bench aliases
       tars-bench processes [--runs N] [--messages N] [--metrics] [--only TEXT]
                            [--inflight N] [--publisher own|rumqttc|paho|all] [--perf DIR]
                            [--json FILE]

  (no command)  throughput, round trip and memory, raw rumqttc vs tars, then the cost
                per message (callgrind); prints one table
  --smoke       small counts and one run (a check that everything works, not a measurement)
  --runs N      runs per scenario, medians reported (default 5)
  --broker B    only this broker (default: mosquitto and embedded)
  --no-cost     skip the callgrind cost figures
  --json FILE   also write the results as JSON
  --strict      exit 1 when a target is missed
  budgets       instructions and allocations per message against bench/budgets.json;
                exit 1 when one is over budget (--update lowers the budgets to the
                measurement)
  batching      a handler appending to SQLite (WAL, synchronous = FULL) at QoS 1, per
                message against batch = 100 (20 ms), in a #[tars::service] process
                (sqlite-service; build it first: cargo build --release -p tars-bench
                --bins --examples): burst rate and CPU per message (default 50,000
                readings, a tenth per message), then p50/p99 from publish to commit
                at half each burst rate for --seconds (default 5); 3 runs
  outbox        QoS 1 publishes of a #[tars::service] process with the outbox in
                memory and durable (TARS_OUTBOX_DIR) under each fsync policy: the
                rate publish returned, the rate delivered, CPU and disk bytes per
                message (default 3 runs of 100,000; build the binaries first)
  aliases       the bytes MQTT 5 topic aliases save on the pipeline example's publishes
                (the lookup's CPU: cargo bench -p tars-bench --bench micro -- topic_alias)
  cluster       jobs per second through a share group of 1, 2 and 4 workers on a
                3-node rmqtt cluster (default 10,000 jobs; needs protoc to build
                the rmqtt node the first time)
  processes     inbound rate and CPU time per 100,000 messages of a real
                #[tars::service] process against a hand-written rumqttc consumer
                process, the burst from this one, as fast as it goes and paced at
                100,000/s (default: 5 runs of 200,000; build the binaries first:
                cargo build --release -p tars-bench --bins --examples); --metrics: the service
                serves its metrics endpoint (TARS_METRICS_ADDR) meanwhile; --only TEXT:
                the row labelled TEXT, or else the rows whose label contains it
                (e.g. \"inbound qos 1\");
                --inflight N: mosquitto's max_inflight_messages (default 20);
                --publisher P: who publishes the inbound bursts, comma-separated:
                own (this process, the default), rumqttc (a rumqttc process of its
                own), paho (paho-mqtt in Python, as py-tars publishes) or all;
                --perf DIR: record each inbound consumer with perf record -g and
                perf stat, and mosquitto with perf stat, into DIR per burst
                (scripts/profile-bursts.sh draws flame graphs)";

struct Options {
    sizes: Sizes,
    smoke: bool,
    brokers: Vec<BrokerKind>,
    cost: bool,
    json: Option<PathBuf>,
    strict: bool,
}

/// The value after an option such as `--runs`.
fn option_value(args: &mut std::slice::Iter<'_, String>, name: &str) -> Result<String, String> {
    args.next()
        .cloned()
        .ok_or_else(|| format!("{name} needs a value"))
}

/// `text` as a whole number of at least 1, or an error naming the option.
fn positive(name: &str, text: String) -> Result<u64, String> {
    text.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(format!("{name} takes a whole number of at least 1"))
}

fn cluster_command(args: &[String]) -> Result<ExitCode, String> {
    let mut jobs = 10_000;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--jobs" => {
                jobs = option_value(&mut args, "--jobs")?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("--jobs takes a whole number of at least 1")?
            }
            other => return Err(format!("unknown option {other:?} for `cluster`")),
        }
    }
    cluster::run(jobs)?;
    Ok(ExitCode::SUCCESS)
}

fn processes_command(args: &[String]) -> Result<ExitCode, String> {
    let mut options = processes::Options::default();
    let mut json = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| option_value(&mut args, name);
        let whole = |name: &str, text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{name} takes a whole number"))
        };
        match arg.as_str() {
            "--metrics" => options.metrics = true,
            "--runs" => options.runs = whole("--runs", value("--runs")?)? as usize,
            "--messages" => options.messages = whole("--messages", value("--messages")?)?,
            "--inflight" => options.inflight = Some(whole("--inflight", value("--inflight")?)?),
            "--only" => options.only = Some(value("--only")?),
            "--perf" => options.perf = Some(PathBuf::from(value("--perf")?)),
            "--publisher" => {
                let names = value("--publisher")?;
                options.publishers = if names == "all" {
                    processes::Publisher::ALL.to_vec()
                } else {
                    names
                        .split(',')
                        .map(processes::Publisher::parse)
                        .collect::<Result<_, _>>()?
                };
            }
            "--json" => json = Some(PathBuf::from(value("--json")?)),
            other => return Err(format!("unknown option {other:?} for `processes`")),
        }
    }
    if options.runs == 0 || options.messages == 0 {
        return Err("--runs and --messages must be at least 1".into());
    }
    let table = processes::run(&options)?;
    if let Some(path) = json {
        let text = serde_json::to_string_pretty(&table).map_err(|e| e.to_string())?;
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn batching_command(args: &[String]) -> Result<ExitCode, String> {
    let mut options = batching::Options {
        runs: 3,
        messages: 50_000,
        seconds: 5,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| option_value(&mut args, name);
        match arg.as_str() {
            "--runs" => options.runs = positive("--runs", value("--runs")?)? as usize,
            "--messages" => options.messages = positive("--messages", value("--messages")?)?,
            "--seconds" => options.seconds = positive("--seconds", value("--seconds")?)?,
            other => return Err(format!("unknown option {other:?} for `batching`")),
        }
    }
    batching::run(&options)?;
    Ok(ExitCode::SUCCESS)
}

fn outbox_command(args: &[String]) -> Result<ExitCode, String> {
    let mut options = outbox::Options {
        runs: 3,
        messages: 100_000,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| option_value(&mut args, name);
        match arg.as_str() {
            "--runs" => options.runs = positive("--runs", value("--runs")?)? as usize,
            "--messages" => options.messages = positive("--messages", value("--messages")?)?,
            other => return Err(format!("unknown option {other:?} for `outbox`")),
        }
    }
    outbox::run(&options)?;
    Ok(ExitCode::SUCCESS)
}

/// `tars-bench aliases`: the PUBLISH bytes of 1,000 turns of the pipeline example (an
/// `stt/final`, `llm/request`, `llm/response` and `tts/say` envelope each), in full and
/// by topic alias through mosquitto's 10.
fn aliases() {
    let turn = [
        (
            "stt/final",
            "stt.final",
            serde_json::json!({"text": "what is the weather like today", "confidence": 0.93}),
        ),
        (
            "llm/request",
            "llm.request",
            serde_json::json!({"prompt": "what is the weather like today"}),
        ),
        (
            "llm/response",
            "llm.response",
            serde_json::json!({"reply": "Sunny, 21 degrees, a light wind from the west."}),
        ),
        (
            "tts/say",
            "tts.say",
            serde_json::json!({"text": "Sunny, 21 degrees, a light wind from the west.", "voice": "tars"}),
        ),
    ];
    let mut publishes = Vec::new();
    for _ in 0..1000 {
        for (topic, event_type, data) in &turn {
            let payload =
                tars::bench::encode_envelope(&tars::new_id(), event_type, "pipeline", data)
                    .expect("encodes");
            publishes.push((*topic, bytes::Bytes::from(payload)));
        }
    }
    let full = tars::bench::v5_publish_bytes(&publishes, 0);
    let aliased = tars::bench::v5_publish_bytes(&publishes, 10);
    println!(
        "{} publishes: {full} bytes in full, {aliased} by alias: {} saved ({:.1}%, {:.1} bytes per publish)",
        publishes.len(),
        full - aliased,
        (full - aliased) as f64 * 100.0 / full as f64,
        (full - aliased) as f64 / publishes.len() as f64
    );
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("cost") => return cost_command(&args[1..]),
        Some("service") => return memory::serve(),
        Some("budgets") => budgets_command(&args[1..]),
        Some("processes") => processes_command(&args[1..]),
        Some("cluster") => cluster_command(&args[1..]),
        Some("batching") => batching_command(&args[1..]),
        Some("outbox") => outbox_command(&args[1..]),
        Some("aliases") => {
            aliases();
            return ExitCode::SUCCESS;
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => parse(&args).and_then(run),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        sizes: Sizes {
            runs: 5,
            inbound_qos0: 200_000,
            inbound_qos1: 100_000,
            outbound: 200_000,
            round_trips: 2_000,
            memory_burst: 200_000,
        },
        smoke: false,
        brokers: BrokerKind::ALL.to_vec(),
        cost: true,
        json: None,
        strict: false,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| option_value(&mut args, name);
        match arg.as_str() {
            "--smoke" => {
                options.smoke = true;
                options.sizes = Sizes {
                    runs: 1,
                    inbound_qos0: 2_000,
                    inbound_qos1: 1_000,
                    outbound: 2_000,
                    round_trips: 100,
                    memory_burst: 2_000,
                }
            }
            "--runs" => {
                let runs = value("--runs")?;
                options.sizes.runs = runs
                    .parse()
                    .ok()
                    .filter(|&n: &usize| n > 0)
                    .ok_or_else(|| format!("--runs {runs:?} is not a positive number"))?;
            }
            "--broker" => {
                let name = value("--broker")?;
                let kind = BrokerKind::parse(&name)
                    .ok_or_else(|| format!("--broker {name:?}: must be mosquitto or embedded"))?;
                options.brokers = vec![kind];
            }
            "--no-cost" => options.cost = false,
            "--json" => options.json = Some(PathBuf::from(value("--json")?)),
            "--strict" => options.strict = true,
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}

fn run(options: Options) -> Result<ExitCode, String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("could not start the runtime: {e}"))?;
    let mut brokers = Vec::new();
    for kind in &options.brokers {
        eprintln!("measuring against {kind}…");
        brokers.push(runtime.block_on(measure_broker(*kind, options.sizes))?);
    }
    drop(runtime);
    let cost = if options.cost {
        eprintln!("counting instructions per message with callgrind…");
        Some(budgets::measure()?)
    } else {
        None
    };
    let report = Report::new(options.sizes, brokers, cost, options.smoke);
    print!("{}", report.table());
    if let Some(file) = &options.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serializes");
        std::fs::write(file, json + "\n")
            .map_err(|e| format!("could not write {}: {e}", file.display()))?;
        eprintln!("wrote {}", file.display());
    }
    Ok(if options.strict && !report.missed.is_empty() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn measure_broker(kind: BrokerKind, sizes: Sizes) -> Result<BrokerReport, String> {
    let broker = Broker::start(kind)
        .await
        .map_err(|e| format!("could not start the {kind} broker: {e}"))?;
    let (url, port) = (broker.url(), broker.port());
    let qos0 = events::sample_payloads(sizes.inbound_qos0);
    let qos1 = events::sample_payloads(sizes.inbound_qos1);
    let outbound = events::sample_payloads(sizes.outbound);
    let (mut in0, mut in1, mut out, mut rtt) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for run in 1..=sizes.runs {
        let tars_first = run % 2 == 0;
        eprintln!("  run {run}/{}: inbound QoS 0", sizes.runs);
        in0.push(inbound::run_pair(&url, port, &qos0, QoS::AtMostOnce, tars_first).await);
        eprintln!("  run {run}/{}: inbound QoS 1", sizes.runs);
        in1.push(inbound::run_pair(&url, port, &qos1, QoS::AtLeastOnce, tars_first).await);
        eprintln!("  run {run}/{}: outbound", sizes.runs);
        out.push(outbound::run_pair(&url, port, &outbound, tars_first).await);
        eprintln!("  run {run}/{}: round trip", sizes.runs);
        rtt.push(roundtrip::run_pair(&url, port, sizes.round_trips).await);
    }
    eprintln!("  memory");
    let burst = events::sample_payloads(sizes.memory_burst);
    let memory = memory::run(&url, port, &burst).await;
    broker.stop().await;
    Ok(BrokerReport {
        broker: kind.name(),
        inbound_qos0: ThroughputSummary::of(&in0),
        inbound_qos1: ThroughputSummary::of(&in1),
        outbound: ThroughputSummary::of(&out),
        round_trip: LatencySummary::of(&rtt),
        memory: Some(memory),
    })
}

/// `cost PATH MESSAGES`: counts one path, prints the counts as JSON (run by `budgets`
/// under callgrind).
fn cost_command(args: &[String]) -> ExitCode {
    let path = args.first().and_then(|name| cost::CostPath::parse(name));
    let messages = args.get(1).and_then(|n| n.parse().ok());
    let (Some(path), Some(messages)) = (path, messages) else {
        eprintln!("usage: tars-bench cost inbound|outbound|user_decode|raw_decode MESSAGES");
        return ExitCode::from(2);
    };
    let counted = cost::run(path, messages);
    println!(
        "{}",
        serde_json::to_string(&counted).expect("counts serialize")
    );
    ExitCode::SUCCESS
}

fn budgets_command(args: &[String]) -> Result<ExitCode, String> {
    let mut update = false;
    let mut file = budgets::default_file();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--update" => update = true,
            "--file" => {
                file = PathBuf::from(args.next().ok_or("--file needs a value")?);
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    let budgets = budgets::load(&file)?;
    let measured = budgets::measure()?;
    println!(
        "cost per message (callgrind instructions, heap allocations) vs {}",
        file.display()
    );
    for (name, got) in &measured.paths {
        let budget = budgets
            .paths
            .get(*name)
            .map(|b| {
                format!(
                    "budget {:>8.0} instr {:>6.2} allocs",
                    b.instructions, b.allocations
                )
            })
            .unwrap_or_else(|| "(reference, no budget)".to_owned());
        println!(
            "  {name:<16} {:>8.0} instr {:>6.2} allocs   {budget}",
            got.instructions, got.allocations
        );
    }
    println!(
        "  framework inbound (inbound − user_decode): {:.0} instr {:.2} allocs, budget {:.2} allocs",
        measured.framework_inbound.instructions,
        measured.framework_inbound.allocations,
        budgets.framework_inbound_allocations
    );
    if update {
        let lowered = budgets::lowered(&measured, budgets.clone());
        budgets::save(&file, &lowered)?;
        println!(
            "budgets lowered where the measurement allows: {}",
            file.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let over = budgets::violations(&measured, &budgets);
    if over.is_empty() {
        println!("within budget");
        Ok(ExitCode::SUCCESS)
    } else {
        for line in &over {
            println!("OVER BUDGET: {line}");
        }
        Ok(ExitCode::FAILURE)
    }
}
