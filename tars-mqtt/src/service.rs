//! The `main` that `#[tars::service]` generates: logging, configuration, connection,
//! every registered handler, the service body, and graceful shutdown on SIGINT/SIGTERM.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use crate::manifest::ServiceManifest;
use crate::{registry, Client, Config, Context, EnvDefaults};

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
    /// (`TARS_WORKER_THREADS` overrides it; default 1).
    pub worker_threads: Option<usize>,
}

/// Threads of a service's runtime unless it says otherwise: one. The connection, the
/// dispatcher and the handlers then run on one worker thread, so a message goes from
/// the socket to its handler without waking another thread (measured in
/// `docs/performance.md`: on par with a hand-written consumer, where a runtime per core
/// cost 1.3 times its CPU time at QoS 1). It is still a multi-thread runtime, so
/// `tokio::task::block_in_place` and `spawn_blocking` work; a service whose handlers
/// compute in parallel asks for more (`worker_threads = N` or `TARS_WORKER_THREADS`).
pub const DEFAULT_WORKER_THREADS: usize = 1;

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
    if std::env::args().skip(1).any(|arg| arg == "--asyncapi") {
        let mqtt_version = match std::env::var("MQTT_VERSION") {
            Ok(raw) if !raw.trim().is_empty() => match raw.parse() {
                Ok(version) => version,
                Err(rule) => {
                    eprintln!("error: MQTT_VERSION={raw:?} is invalid: {rule}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            },
            _ => crate::MqttVersion::default(),
        };
        let info = crate::asyncapi::ServiceInfo {
            name: spec.name.unwrap_or("tars-service").to_owned(),
            version: spec.version.to_owned(),
            mqtt_version,
            broker: std::env::var("MQTT_URL")
                .ok()
                .and_then(|url| url.parse().ok()),
        };
        let document = crate::asyncapi::document(&info);
        println!(
            "{}",
            serde_json::to_string_pretty(&document).unwrap_or_default()
        );
        return ExitCode::SUCCESS;
    }
    let (config, telemetry) = match load_environment(spec) {
        Ok(loaded) => loaded,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let threads = match worker_threads(spec) {
        Ok(threads) => threads,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(serve(config, spec.version, body));
    telemetry.shutdown();
    code
}

/// `TARS_WORKER_THREADS`, else the service's `worker_threads`, else the default.
fn worker_threads(spec: ServiceSpec) -> Result<usize, String> {
    match std::env::var("TARS_WORKER_THREADS") {
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                format!("TARS_WORKER_THREADS={value:?} is invalid: must be a whole number of at least 1")
            }),
        Err(_) => Ok(spec.worker_threads.unwrap_or(DEFAULT_WORKER_THREADS)),
    }
}

/// `.env`, configuration, then logging (and trace export); an error is the one line
/// to print.
fn load_environment(spec: ServiceSpec) -> Result<(Config, Telemetry), String> {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(error) if error.not_found() => {}
        Err(error) => return Err(format!("could not read .env: {error}")),
    }
    let config =
        Config::from_env_with(&EnvDefaults::service(spec.name)).map_err(|e| e.to_string())?;
    let telemetry = init_logging(&config)?;
    Ok((config, telemetry))
}

/// What logging set up that must be flushed at exit: the OpenTelemetry exporter, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (feature `otel`).
#[derive(Debug, Default)]
struct Telemetry {
    #[cfg(feature = "otel")]
    export: Option<crate::otel::Export>,
}

impl Telemetry {
    fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(export) = self.export {
            export.shutdown();
        }
    }
}

/// `RUST_LOG` (default `info`); `TARS_LOG_FORMAT=json` for JSON lines; with the `otel`
/// feature and `OTEL_EXPORTER_OTLP_ENDPOINT`, message spans exported as well.
fn init_logging(config: &Config) -> Result<Telemetry, String> {
    use tracing_subscriber::EnvFilter;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let format = std::env::var("TARS_LOG_FORMAT").unwrap_or_default();
    let json = match format.trim().to_ascii_lowercase().as_str() {
        "" | "text" => false,
        "json" => true,
        _ => {
            return Err(format!(
                "TARS_LOG_FORMAT={format:?} is invalid: must be `text` or `json`"
            ))
        }
    };
    #[cfg(feature = "otel")]
    if let Some(export) = crate::otel::Export::from_env(config.source_name())? {
        install_with_export(filter, json, &export);
        return Ok(Telemetry {
            export: Some(export),
        });
    }
    let _ = config;
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already installed (e.g. by a test harness): keep that one.
    drop(installed);
    Ok(Telemetry::default())
}

/// Logging as without export (filtered by `RUST_LOG`), beside the exporter's layer,
/// which sees the message spans whatever the log level.
#[cfg(feature = "otel")]
fn install_with_export(
    filter: tracing_subscriber::EnvFilter,
    json: bool,
    export: &crate::otel::Export,
) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;

    let logs = if json {
        tracing_subscriber::fmt::layer()
            .json()
            .with_filter(filter)
            .boxed()
    } else {
        tracing_subscriber::fmt::layer().with_filter(filter).boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(export.layer())
        .try_init();
    drop(installed);
}

async fn serve<F, Fut>(config: Config, version: &str, body: F) -> ExitCode
where
    F: FnOnce(Context) -> Fut,
    Fut: Future,
    Fut::Output: ServiceOutput,
{
    let handlers = registry::handlers().len();
    let manifest = ServiceManifest::from_registry(config.client_id(), version);
    let builder = Client::builder(config)
        .with_registered_handlers()
        .announce(manifest);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let client = tokio::select! {
        connected = builder.connect() => match connected {
            Ok(client) => client,
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
