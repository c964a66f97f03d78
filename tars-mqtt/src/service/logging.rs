//! Logging and trace export of a service: `RUST_LOG`, `TARS_LOG_FORMAT` and, with the
//! `otel` feature, OpenTelemetry.

use crate::Config;

/// `TARS_LOG_FORMAT`: whether logs are JSON lines (`json`) or text (`text`, unset).
pub(super) fn json_logs() -> Result<bool, String> {
    let format = std::env::var("TARS_LOG_FORMAT").unwrap_or_default();
    match format.trim().to_ascii_lowercase().as_str() {
        "" | "text" => Ok(false),
        "json" => Ok(true),
        _ => Err(format!(
            "TARS_LOG_FORMAT={format:?} is invalid: must be `text` or `json`"
        )),
    }
}

/// What logging set up that must be flushed at exit: the OpenTelemetry exporter, when
/// `OTEL_EXPORTER_OTLP_ENDPOINT` is set (feature `otel`).
#[derive(Debug, Default)]
pub(super) struct Telemetry {
    #[cfg(feature = "otel")]
    export: Option<crate::telemetry::otel::Export>,
}

impl Telemetry {
    pub(super) fn shutdown(self) {
        #[cfg(feature = "otel")]
        if let Some(export) = self.export {
            export.shutdown();
        }
    }
}

/// `RUST_LOG` (default `info`); `TARS_LOG_FORMAT=json` for JSON lines; with the `otel`
/// feature and `OTEL_EXPORTER_OTLP_ENDPOINT`, message spans exported as well.
pub(super) fn init_logging(config: &Config) -> Result<Telemetry, String> {
    use tracing_subscriber::EnvFilter;

    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = json_logs()?;
    #[cfg(feature = "otel")]
    if let Some(export) = crate::telemetry::otel::Export::from_env(config.source_name())? {
        install_with_export(filter, json, &export);
        return Ok(Telemetry {
            export: Some(export),
        });
    }
    let _ = config;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colours());
    let installed = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    // Already installed (e.g. by a test harness): keep that one.
    drop(installed);
    Ok(Telemetry::default())
}

/// Colour codes only for a person at a terminal: not when the logs go to a file or a
/// pipe, nor when `NO_COLOR` is set (<https://no-color.org>).
fn colours() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Logging as without export (filtered by `RUST_LOG`), beside the exporter's layer,
/// which sees the message spans whatever the log level.
#[cfg(feature = "otel")]
fn install_with_export(
    filter: tracing_subscriber::EnvFilter,
    json: bool,
    export: &crate::telemetry::otel::Export,
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
        tracing_subscriber::fmt::layer()
            .with_ansi(colours())
            .with_filter(filter)
            .boxed()
    };
    let installed = tracing_subscriber::registry()
        .with(logs)
        .with(export.layer())
        .try_init();
    drop(installed);
}
