//! `tars`: what is on an MQTT bus of tars and Python services, and tools to talk to it.
//!
//! Every command reads the broker from `--url` or `MQTT_URL` (the library's URL rules;
//! passwords are masked in every message). Exit codes: 0 on success, 2 for bad input
//! (with what is wrong), 1 when the broker cannot be reached or a request gets no reply.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

mod bus;
mod dashboard;
mod fleet;
mod publish;
mod services;
mod tail;
mod topology;

/// What a command ends with when it fails.
#[derive(Debug)]
pub enum Failure {
    /// Bad input: exit 2.
    Input(String),
    /// The broker, a reply or the machine failed: exit 1.
    Runtime(String),
}

impl Failure {
    fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Input(_) => ExitCode::from(2),
            Failure::Runtime(_) => ExitCode::FAILURE,
        }
    }

    fn message(&self) -> &str {
        match self {
            Failure::Input(message) | Failure::Runtime(message) => message,
        }
    }
}

/// The services on an MQTT bus, live messages, publishing and requests, the fleet's
/// AsyncAPI document and topology, and a live dashboard.
#[derive(Debug, Parser)]
#[command(name = "tars", version, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    broker: bus::BrokerArgs,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every service on the bus: health, heartbeat age, version and handlers.
    Services(ServicesArgs),
    /// Live messages on one or more topic filters.
    Tail(TailArgs),
    /// Publishes one event in a valid envelope.
    Pub(PubArgs),
    /// Publishes a request and prints the correlated reply.
    Request(RequestArgs),
    /// One AsyncAPI 3.0 document for the whole fleet, merged from the manifests.
    Asyncapi(CollectArgs),
    /// Which service subscribes what, and which events flow between services.
    Graph(GraphArgs),
    /// A live web page: services, topology and messages.
    Dashboard(DashboardArgs),
}

/// How long to collect retained state before answering.
#[derive(Debug, Args)]
struct CollectArgs {
    /// How long to listen for retained health and manifests (e.g. 500ms, 2s).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    wait: Duration,
}

#[derive(Debug, Args)]
struct ServicesArgs {
    /// One JSON object per service, as a JSON array.
    #[arg(long)]
    json: bool,
    /// Keep watching and redraw the table as things change (Ctrl-C ends it).
    #[arg(long)]
    watch: bool,
    #[command(flatten)]
    collect: CollectArgs,
}

#[derive(Debug, Args)]
struct TailArgs {
    /// Topic filters to follow (MQTT wildcards + and # allowed).
    #[arg(required = true, value_name = "FILTER")]
    filters: Vec<String>,
    /// One JSON object per message.
    #[arg(long)]
    json: bool,
    /// Stop after this many messages.
    #[arg(long, value_name = "N")]
    count: Option<u64>,
}

#[derive(Debug, Args)]
struct PubArgs {
    /// The topic to publish on.
    topic: String,
    #[command(flatten)]
    event: publish::EventArgs,
    /// Retain the message on the broker.
    #[arg(long)]
    retain: bool,
}

#[derive(Debug, Args)]
struct RequestArgs {
    /// The topic of the request.
    topic: String,
    #[command(flatten)]
    event: publish::EventArgs,
    /// The topic the reply comes on (3.1.1 and Python responders); under MQTT 5 the
    /// request also names a private response topic.
    #[arg(long, value_name = "TOPIC")]
    reply_topic: String,
    /// The reply's envelope type, when only that type should count.
    #[arg(long, value_name = "T")]
    reply_type: Option<String>,
    /// How long to wait for the reply.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    timeout: Duration,
    /// Print the whole reply envelope as JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum GraphFormat {
    Mermaid,
    Dot,
    Json,
}

#[derive(Debug, Args)]
struct GraphArgs {
    /// The output format.
    #[arg(long, value_enum, default_value = "mermaid")]
    format: GraphFormat,
    #[command(flatten)]
    collect: CollectArgs,
}

#[derive(Debug, Args)]
struct DashboardArgs {
    /// Where to serve the page.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: std::net::SocketAddr,
}

/// "250ms", "2s", "1.5s", "1m", or plain seconds.
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; write it like 500ms, 5s or 1m"))?;
    let seconds = match unit {
        "ms" => value / 1_000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{text:?} must be a positive duration"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {}", failure.message());
            failure.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let broker = cli.broker.resolve()?;
    match cli.command {
        Command::Services(args) => {
            services::run(&broker, args.json, args.watch, args.collect.wait).await
        }
        Command::Tail(args) => tail::run(&broker, &args.filters, args.json, args.count).await,
        Command::Pub(args) => {
            let event = args.event.validate()?;
            publish::publish(&broker, &args.topic, &event, args.retain).await
        }
        Command::Request(args) => {
            let event = args.event.validate()?;
            let request = publish::Request {
                topic: &args.topic,
                event: &event,
                reply_topic: &args.reply_topic,
                reply_type: args.reply_type.as_deref(),
                timeout: args.timeout,
            };
            publish::request(&broker, request, args.json).await
        }
        Command::Asyncapi(args) => {
            let fleet = fleet::collect(&broker, args.wait).await?;
            let document =
                tars::asyncapi::fleet_document(&broker.asyncapi_info(), &fleet.manifests());
            println!(
                "{}",
                serde_json::to_string_pretty(&document).unwrap_or_default()
            );
            Ok(())
        }
        Command::Graph(args) => {
            let fleet = fleet::collect(&broker, args.collect.wait).await?;
            let graph = topology::Graph::of(&fleet);
            let text = match args.format {
                GraphFormat::Mermaid => graph.mermaid(),
                GraphFormat::Dot => graph.dot(),
                GraphFormat::Json => serde_json::to_string_pretty(&graph).unwrap_or_default(),
            };
            println!("{text}");
            Ok(())
        }
        Command::Dashboard(args) => dashboard::serve(&broker, args.listen).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
