//! Logging and trace export of a service: `RUST_LOG`, `TARS_LOG_FORMAT` and, with the
//! `otel` feature, OpenTelemetry.

use crate::config::{LogFormat, Variable};
use crate::Config;

/// The variables of the logging and trace libraries that a service reads besides its
/// configuration, under the names those libraries give them, as `--help` lists them.
pub(super) fn ecosystem_variables() -> Vec<Variable> {
    #[cfg_attr(not(feature = "otel"), allow(unused_mut))]
    let mut variables = vec![Variable {
        name: "RUST_LOG",
        default: "info",
        meaning: "log filter, e.g. info,tars::message=debug",
    }];
    #[cfg(feature = "otel")]
    variables.extend([
        Variable {
            name: crate::telemetry::otel::ENDPOINT_VARIABLE,
            default: "unset (off)",
            meaning: "OTLP/HTTP collector to export message spans to",
        },
        Variable {
            name: crate::telemetry::otel::SERVICE_NAME_VARIABLE,
            default: "the source name",
            meaning: "the service name on exported spans",
        },
    ]);
    variables
}

/// The value of one of [`ecosystem_variables`] as `--check` prints it: set (a URL's
/// password masked), else its default.
pub(super) fn ecosystem_value(variable: &Variable) -> String {
    std::env::var(variable.name)
        .ok()
        .filter(|v| !v.trim().is_empty())
        .map(|v| crate::config::redact_url(&v))
        .unwrap_or_else(|| variable.default.to_owned())
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
    let json = config.log_format() == LogFormat::Json;
    #[cfg(feature = "otel")]
    if let Some(export) = crate::telemetry::otel::Export::from_env(config.source_name())? {
        install_with_export(filter, json, &export);
        return Ok(Telemetry {
            export: Some(export),
        });
    }
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
