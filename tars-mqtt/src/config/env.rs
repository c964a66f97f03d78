//! Reading the `MQTT_*` environment variables.

use std::time::Duration;

use super::variables::TABLE;
use super::{Config, ConfigError};

/// Defaults applied where a variable is unset. A plain [`Client`](crate::Client) uses
/// [`EnvDefaults::client`] (like the Python client); `#[tars::service]` uses
/// [`EnvDefaults::service`] (health and heartbeat on, its `name` as client id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnvDefaults {
    /// Client id used when `MQTT_CLIENT_ID` is unset.
    pub client_id: Option<String>,
    /// `MQTT_ENABLE_HEALTH` when unset.
    pub enable_health: bool,
    /// `MQTT_ENABLE_HEARTBEAT` when unset.
    pub enable_heartbeat: bool,
    /// `TARS_DRAIN_TIMEOUT` when unset (`#[tars::service(drain_timeout = "...")]`).
    pub drain_timeout: Option<Duration>,
    /// `TARS_REQUEST_TIMEOUT` when unset (`#[tars::service(request_timeout = "...")]`).
    pub request_timeout: Option<Duration>,
    /// The handler queue capacity (`#[tars::service(queue = N)]`).
    pub handler_queue_capacity: Option<usize>,
    /// `TARS_WORKER_THREADS` when unset (`#[tars::service(worker_threads = N)]`).
    pub worker_threads: Option<usize>,
}

impl EnvDefaults {
    /// The defaults of a plain client: no client id, health and heartbeat off.
    pub fn client() -> Self {
        Self::default()
    }

    /// The defaults of a service: health and heartbeat on, `name` as client id.
    pub fn service(name: Option<&str>) -> Self {
        Self {
            client_id: name.map(str::to_owned),
            enable_health: true,
            enable_heartbeat: true,
            ..Self::default()
        }
    }
}

type Lookup<'a> = dyn Fn(&str) -> Result<Option<String>, ConfigError> + 'a;

pub(super) fn process_lookup(name: &str) -> Result<Option<String>, ConfigError> {
    match std::env::var(name) {
        Ok(value) => Ok(Some(value)),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(ConfigError::Invalid {
            variable: leak_name(name),
            value: "<not UTF-8>".to_owned(),
            rule: "must be valid UTF-8".to_owned(),
        }),
    }
}

/// Maps a looked-up name back to its `'static` spelling.
fn leak_name(name: &str) -> &'static str {
    super::variables::entry(name).map_or("MQTT_*", |entry| entry.name)
}

/// A set, non-blank variable.
fn get(lookup: &Lookup<'_>, name: &'static str) -> Result<Option<String>, ConfigError> {
    Ok(lookup(name)?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty()))
}

/// Reads every set variable of the table into `config` except the broker and the client
/// id (which start the builder); a value that does not parse is an error naming it.
fn read_set(lookup: &Lookup<'_>, config: &mut Config, only: &[&str]) -> Result<(), ConfigError> {
    for entry in TABLE {
        let wanted = match only {
            [] => !matches!(entry.name, "MQTT_URL" | "MQTT_CLIENT_ID"),
            names => names.contains(&entry.name),
        };
        if !wanted {
            continue;
        }
        if let Some(raw) = get(lookup, entry.name)? {
            (entry.read)(&raw, config).ok_or_else(|| entry.invalid(raw))?;
        }
    }
    Ok(())
}

pub(super) fn load(defaults: &EnvDefaults, lookup: &Lookup<'_>) -> Result<Config, ConfigError> {
    let url = get(lookup, "MQTT_URL")?.ok_or(ConfigError::Missing {
        variable: "MQTT_URL",
        hint: "set it to the broker's URL, e.g. MQTT_URL=mqtt://localhost:1883",
    })?;
    // Report a bad URL before anything else, in the order of the variable table.
    super::broker_url::parse_list(&url)?;
    let client_id = get(lookup, "MQTT_CLIENT_ID")?
        .or_else(|| defaults.client_id.clone())
        .ok_or(ConfigError::Missing {
            variable: "MQTT_CLIENT_ID",
            hint: "set it to a name unique on the broker, e.g. MQTT_CLIENT_ID=tars-stt",
        })?;
    // The defaults first (a plain client's or a service's), then what is set.
    let mut builder = Config::builder(url, client_id)
        .enable_health(defaults.enable_health)
        .enable_heartbeat(defaults.enable_heartbeat);
    if let Some(drain) = defaults.drain_timeout {
        builder = builder.drain_timeout(drain);
    }
    if let Some(request) = defaults.request_timeout {
        builder = builder.request_timeout(request);
    }
    if let Some(capacity) = defaults.handler_queue_capacity {
        builder = builder.handler_queue_capacity(capacity);
    }
    if let Some(threads) = defaults.worker_threads {
        builder = builder.worker_threads(threads);
    }
    read_set(lookup, builder.config_mut(), &[])?;
    builder.build()
}

/// Only the variables `names` of the process environment, read and checked by their
/// table entries into a configuration that holds the defaults for the rest; with the
/// names that were set. For documents printed without a connection (`--asyncapi`).
pub(crate) fn some_from_process(
    names: &[&str],
) -> Result<(Config, Vec<&'static str>), ConfigError> {
    let mut config = Config::builder("mqtt://localhost", "-").into_unchecked();
    read_set(&process_lookup, &mut config, names)?;
    let mut set = Vec::new();
    for entry in TABLE.iter().filter(|entry| names.contains(&entry.name)) {
        entry.validate(&config)?;
        if get(&process_lookup, entry.name)?.is_some() {
            set.push(entry.name);
        }
    }
    Ok((config, set))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::parse::parse_byte_size;

    #[test]
    fn the_intake_bound_reads_bytes_with_binary_units() {
        let base = [("MQTT_URL", "mqtt://h"), ("MQTT_CLIENT_ID", "x")];
        let c = load_from(&base, EnvDefaults::client()).unwrap();
        assert_eq!(c.intake_bytes(), crate::config::DEFAULT_INTAKE_BYTES);
        for (raw, bytes) in [
            ("262144", 262_144),
            ("512KiB", 524_288),
            (" 8MiB ", 8 << 20),
        ] {
            let vars = [base[0], base[1], ("TARS_INTAKE_BYTES", raw)];
            let c = load_from(&vars, EnvDefaults::client()).unwrap();
            assert_eq!(c.intake_bytes(), bytes, "{raw}");
        }
        assert_eq!(parse_byte_size("1GiB"), Some(1 << 30));
        assert_eq!(parse_byte_size("1.5MiB"), None);
    }

    fn load_from(vars: &[(&str, &str)], defaults: EnvDefaults) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(&defaults, |name| map.get(name).cloned())
    }

    fn with_base(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut vars = vec![("MQTT_URL", "mqtt://localhost"), ("MQTT_CLIENT_ID", "svc")];
        vars.extend_from_slice(extra);
        load_from(&vars, EnvDefaults::client())
    }

    fn variable_of(extra: &[(&'static str, &'static str)]) -> &'static str {
        with_base(extra).expect_err("should be rejected").variable()
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = with_base(&[]).unwrap();
        assert_eq!(c.source_name(), "svc");
        assert_eq!(c.keepalive(), Duration::from_secs(60));
        assert!(!c.enable_health() && !c.enable_heartbeat());
        assert_eq!(c.heartbeat_interval(), Duration::from_secs(30));
        assert!(!c.dedupe_enabled());
        assert_eq!(c.reconnect_min_delay(), Duration::from_secs(1));
        assert_eq!(c.reconnect_max_delay(), Duration::from_secs(5));
        assert_eq!(c.max_packet_size(), 1024 * 1024);
        assert_eq!(c.worker_threads(), 1);
        assert_eq!(c.log_format(), crate::config::LogFormat::Text);
    }

    #[test]
    fn a_service_tuning_is_the_default_and_the_environment_wins() {
        let tuned = EnvDefaults {
            drain_timeout: Some(Duration::from_secs(30)),
            request_timeout: Some(Duration::from_secs(3)),
            handler_queue_capacity: Some(64),
            worker_threads: Some(2),
            ..EnvDefaults::service(Some("svc"))
        };
        let base = [("MQTT_URL", "mqtt://h")];
        let c = load_from(&base, tuned.clone()).unwrap();
        assert_eq!(c.worker_threads(), 2);
        let c = load_from(&[base[0], ("TARS_WORKER_THREADS", "3")], tuned.clone()).unwrap();
        assert_eq!(c.worker_threads(), 3);
        assert_eq!(c.drain_timeout(), Duration::from_secs(30));
        assert_eq!(c.request_timeout(), Duration::from_secs(3));
        assert_eq!(c.handler_queue_capacity(), 64);
        let c = load_from(&[base[0], ("TARS_DRAIN_TIMEOUT", "2m")], tuned).unwrap();
        assert_eq!(c.drain_timeout(), Duration::from_secs(120));
    }

    #[test]
    fn service_defaults_turn_health_and_heartbeat_on_and_name_the_client() {
        let c = load_from(
            &[("MQTT_URL", "mqtt://h")],
            EnvDefaults::service(Some("stt")),
        )
        .unwrap();
        assert_eq!(c.client_id(), "stt");
        assert!(c.enable_health() && c.enable_heartbeat());
        let c = load_from(
            &[
                ("MQTT_URL", "mqtt://h"),
                ("MQTT_CLIENT_ID", "x"),
                ("MQTT_ENABLE_HEALTH", "no"),
            ],
            EnvDefaults::service(Some("stt")),
        )
        .unwrap();
        assert_eq!(c.client_id(), "x");
        assert!(!c.enable_health());
    }

    #[test]
    fn every_variable_is_read() {
        let c = with_base(&[
            ("MQTT_SOURCE_NAME", "src"),
            ("MQTT_KEEPALIVE", "15"),
            ("MQTT_ENABLE_HEALTH", "YES"),
            ("MQTT_ENABLE_HEARTBEAT", "1"),
            ("MQTT_HEARTBEAT_INTERVAL", "2.5"),
            ("MQTT_DEDUPE_TTL", "30"),
            ("MQTT_DEDUPE_MAX_ENTRIES", "2048"),
            ("MQTT_RECONNECT_MIN_DELAY", "0.1"),
            ("MQTT_RECONNECT_MAX_DELAY", "0.5"),
            ("MQTT_MAX_PACKET_SIZE", "65536"),
            ("MQTT_VERSION", "5"),
            ("MQTT_CLEAN_SESSION", "false"),
            ("MQTT_SESSION_EXPIRY", "120"),
            ("TARS_RETRIES", "3"),
            ("TARS_BACKOFF", "250ms"),
            ("TARS_DEAD_LETTER_TOPIC", "dead/letters"),
            ("TARS_DRAIN_TIMEOUT", "30s"),
            ("TARS_REQUEST_TIMEOUT", "1.5s"),
            ("TARS_WORKER_THREADS", "4"),
            ("TARS_LOG_FORMAT", "JSON"),
        ])
        .unwrap();
        assert_eq!(c.worker_threads(), 4);
        assert_eq!(c.log_format(), crate::config::LogFormat::Json);
        assert_eq!(c.drain_timeout(), Duration::from_secs(30));
        assert_eq!(c.request_timeout(), Duration::from_millis(1500));
        let failure = c.failure_policy();
        assert_eq!(failure.retries, Some(3));
        assert_eq!(failure.backoff, Some(Duration::from_millis(250)));
        assert_eq!(failure.dead_letter.as_deref(), Some("dead/letters"));
        assert_eq!(c.mqtt_version(), crate::MqttVersion::V5);
        assert_eq!(c.session_expiry(), Duration::from_secs(120));
        assert_eq!(c.source_name(), "src");
        assert_eq!(c.keepalive(), Duration::from_secs(15));
        assert!(c.enable_health() && c.enable_heartbeat());
        assert_eq!(c.heartbeat_interval(), Duration::from_millis(2500));
        assert_eq!(
            (c.dedupe_ttl(), c.dedupe_max_entries()),
            (Duration::from_secs(30), 2048)
        );
        assert_eq!(c.reconnect_min_delay(), Duration::from_millis(100));
        assert_eq!(c.reconnect_max_delay(), Duration::from_millis(500));
        assert_eq!(c.max_packet_size(), 65536);
    }

    #[test]
    fn the_version_defaults_to_3_1_1_and_a_clean_session_expires_at_once() {
        let c = with_base(&[]).unwrap();
        assert_eq!(c.mqtt_version(), crate::MqttVersion::V3_1_1);
        assert_eq!(c.session_expiry(), Duration::ZERO);
        let c = with_base(&[("MQTT_CLEAN_SESSION", "false")]).unwrap();
        assert_eq!(c.session_expiry(), Duration::from_secs(3600));
        for spelling in ["3.1.1", "v3.1.1", "3", "4"] {
            let c = with_base(&[("MQTT_VERSION", spelling)]).unwrap();
            assert_eq!(c.mqtt_version(), crate::MqttVersion::V3_1_1, "{spelling}");
        }
        for spelling in ["5", "5.0", "v5"] {
            let c = with_base(&[("MQTT_VERSION", spelling)]).unwrap();
            assert_eq!(c.mqtt_version(), crate::MqttVersion::V5, "{spelling}");
        }
    }

    #[test]
    fn a_metrics_address_turns_metrics_on() {
        let c = with_base(&[]).unwrap();
        assert_eq!((c.metrics_addr(), c.metrics_on()), (None, false));
        let c = with_base(&[("TARS_METRICS_ADDR", "127.0.0.1:9464")]).unwrap();
        assert_eq!(c.metrics_addr(), Some("127.0.0.1:9464".parse().unwrap()));
        assert!(c.metrics_on());
    }

    #[test]
    fn blank_values_count_as_unset() {
        let c = with_base(&[("MQTT_SOURCE_NAME", "  "), ("MQTT_KEEPALIVE", "")]).unwrap();
        assert_eq!(c.source_name(), "svc");
        assert_eq!(c.keepalive(), Duration::from_secs(60));
    }

    #[test]
    fn missing_required_variables_are_named() {
        let err = load_from(&[("MQTT_CLIENT_ID", "x")], EnvDefaults::client()).unwrap_err();
        assert_eq!(err.variable(), "MQTT_URL");
        assert!(err.to_string().contains("MQTT_URL is not set"), "{err}");
        let err = load_from(&[("MQTT_URL", "mqtt://h")], EnvDefaults::client()).unwrap_err();
        assert_eq!(err.variable(), "MQTT_CLIENT_ID");
    }

    #[test]
    fn the_validation_matrix_names_each_variable() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("MQTT_URL", "http://h")], "MQTT_URL"),
            (&[("MQTT_CLIENT_ID", "a+b")], "MQTT_CLIENT_ID"),
            (&[("MQTT_KEEPALIVE", "0")], "MQTT_KEEPALIVE"),
            (&[("MQTT_KEEPALIVE", "1.5")], "MQTT_KEEPALIVE"),
            (&[("MQTT_KEEPALIVE", "70000")], "MQTT_KEEPALIVE"),
            (&[("MQTT_ENABLE_HEALTH", "maybe")], "MQTT_ENABLE_HEALTH"),
            (&[("MQTT_VERSION", "3.1")], "MQTT_VERSION"),
            (&[("MQTT_VERSION", "6")], "MQTT_VERSION"),
            (&[("TARS_METRICS_ADDR", "9464")], "TARS_METRICS_ADDR"),
            (&[("TARS_RETRIES", "-1")], "TARS_RETRIES"),
            (&[("TARS_DRAIN_TIMEOUT", "soon")], "TARS_DRAIN_TIMEOUT"),
            (&[("TARS_REQUEST_TIMEOUT", "0s")], "TARS_REQUEST_TIMEOUT"),
            (&[("TARS_RETRIES", "1001")], "TARS_RETRIES"),
            (&[("TARS_BACKOFF", "fast")], "TARS_BACKOFF"),
            (&[("TARS_BACKOFF", "0ms")], "TARS_BACKOFF"),
            (&[("TARS_BACKOFF", "5 parsecs")], "TARS_BACKOFF"),
            (&[("TARS_INTAKE_BYTES", "lots")], "TARS_INTAKE_BYTES"),
            (&[("TARS_INTAKE_BYTES", "4MB")], "TARS_INTAKE_BYTES"),
            (&[("TARS_INTAKE_BYTES", "1KiB")], "TARS_INTAKE_BYTES"),
            (&[("TARS_INTAKE_BYTES", "2GiB")], "TARS_INTAKE_BYTES"),
            (
                &[("TARS_DEAD_LETTER_TOPIC", "dead/#")],
                "TARS_DEAD_LETTER_TOPIC",
            ),
            (
                &[("TARS_METRICS_ADDR", "localhost:9464")],
                "TARS_METRICS_ADDR",
            ),
            (&[("MQTT_SESSION_EXPIRY", "-1")], "MQTT_SESSION_EXPIRY"),
            (&[("MQTT_SESSION_EXPIRY", "1.5")], "MQTT_SESSION_EXPIRY"),
            (
                &[("MQTT_SESSION_EXPIRY", "4294967296")],
                "MQTT_SESSION_EXPIRY",
            ),
            (&[("MQTT_ENABLE_HEARTBEAT", "2")], "MQTT_ENABLE_HEARTBEAT"),
            (
                &[("MQTT_HEARTBEAT_INTERVAL", "0.5")],
                "MQTT_HEARTBEAT_INTERVAL",
            ),
            (
                &[("MQTT_HEARTBEAT_INTERVAL", "abc")],
                "MQTT_HEARTBEAT_INTERVAL",
            ),
            (
                &[("MQTT_HEARTBEAT_INTERVAL", "NaN")],
                "MQTT_HEARTBEAT_INTERVAL",
            ),
            (&[("MQTT_DEDUPE_TTL", "-1")], "MQTT_DEDUPE_TTL"),
            (&[("MQTT_DEDUPE_TTL", "5")], "MQTT_DEDUPE_MAX_ENTRIES"),
            (
                &[("MQTT_DEDUPE_TTL", "5"), ("MQTT_DEDUPE_MAX_ENTRIES", "-3")],
                "MQTT_DEDUPE_MAX_ENTRIES",
            ),
            (
                &[("MQTT_RECONNECT_MIN_DELAY", "0.05")],
                "MQTT_RECONNECT_MIN_DELAY",
            ),
            (
                &[("MQTT_RECONNECT_MAX_DELAY", "0.4")],
                "MQTT_RECONNECT_MAX_DELAY",
            ),
            (
                &[
                    ("MQTT_RECONNECT_MIN_DELAY", "3"),
                    ("MQTT_RECONNECT_MAX_DELAY", "2"),
                ],
                "MQTT_RECONNECT_MAX_DELAY",
            ),
            (&[("MQTT_MAX_PACKET_SIZE", "10")], "MQTT_MAX_PACKET_SIZE"),
            (&[("MQTT_MAX_PACKET_SIZE", "1GB")], "MQTT_MAX_PACKET_SIZE"),
            (&[("TARS_WORKER_THREADS", "0")], "TARS_WORKER_THREADS"),
            (&[("TARS_WORKER_THREADS", "two")], "TARS_WORKER_THREADS"),
            (&[("TARS_WORKER_THREADS", "5000")], "TARS_WORKER_THREADS"),
            (&[("TARS_LOG_FORMAT", "yaml")], "TARS_LOG_FORMAT"),
        ];
        for (vars, expected) in cases {
            assert_eq!(variable_of(vars), *expected, "{vars:?}");
        }
    }

    #[test]
    fn errors_state_the_rule_and_the_value() {
        let err = with_base(&[("MQTT_HEARTBEAT_INTERVAL", "0.5")]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "MQTT_HEARTBEAT_INTERVAL=\"0.5\" is invalid: must be a number of seconds ≥ 1.0"
        );
        let err = with_base(&[
            ("MQTT_RECONNECT_MIN_DELAY", "3"),
            ("MQTT_RECONNECT_MAX_DELAY", "2"),
        ])
        .unwrap_err();
        assert!(
            err.to_string().contains("≥ MQTT_RECONNECT_MIN_DELAY (3)"),
            "{err}"
        );
    }

    #[test]
    fn the_password_is_absent_from_debug_display_and_errors() {
        let ok = load_from(
            &[
                ("MQTT_URL", "mqtt://svc:Hunter2Pass@h"),
                ("MQTT_CLIENT_ID", "x"),
            ],
            EnvDefaults::client(),
        )
        .unwrap();
        for shown in [
            ok.to_string(),
            format!("{ok:?}"),
            format!("{:?}", ok.to_builder()),
        ] {
            assert!(!shown.contains("Hunter2Pass"), "{shown}");
            assert!(shown.contains("svc"), "{shown}");
        }
        let err = load_from(
            &[
                ("MQTT_URL", "mqtt://svc:Hunter2Pass@h:0"),
                ("MQTT_CLIENT_ID", "x"),
            ],
            EnvDefaults::client(),
        )
        .unwrap_err();
        assert!(
            !err.to_string().contains("Hunter2Pass") && !format!("{err:?}").contains("Hunter2Pass")
        );
    }

    #[test]
    fn builder_applies_the_same_rules() {
        let err = Config::builder("mqtt://h", "x")
            .heartbeat_interval(Duration::from_millis(10))
            .build()
            .unwrap_err();
        assert_eq!(err.variable(), "MQTT_HEARTBEAT_INTERVAL");
        let err = Config::builder("mqtt://h", "").build().unwrap_err();
        assert_eq!(err.variable(), "MQTT_CLIENT_ID");
        let c = Config::builder("mqtt://h", "x").build().unwrap();
        let c2 = c.to_builder().enable_health(true).build().unwrap();
        assert_eq!(c2.broker(), c.broker());
        assert!(c2.enable_health());
    }

    #[test]
    fn tls_files_are_read_and_a_certificate_needs_its_key() {
        let c = with_base(&[
            ("MQTT_TLS_CA_FILE", "/etc/tars/ca.pem"),
            ("MQTT_TLS_CERT_FILE", "/etc/tars/client.pem"),
            ("MQTT_TLS_KEY_FILE", "/etc/tars/client.key"),
        ])
        .unwrap();
        let files = c.tls_files();
        assert_eq!(
            files.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/tars/ca.pem"))
        );
        assert!(files.cert_file.is_some() && files.key_file.is_some());
        let err = with_base(&[("MQTT_TLS_CERT_FILE", "/etc/tars/client.pem")]).unwrap_err();
        assert_eq!(err.variable(), "MQTT_TLS_KEY_FILE", "{err}");
        let err = with_base(&[("MQTT_TLS_KEY_FILE", "/etc/tars/client.key")]).unwrap_err();
        assert_eq!(err.variable(), "MQTT_TLS_CERT_FILE", "{err}");
    }
}
