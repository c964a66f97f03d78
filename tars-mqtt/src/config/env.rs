//! Reading the `MQTT_*` environment variables.

use std::time::Duration;

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
    super::CONFIG_VARIABLES
        .iter()
        .map(|v| v.name)
        .find(|v| *v == name)
        .unwrap_or("MQTT_*")
}

/// A set, non-blank variable.
fn get(lookup: &Lookup<'_>, name: &'static str) -> Result<Option<String>, ConfigError> {
    Ok(lookup(name)?
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty()))
}

fn parse_bool(name: &'static str, raw: &str) -> Result<bool, ConfigError> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(invalid(name, raw, "must be one of true/false/1/0/yes/no")),
    }
}

fn parse_seconds(name: &'static str, raw: &str, rule: &str) -> Result<Duration, ConfigError> {
    raw.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
        .ok_or_else(|| invalid(name, raw, rule))
}

fn parse_count(name: &'static str, raw: &str, rule: &str) -> Result<usize, ConfigError> {
    raw.parse::<usize>().map_err(|_| invalid(name, raw, rule))
}

fn invalid(variable: &'static str, value: &str, rule: &str) -> ConfigError {
    ConfigError::Invalid {
        variable,
        value: value.to_owned(),
        rule: rule.to_owned(),
    }
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
    let mut builder = Config::builder(url, client_id)
        .enable_health(defaults.enable_health)
        .enable_heartbeat(defaults.enable_heartbeat);

    if let Some(source) = get(lookup, "MQTT_SOURCE_NAME")? {
        builder = builder.source_name(source);
    }
    if let Some(raw) = get(lookup, "MQTT_KEEPALIVE")? {
        let rule = "must be a whole number of seconds from 1 to 65535";
        let secs = raw
            .parse::<u64>()
            .map_err(|_| invalid("MQTT_KEEPALIVE", &raw, rule))?;
        builder = builder.keepalive(Duration::from_secs(secs));
    }
    if let Some(raw) = get(lookup, "MQTT_ENABLE_HEALTH")? {
        builder = builder.enable_health(parse_bool("MQTT_ENABLE_HEALTH", &raw)?);
    }
    if let Some(raw) = get(lookup, "MQTT_ENABLE_HEARTBEAT")? {
        builder = builder.enable_heartbeat(parse_bool("MQTT_ENABLE_HEARTBEAT", &raw)?);
    }
    if let Some(raw) = get(lookup, "MQTT_CLEAN_SESSION")? {
        builder = builder.clean_session(parse_bool("MQTT_CLEAN_SESSION", &raw)?);
    }
    if let Some(raw) = get(lookup, "MQTT_VERSION")? {
        let version = raw
            .parse::<super::MqttVersion>()
            .map_err(|rule| invalid("MQTT_VERSION", &raw, rule))?;
        builder = builder.mqtt_version(version);
    }
    if let Some(raw) = get(lookup, "MQTT_SESSION_EXPIRY")? {
        let rule = "must be a whole number of seconds from 0 to 4294967295";
        let secs = raw
            .parse::<u32>()
            .map_err(|_| invalid("MQTT_SESSION_EXPIRY", &raw, rule))?;
        builder = builder.session_expiry(Duration::from_secs(secs.into()));
    }
    if let Some(raw) = get(lookup, "MQTT_HEARTBEAT_INTERVAL")? {
        let rule = "must be a number of seconds ≥ 1.0";
        builder = builder.heartbeat_interval(parse_seconds("MQTT_HEARTBEAT_INTERVAL", &raw, rule)?);
    }
    let ttl = match get(lookup, "MQTT_DEDUPE_TTL")? {
        Some(raw) => parse_seconds("MQTT_DEDUPE_TTL", &raw, "must be a number of seconds ≥ 0")?,
        None => Duration::ZERO,
    };
    let entries = match get(lookup, "MQTT_DEDUPE_MAX_ENTRIES")? {
        Some(raw) => parse_count(
            "MQTT_DEDUPE_MAX_ENTRIES",
            &raw,
            "must be a whole number ≥ 0",
        )?,
        None => 0,
    };
    builder = builder.dedupe(ttl, entries);
    let min = match get(lookup, "MQTT_RECONNECT_MIN_DELAY")? {
        Some(raw) => parse_seconds(
            "MQTT_RECONNECT_MIN_DELAY",
            &raw,
            "must be a number of seconds ≥ 0.1",
        )?,
        None => Duration::from_secs(1),
    };
    let max = match get(lookup, "MQTT_RECONNECT_MAX_DELAY")? {
        Some(raw) => parse_seconds(
            "MQTT_RECONNECT_MAX_DELAY",
            &raw,
            "must be a number of seconds ≥ 0.5",
        )?,
        None => Duration::from_secs(5),
    };
    builder = builder.reconnect_delays(min, max);
    if let Some(raw) = get(lookup, "MQTT_MAX_PACKET_SIZE")? {
        let rule = "must be a number of bytes from 1024 to 268435455";
        builder = builder.max_packet_size(parse_count("MQTT_MAX_PACKET_SIZE", &raw, rule)?);
    }
    if let Some(path) = get(lookup, "MQTT_TLS_CA_FILE")? {
        builder = builder.tls_ca_file(path);
    }
    let cert = get(lookup, "MQTT_TLS_CERT_FILE")?;
    let key = get(lookup, "MQTT_TLS_KEY_FILE")?;
    match (cert, key) {
        (Some(cert), Some(key)) => builder = builder.tls_client_auth(cert, key),
        (Some(cert), None) => {
            return Err(invalid(
                "MQTT_TLS_KEY_FILE",
                "",
                &format!(
                "must be set with MQTT_TLS_CERT_FILE={cert} (the client certificate's private key)"
            ),
            ))
        }
        (None, Some(key)) => {
            return Err(invalid(
                "MQTT_TLS_CERT_FILE",
                "",
                &format!("must be set with MQTT_TLS_KEY_FILE={key} (the client certificate)"),
            ))
        }
        (None, None) => {}
    }
    if let Some(raw) = get(lookup, "TARS_METRICS_ADDR")? {
        builder = builder.metrics_addr(parse_metrics_addr(&raw)?);
    }
    if let Some(raw) = get(lookup, "TARS_INTAKE_BYTES")? {
        let bytes = parse_byte_size(&raw)
            .ok_or_else(|| invalid("TARS_INTAKE_BYTES", &raw, super::INTAKE_BYTES_RULE))?;
        builder = builder.intake_bytes(bytes);
    }
    if let Some(capacity) = defaults.handler_queue_capacity {
        builder = builder.handler_queue_capacity(capacity);
    }
    let timeout_rule =
        "must be a duration of at least 1ms, such as 500ms, 30s or 2m (a bare number is seconds)";
    let timeout = |name: &'static str| -> Result<Option<Duration>, ConfigError> {
        get(lookup, name)?
            .map(|raw| {
                parse_duration(&raw)
                    .filter(|d| *d >= Duration::from_millis(1))
                    .ok_or_else(|| invalid(name, &raw, timeout_rule))
            })
            .transpose()
    };
    if let Some(drain) = timeout("TARS_DRAIN_TIMEOUT")?.or(defaults.drain_timeout) {
        builder = builder.drain_timeout(drain);
    }
    if let Some(request) = timeout("TARS_REQUEST_TIMEOUT")?.or(defaults.request_timeout) {
        builder = builder.request_timeout(request);
    }
    builder.failure_policy(failure_policy(lookup)?).build()
}

/// The service-wide failure policy from the process environment alone (for documents
/// printed without a connection, such as `--asyncapi`).
pub(crate) fn failure_policy_from_process() -> Result<crate::FailurePolicy, ConfigError> {
    let policy = failure_policy(&process_lookup)?;
    super::check_failure_policy(&policy)?;
    Ok(policy)
}

/// `TARS_RETRIES`, `TARS_BACKOFF` and `TARS_DEAD_LETTER_TOPIC`: the service-wide
/// failure policy.
fn failure_policy(lookup: &Lookup<'_>) -> Result<crate::FailurePolicy, ConfigError> {
    let retries_rule = format!(
        "must be a whole number from 0 to {}",
        crate::model::failure::MAX_RETRIES
    );
    let retries = get(lookup, "TARS_RETRIES")?
        .map(|raw| {
            raw.parse::<u32>()
                .map_err(|_| invalid("TARS_RETRIES", &raw, &retries_rule))
        })
        .transpose()?;
    let backoff = get(lookup, "TARS_BACKOFF")?
        .map(|raw| {
            parse_duration(&raw).ok_or_else(|| {
                invalid(
                    "TARS_BACKOFF",
                    &raw,
                    "must be a duration such as 100ms, 2s or 1m (a bare number is seconds)",
                )
            })
        })
        .transpose()?;
    Ok(crate::FailurePolicy {
        retries,
        backoff,
        max_backoff: None,
        dead_letter: get(lookup, "TARS_DEAD_LETTER_TOPIC")?.map(Into::into),
    })
}

/// A duration written as a number and a unit (`100ms`, `1.5s`, `2m`, `1h`), or a bare
/// number of seconds.
pub(crate) fn parse_duration(raw: &str) -> Option<Duration> {
    let split = raw
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(raw.len());
    let (number, unit) = raw.split_at(split);
    let seconds_per_unit = match unit.trim() {
        "ms" => 0.001,
        "" | "s" => 1.0,
        "m" => 60.0,
        "h" => 3_600.0,
        _ => return None,
    };
    let number: f64 = number.parse().ok()?;
    Duration::try_from_secs_f64(number * seconds_per_unit).ok()
}

/// A size in bytes: a whole number, alone or followed by `KiB`, `MiB` or `GiB`
/// (`"262144"`, `"512KiB"`, `"4MiB"`).
pub(crate) fn parse_byte_size(raw: &str) -> Option<usize> {
    let raw = raw.trim();
    let digits = raw.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = raw.split_at(digits);
    let factor: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        _ => return None,
    };
    number.parse::<usize>().ok()?.checked_mul(factor)
}

/// `TARS_METRICS_ADDR`: `host:port` with an IP address (a name would hide which
/// interface the endpoint is exposed on).
fn parse_metrics_addr(raw: &str) -> Result<std::net::SocketAddr, ConfigError> {
    raw.parse().map_err(|_| {
        invalid(
            "TARS_METRICS_ADDR",
            raw,
            "must be an IP address and port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464",
        )
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

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
    }

    #[test]
    fn a_service_tuning_is_the_default_and_the_environment_wins() {
        let tuned = EnvDefaults {
            drain_timeout: Some(Duration::from_secs(30)),
            request_timeout: Some(Duration::from_secs(3)),
            handler_queue_capacity: Some(64),
            ..EnvDefaults::service(Some("svc"))
        };
        let base = [("MQTT_URL", "mqtt://h")];
        let c = load_from(&base, tuned.clone()).unwrap();
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
        ])
        .unwrap();
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
