//! What a service binary prints about itself: `--help` (its handlers, events and
//! variables), `--version` and `--check` (its configuration, validated and masked).

use std::borrow::Cow;
use std::fmt::Write;

use super::ServiceSpec;
use crate::config::{config_variables, effective_value, Variable};
use crate::contract::manifest::ServiceManifest;
use crate::Config;

/// The service's name: its `#[tars::service(name)]`, else the program's file name.
pub(super) fn service_name(spec: &ServiceSpec) -> String {
    spec.name.map(str::to_owned).unwrap_or_else(|| {
        std::env::args()
            .next()
            .as_deref()
            .and_then(|path| std::path::Path::new(path).file_name())
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_else(|| "tars-service".to_owned())
    })
}

/// `--version`.
pub(super) fn version_line(spec: &ServiceSpec) -> String {
    format!("{} {}", service_name(spec), spec.version)
}

/// A variable a service reads, with the service's own default.
pub(super) struct ServiceVariable {
    pub(super) name: &'static str,
    pub(super) default: Cow<'static, str>,
    pub(super) meaning: &'static str,
}

impl From<Variable> for ServiceVariable {
    fn from(v: Variable) -> Self {
        Self {
            name: v.name,
            default: Cow::Borrowed(v.default),
            meaning: v.meaning,
        }
    }
}

/// The variables a service reads, with the service's own defaults.
pub(super) fn service_variables(spec: &ServiceSpec) -> Vec<ServiceVariable> {
    let mut variables: Vec<ServiceVariable> = config_variables()
        .iter()
        .map(|v| {
            let mut variable = ServiceVariable::from(*v);
            match v.name {
                "MQTT_CLIENT_ID" => {
                    variable.default = Cow::Borrowed(spec.name.unwrap_or("required"))
                }
                "MQTT_ENABLE_HEALTH" | "MQTT_ENABLE_HEARTBEAT" => {
                    variable.default = Cow::Borrowed("true")
                }
                "TARS_DRAIN_TIMEOUT" => {
                    if let Some(d) = spec.drain_timeout {
                        variable.default = Cow::Owned(format!("{d:?}"));
                    }
                }
                "TARS_REQUEST_TIMEOUT" => {
                    if let Some(d) = spec.request_timeout {
                        variable.default = Cow::Owned(format!("{d:?}"));
                    }
                }
                "TARS_WORKER_THREADS" => {
                    if let Some(n) = spec.worker_threads {
                        variable.default = Cow::Owned(n.to_string());
                    }
                }
                _ => {}
            }
            variable
        })
        .collect();
    variables.extend(
        super::logging::ecosystem_variables()
            .into_iter()
            .map(ServiceVariable::from),
    );
    variables
}

/// `--help`.
pub(super) fn help(spec: &ServiceSpec) -> String {
    let name = service_name(spec);
    let manifest = ServiceManifest::from_registry(&name, spec.version);
    let mut out = String::new();
    let _ = writeln!(out, "{name} {}: a tars-mqtt service\n", spec.version);
    let _ = writeln!(
        out,
        "Usage: {name} [--help | --version | --check | --asyncapi]\n\n\
         Without an argument it connects to MQTT_URL and handles messages until SIGINT or\n\
         SIGTERM. It is configured by its environment (and a .env file in the working\n\
         directory); none of the flags connects to a broker.\n\n\
         Flags:\n  \
         -h, --help      this text\n  \
         -V, --version   the name and version\n      \
         --check     validate the configuration and print it (passwords masked);\n                  \
         exit 0, or 2 with the bad variable named\n      \
         --asyncapi  print the AsyncAPI 3.0 document of this service\n"
    );
    let _ = writeln!(out, "Handlers:");
    if manifest.handlers.is_empty() {
        let _ = writeln!(out, "  (none linked into this binary)");
    }
    for handler in &manifest.handlers {
        let mut line = format!(
            "  {:<20} {:<28} qos {}",
            handler.name,
            handler.subscription(),
            handler.qos
        );
        if let Some(event_type) = &handler.event_type {
            let _ = write!(line, "  takes {event_type}");
        }
        if let Some(batch) = &handler.batch {
            let _ = write!(
                line,
                "  in batches of {} ({} ms)",
                batch.size, batch.window_ms
            );
        }
        if let Some(reply) = &handler.reply {
            let _ = write!(line, "  replies {} on {}", reply.event_type, reply.topic);
        }
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "\nEvents:");
    if manifest.events.is_empty() {
        let _ = writeln!(out, "  (none linked into this binary)");
    }
    for event in &manifest.events {
        let retained = if event.retain { ", retained" } else { "" };
        let _ = writeln!(
            out,
            "  {:<20} {:<20} on {} (qos {}{retained})",
            event.event_type, event.type_name, event.topic, event.qos
        );
    }
    let _ = writeln!(out, "\nEnvironment (default in brackets):");
    for variable in service_variables(spec) {
        let _ = writeln!(
            out,
            "  {:<26} {} [{}]",
            variable.name, variable.meaning, variable.default
        );
    }
    for settings in crate::api::settings::registered() {
        let _ = writeln!(
            out,
            "\nSettings of {} (default in brackets):",
            settings.type_name
        );
        for variable in settings.variables {
            let _ = writeln!(
                out,
                "  {:<26} {} [{}]",
                variable.name, variable.meaning, variable.default
            );
        }
    }
    out
}

/// `--check` of the service's own settings: their effective values (secrets masked),
/// or the first bad variable.
pub(super) fn check_settings() -> Result<String, crate::ConfigError> {
    let lookup = |name: &str| std::env::var(name).ok();
    let mut out = String::new();
    for settings in crate::api::settings::registered() {
        let _ = writeln!(out, "Settings of {}:", settings.type_name);
        for (name, value) in (settings.check)(&lookup)? {
            let _ = writeln!(out, "  {name:<26} {value}");
        }
    }
    Ok(out)
}

/// `--check`: every variable with its effective value, passwords masked.
pub(super) fn check_report(spec: &ServiceSpec, config: &Config) -> String {
    let mut out = format!(
        "{}: the configuration is valid (nothing was connected)\n",
        version_line(spec)
    );
    for variable in config_variables() {
        if let Some(value) = effective_value(config, variable.name) {
            let _ = writeln!(out, "  {:<26} {value}", variable.name);
        }
    }
    for variable in super::logging::ecosystem_variables() {
        let value = super::logging::ecosystem_value(&variable);
        let _ = writeln!(out, "  {:<26} {value}", variable.name);
    }
    out
}
