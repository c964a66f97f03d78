//! The `main` that `#[tars::service]` generates: logging, configuration, connection,
//! every registered handler, the service body, and graceful shutdown on SIGINT/SIGTERM;
//! or, given a flag, what the service is (`--help`, `--version`, `--check`,
//! `--asyncapi`) without connecting.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use crate::contract::manifest::ServiceManifest;

mod describe;
mod flags;
mod logging;

use crate::{registry, Client, Config, Context, EnvDefaults};
use flags::Invocation;
use logging::Telemetry;

/// Exit code for a configuration error.
pub const EXIT_CONFIG: u8 = 2;

/// Options of `#[tars::service(...)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServiceSpec {
    /// The client id used when `MQTT_CLIENT_ID` is unset.
    pub name: Option<&'static str>,
    /// The version of the service's crate.
    pub version: &'static str,
    /// `#[tars::service(worker_threads = N)]`: threads of the service's runtime
    /// (`TARS_WORKER_THREADS` overrides it; default [`crate::config::DEFAULT_WORKER_THREADS`]).
    pub worker_threads: Option<usize>,
    /// `drain_timeout = "30s"`: how long shutdown waits for busy handlers
    /// (`TARS_DRAIN_TIMEOUT` overrides it; default 5 s).
    pub drain_timeout: Option<Duration>,
    /// `request_timeout = "10s"`: how long a request waits for its reply
    /// (`TARS_REQUEST_TIMEOUT` overrides it; default 10 s).
    pub request_timeout: Option<Duration>,
    /// `queue = N`: each handler's queue capacity unless the handler sets its own.
    pub queue: Option<usize>,
    /// Whether the body of `main` is empty (then the service must have handlers).
    pub empty_body: bool,
    /// `allow_empty`: a service without handlers and with an empty body may run (it
    /// only publishes what its tasks publish, or only announces itself).
    pub allow_empty: bool,
    /// `state = build`: adds the handlers' shared state, built once per instance.
    pub state: Option<fn(crate::ClientBuilder) -> crate::ClientBuilder>,
}

impl ServiceSpec {
    /// The defaults of this service's configuration: health and heartbeat on, its name
    /// as client id, its tuning.
    fn env_defaults(&self) -> EnvDefaults {
        EnvDefaults {
            drain_timeout: self.drain_timeout,
            request_timeout: self.request_timeout,
            handler_queue_capacity: self.queue,
            worker_threads: self.worker_threads,
            ..EnvDefaults::service(self.name)
        }
    }

    /// A service with nothing to do is a mistake: no handler linked and an empty body.
    /// The usual cause is handlers declared in a library crate that the binary never
    /// references, so the linker dropped them with their registrations.
    fn check_not_empty(&self, handlers: usize) -> Result<(), String> {
        if handlers > 0 || !self.empty_body || self.allow_empty {
            return Ok(());
        }
        Err("this service has no handler and an empty body, so it would do nothing. \
             If its #[tars::handler]s are in a library crate, name the crate so that it is linked: \
             #[tars::service(handlers = [my_lib])] (a library nothing references is left out by the linker, \
             registrations and all). A service that only announces itself: #[tars::service(allow_empty)]"
            .to_owned())
    }
}

/// What a service body may return: `()` or `Result<(), E>` with `E: Display`.
#[diagnostic::on_unimplemented(
    message = "a `#[tars::service]` body cannot return `{Self}`",
    note = "return `()` or `tars::Result<()>` (any `Result<(), E>` with `E: Display`)"
)]
pub trait ServiceOutput {
    /// The body's outcome; an error shuts the service down with exit code 1.
    fn into_outcome(self) -> Result<(), String>;
}

impl ServiceOutput for () {
    fn into_outcome(self) -> Result<(), String> {
        Ok(())
    }
}

impl<E: Display> ServiceOutput for Result<(), E> {
    fn into_outcome(self) -> Result<(), String> {
        self.map_err(|e| e.to_string())
    }
}

/// Runs a service to completion and returns its exit code: 0 after a graceful
/// shutdown, 2 for a configuration error (one line on stderr naming the variable), 1 for
/// any other fatal error.
pub fn run_service<F, Fut>(spec: ServiceSpec, body: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
    Fut::Output: ServiceOutput,
{
    let invocation = match flags::parse(std::env::args().skip(1)) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match invocation {
        Invocation::Run => {}
        Invocation::Help => {
            print!("{}", describe::help(&spec));
            return ExitCode::SUCCESS;
        }
        Invocation::Version => {
            println!("{}", describe::version_line(&spec));
            return ExitCode::SUCCESS;
        }
        Invocation::Check => return check(spec),
        Invocation::AsyncApi => return print_asyncapi(spec),
    }
    if let Err(message) = spec.check_not_empty(registry::handlers().len()) {
        eprintln!("error: {message}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let (config, telemetry) = match load_environment(spec) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads())
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(config, spec, body));
    telemetry.shutdown();
    code
}

/// `--check`: the configuration as the service would run with it, or the first error.
fn check(spec: ServiceSpec) -> ExitCode {
    let checked = read_dotenv()
        .and_then(|()| Config::from_env_with(&spec.env_defaults()).map_err(|e| e.to_string()))
        .and_then(|config| {
            spec.check_not_empty(registry::handlers().len())?;
            let settings = describe::check_settings().map_err(|e| e.to_string())?;
            Ok((config, settings))
        });
    match checked {
        Ok((config, settings)) => {
            print!("{}", describe::check_report(&spec, &config));
            print!("{settings}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_CONFIG)
        }
    }
}

/// `--asyncapi`: the service's AsyncAPI document on stdout.
fn print_asyncapi(spec: ServiceSpec) -> ExitCode {
    let wanted = [
        "MQTT_URL",
        "MQTT_VERSION",
        "TARS_RETRIES",
        "TARS_BACKOFF",
        "TARS_DEAD_LETTER_TOPIC",
    ];
    let (config, set) = match crate::config::some_from_process(&wanted) {
        Ok(read) => read,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let info = crate::contract::asyncapi::ServiceInfo {
        failure_defaults: config.failure_policy().clone(),
        name: describe::service_name(&spec),
        version: spec.version.to_owned(),
        mqtt_version: config.mqtt_version(),
        // The first broker of a list.
        broker: set.contains(&"MQTT_URL").then(|| config.broker().clone()),
    };
    let document = crate::contract::asyncapi::document(&info);
    println!(
        "{}",
        serde_json::to_string_pretty(&document).unwrap_or_default()
    );
    ExitCode::SUCCESS
}

/// Reads `.env` in the working directory, when there is one, into the environment
/// (variables already set win).
fn read_dotenv() -> Result<(), String> {
    match dotenvy::dotenv() {
        Ok(_) => Ok(()),
        Err(error) if error.not_found() => Ok(()),
        Err(error) => Err(format!("could not read .env: {error}")),
    }
}

/// `.env`, configuration, then logging (and trace export); an error is the one line
/// to print.
fn load_environment(spec: ServiceSpec) -> Result<(Config, Telemetry), String> {
    read_dotenv()?;
    let config = Config::from_env_with(&spec.env_defaults()).map_err(|e| e.to_string())?;
    let telemetry = logging::init_logging(&config)?;
    Ok((config, telemetry))
}

async fn serve<F, Fut>(config: Config, spec: ServiceSpec, body: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
    Fut::Output: ServiceOutput,
{
    let handlers = registry::handlers().len();
    let manifest = ServiceManifest::from_registry_with(
        config.client_id(),
        spec.version,
        config.failure_policy(),
    )
    .with_mqtt_version(config.mqtt_version())
    .with_metrics_addr(config.metrics_addr());
    let mut builder = Client::builder(config)
        .with_registered_handlers()
        .announce(manifest);
    if let Some(add_state) = spec.state {
        builder = add_state(builder);
    }
    // The service's own settings, each built once and handed to handlers as state.
    for settings in crate::api::settings::registered() {
        builder = match (settings.provide)(builder) {
            Ok(builder) => builder,
            Err(error) => {
                eprintln!("error: {error}");
                return ExitCode::from(EXIT_CONFIG);
            }
        };
    }
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let client = tokio::select! {
        connected = builder.connect() => match connected {
            Ok(client) => client,
            Err(error @ (crate::Error::MissingState { .. } | crate::Error::Config(_))) => {
                tracing::error!(%error, "could not start the service");
                return ExitCode::from(EXIT_CONFIG);
            }
            Err(error) => {
                tracing::error!(%error, "could not start the service");
                return ExitCode::FAILURE;
            }
        },
        signal = &mut shutdown => {
            tracing::info!(signal, "stopping before the service was connected");
            return ExitCode::SUCCESS;
        }
    };
    tracing::info!(handlers, "service ready");
    let run = body(Context::new(client.clone()));
    let failure = tokio::select! {
        outcome = run => match outcome.into_outcome() {
            Ok(()) => {
                let signal = (&mut shutdown).await;
                tracing::info!(signal, "shutting down");
                None
            }
            Err(error) => Some(error),
        },
        signal = &mut shutdown => {
            tracing::info!(signal, "shutting down");
            None
        }
    };
    if let Some(error) = &failure {
        tracing::error!(%error, "the service body failed; shutting down");
    }
    if let Err(error) = client.shutdown().await {
        tracing::error!(%error, "shutdown failed");
        return ExitCode::FAILURE;
    }
    if failure.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// Resolves with the name of the first SIGINT or SIGTERM.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => tokio::select! {
                _ = tokio::signal::ctrl_c() => "SIGINT",
                _ = terminate.recv() => "SIGTERM",
            },
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the service");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}
