//! Every environment variable tars reads, each declared once: its name, its default, its
//! rule, what it sets, how it is read into a configuration, checked, and shown. Loading
//! the environment (`env.rs`), the builder's validation (`ConfigBuilder::build`), a
//! service's `--help` and `--check`, and the test of `docs/configuration.md` all come
//! from [`TABLE`].

use std::sync::OnceLock;
use std::time::Duration;

use super::parse::{parse_byte_size, parse_duration};
use super::{broker_url, Config, MqttVersion, MAX_INTAKE_BYTES, MIN_INTAKE_BYTES};
use crate::model::failure::{DEFAULT_BACKOFF, MAX_RETRIES};

/// One environment variable, as `--help` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its value when unset, as a person would write it ("unset" when it has none).
    pub default: &'static str,
    /// What it sets, in a few words.
    pub meaning: &'static str,
}

/// A value that breaks its variable's rule: the value as shown, and the rule.
pub(crate) struct Broken {
    pub(crate) value: String,
    pub(crate) rule: String,
}

/// One configuration variable with everything tars does with it.
pub(crate) struct Entry {
    pub(crate) name: &'static str,
    /// How `--help` states the default; `None`: the value a fresh configuration holds,
    /// as [`Entry::show`] prints it.
    default: Option<&'static str>,
    pub(crate) meaning: &'static str,
    /// What a valid value looks like, as errors say it.
    pub(crate) rule: &'static str,
    /// Reads a set value into the configuration being built; `None` when it does not
    /// parse.
    pub(crate) read: fn(&str, &mut Config) -> Option<()>,
    /// Checks the built configuration.
    pub(crate) check: fn(&Config) -> Result<(), Broken>,
    /// The effective value, as `--check` prints it (the broker's password masked).
    pub(crate) show: fn(&Config) -> String,
}

impl Entry {
    /// The error of a value that breaks this variable's rule.
    pub(crate) fn invalid(&self, value: impl Into<String>) -> super::ConfigError {
        super::ConfigError::Invalid {
            variable: self.name,
            value: value.into(),
            rule: self.rule.to_owned(),
        }
    }

    /// Checks `config` against this variable's rule.
    pub(crate) fn validate(&self, config: &Config) -> Result<(), super::ConfigError> {
        (self.check)(config).map_err(|broken| super::ConfigError::Invalid {
            variable: self.name,
            value: broken.value,
            rule: broken.rule,
        })
    }
}

/// Passes every configuration.
fn always(_: &Config) -> Result<(), Broken> {
    Ok(())
}

/// `value` breaks `rule` unless `ok`.
fn rule(ok: bool, value: impl ToString, rule: &str) -> Result<(), Broken> {
    match ok {
        true => Ok(()),
        false => Err(Broken {
            value: value.to_string(),
            rule: rule.to_owned(),
        }),
    }
}

fn read_bool(raw: &str) -> Option<bool> {
    match raw.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" => Some(true),
        "false" | "0" | "no" => Some(false),
        _ => None,
    }
}

/// A number of seconds, fractions allowed.
fn read_seconds(raw: &str) -> Option<Duration> {
    raw.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .and_then(|s| Duration::try_from_secs_f64(s).ok())
}

fn seconds(d: Duration) -> String {
    format!("{}", d.as_secs_f64())
}

fn path(p: Option<&std::path::Path>) -> String {
    p.map_or_else(|| "unset".to_owned(), |p| p.display().to_string())
}

/// A byte size as written in `TARS_INTAKE_BYTES`: the largest unit that divides it.
fn byte_size(bytes: usize) -> String {
    for (unit, shift) in [("GiB", 30), ("MiB", 20), ("KiB", 10)] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    bytes.to_string()
}

const CLIENT_ID_RULE: &str = "must not contain `+`, `#` or NUL (it names the topics system/health/{client_id} and system/keepalive/{client_id})";
const RETRIES_RULE: &str = "must be a whole number from 0 to 1000";
const _: () = assert!(MAX_RETRIES == 1000, "TARS_RETRIES's rule states the bound");
const KEEPALIVE_RULE: &str = "must be a whole number of seconds from 1 to 65535";
const BOOL_RULE: &str = "must be one of true/false/1/0/yes/no";
const SESSION_EXPIRY_RULE: &str = "must be a whole number of seconds from 0 to 4294967295";
const TIMEOUT_RULE: &str =
    "must be a duration of at least 1ms, such as 500ms, 30s or 2m (a bare number is seconds)";
/// The rule of an intake bound, as errors state it (also for a handler's `intake_bytes`).
pub(crate) const INTAKE_BYTES_RULE: &str =
    "must be a size from 64KiB to 1GiB: a number of bytes, or a whole number with KiB, MiB or GiB (e.g. 4MiB)";
const WORKER_THREADS_RULE: &str = "must be a whole number from 1 to 1024";
const OUTBOX_MAX_BYTES_RULE: &str =
    "must be a size from 1MiB to 1TiB: a number of bytes, or a whole number with KiB, MiB or GiB (e.g. 64MiB)";
const OUTBOX_FSYNC_RULE: &str =
    "must be `always`, `grouped`, or a duration from 1ms to 1s to sync within (e.g. 5ms)";
/// The most threads a service's runtime may ask for.
const MAX_WORKER_THREADS: usize = 1024;
/// The largest packet MQTT can carry (the remaining-length limit).
const MQTT_MAX_PACKET_SIZE: usize = 268_435_455;
const MIN_MAX_PACKET_SIZE: usize = 1024;

/// Every configuration variable, in the order `--help` lists them and errors are
/// reported.
pub(crate) const TABLE: &[Entry] = &[
    Entry {
        name: "MQTT_URL",
        default: Some("required"),
        meaning: "the broker: mqtt://[user:pass@]host[:port] (also mqtts, ws, wss); several, comma-separated, are tried in order",
        rule: "a broker URL, or several comma-separated",
        read: |raw, c| {
            c.brokers = broker_url::parse_list(raw).ok()?;
            Some(())
        },
        check: always,
        show: Config::brokers_display,
    },
    Entry {
        name: "MQTT_CLIENT_ID",
        default: Some("required"),
        meaning: "the client id, also the health and manifest topic's last level",
        rule: CLIENT_ID_RULE,
        read: |raw, c| {
            c.client_id = raw.to_owned();
            Some(())
        },
        check: |c| {
            rule(
                !c.client_id.contains(['+', '#', '\0']),
                &c.client_id,
                CLIENT_ID_RULE,
            )
        },
        show: |c| c.client_id.clone(),
    },
    Entry {
        name: "MQTT_SOURCE_NAME",
        default: Some("the client id"),
        meaning: "the `source` of the envelopes this service publishes",
        rule: "any text",
        read: |raw, c| {
            c.source_name = raw.to_owned();
            Some(())
        },
        check: always,
        show: |c| c.source_name.clone(),
    },
    Entry {
        name: "MQTT_KEEPALIVE",
        default: None,
        meaning: "seconds between keepalive pings",
        rule: KEEPALIVE_RULE,
        read: |raw, c| {
            c.keepalive = Duration::from_secs(raw.parse().ok()?);
            Some(())
        },
        check: |c| {
            let whole = c.keepalive.subsec_nanos() == 0;
            let ok = whole && (1..=65535).contains(&c.keepalive.as_secs());
            rule(ok, seconds(c.keepalive), KEEPALIVE_RULE)
        },
        show: |c| seconds(c.keepalive),
    },
    Entry {
        name: "MQTT_ENABLE_HEALTH",
        default: None,
        meaning: "retained health on system/health/{client_id}, with a last will",
        rule: BOOL_RULE,
        read: |raw, c| {
            c.enable_health = read_bool(raw)?;
            Some(())
        },
        check: always,
        show: |c| c.enable_health.to_string(),
    },
    Entry {
        name: "MQTT_ENABLE_HEARTBEAT",
        default: None,
        meaning: "heartbeats on system/keepalive/{client_id}",
        rule: BOOL_RULE,
        read: |raw, c| {
            c.enable_heartbeat = read_bool(raw)?;
            Some(())
        },
        check: always,
        show: |c| c.enable_heartbeat.to_string(),
    },
    Entry {
        name: "MQTT_HEARTBEAT_INTERVAL",
        default: None,
        meaning: "seconds between heartbeats (at least 1.0)",
        rule: "must be a number of seconds ≥ 1.0",
        read: |raw, c| {
            c.heartbeat_interval = read_seconds(raw)?;
            Some(())
        },
        check: |c| {
            rule(
                c.heartbeat_interval >= Duration::from_secs(1),
                seconds(c.heartbeat_interval),
                "must be a number of seconds ≥ 1.0",
            )
        },
        show: |c| seconds(c.heartbeat_interval),
    },
    Entry {
        name: "MQTT_CLEAN_SESSION",
        default: None,
        meaning: "false: a persistent session, acknowledged after the handlers",
        rule: BOOL_RULE,
        read: |raw, c| {
            c.clean_session = read_bool(raw)?;
            Some(())
        },
        check: always,
        show: |c| c.clean_session.to_string(),
    },
    Entry {
        name: "MQTT_VERSION",
        default: None,
        meaning: "the protocol: 3.1.1 or 5",
        rule: "must be 3.1.1 or 5",
        read: |raw, c| {
            c.mqtt_version = raw.parse::<MqttVersion>().ok()?;
            Some(())
        },
        check: always,
        show: |c| c.mqtt_version.as_str().to_owned(),
    },
    Entry {
        name: "MQTT_SESSION_EXPIRY",
        default: Some("3600 with a persistent session"),
        meaning: "seconds the broker keeps a persistent session (MQTT 5)",
        rule: SESSION_EXPIRY_RULE,
        read: |raw, c| {
            c.session_expiry = Duration::from_secs(raw.parse::<u32>().ok()?.into());
            Some(())
        },
        check: |c| {
            let ok = c.session_expiry.subsec_nanos() == 0
                && c.session_expiry.as_secs() <= u64::from(u32::MAX);
            rule(ok, seconds(c.session_expiry), SESSION_EXPIRY_RULE)
        },
        show: |c| seconds(c.session_expiry),
    },
    Entry {
        name: "MQTT_DEDUPE_TTL",
        default: Some("0 (off)"),
        meaning: "seconds a message id is remembered for deduplication",
        rule: "must be a number of seconds ≥ 0",
        read: |raw, c| {
            c.dedupe_ttl = read_seconds(raw)?;
            Some(())
        },
        check: always,
        show: |c| seconds(c.dedupe_ttl),
    },
    Entry {
        name: "MQTT_DEDUPE_MAX_ENTRIES",
        default: None,
        meaning: "how many message ids deduplication remembers",
        rule: "must be a whole number ≥ 0",
        read: |raw, c| {
            c.dedupe_max_entries = raw.parse().ok()?;
            Some(())
        },
        check: |c| {
            rule(
                c.dedupe_ttl.is_zero() || c.dedupe_max_entries > 0,
                c.dedupe_max_entries,
                "must be > 0 when MQTT_DEDUPE_TTL > 0 (dedup needs a size bound)",
            )
        },
        show: |c| c.dedupe_max_entries.to_string(),
    },
    Entry {
        name: "MQTT_RECONNECT_MIN_DELAY",
        default: None,
        meaning: "seconds before the first reconnect attempt",
        rule: "must be a number of seconds ≥ 0.1",
        read: |raw, c| {
            c.reconnect_min_delay = read_seconds(raw)?;
            Some(())
        },
        check: |c| {
            rule(
                c.reconnect_min_delay >= Duration::from_millis(100),
                seconds(c.reconnect_min_delay),
                "must be a number of seconds ≥ 0.1",
            )
        },
        show: |c| seconds(c.reconnect_min_delay),
    },
    Entry {
        name: "MQTT_RECONNECT_MAX_DELAY",
        default: None,
        meaning: "the longest wait between reconnect attempts",
        rule: "must be a number of seconds ≥ 0.5",
        read: |raw, c| {
            c.reconnect_max_delay = read_seconds(raw)?;
            Some(())
        },
        check: |c| {
            let value = seconds(c.reconnect_max_delay);
            rule(
                c.reconnect_max_delay >= Duration::from_millis(500),
                &value,
                "must be a number of seconds ≥ 0.5",
            )?;
            rule(
                c.reconnect_max_delay >= c.reconnect_min_delay,
                &value,
                &format!(
                    "must be ≥ MQTT_RECONNECT_MIN_DELAY ({})",
                    seconds(c.reconnect_min_delay)
                ),
            )
        },
        show: |c| seconds(c.reconnect_max_delay),
    },
    Entry {
        name: "MQTT_MAX_PACKET_SIZE",
        default: None,
        meaning: "the largest message, in bytes, sent or taken",
        rule: "must be a number of bytes from 1024 to 268435455",
        read: |raw, c| {
            c.max_packet_size = raw.parse().ok()?;
            Some(())
        },
        check: |c| {
            rule(
                (MIN_MAX_PACKET_SIZE..=MQTT_MAX_PACKET_SIZE).contains(&c.max_packet_size),
                c.max_packet_size,
                "must be a number of bytes from 1024 to 268435455",
            )
        },
        show: |c| c.max_packet_size.to_string(),
    },
    Entry {
        name: "MQTT_TLS_CA_FILE",
        default: Some("the platform's roots"),
        meaning: "PEM file of the CA that signs the broker's certificate",
        rule: "a PEM file",
        read: |raw, c| {
            c.tls.ca_file = Some(raw.into());
            Some(())
        },
        check: always,
        show: |c| path(c.tls.ca_file.as_deref()),
    },
    Entry {
        name: "MQTT_TLS_CERT_FILE",
        default: Some("unset"),
        meaning: "PEM client certificate (with MQTT_TLS_KEY_FILE)",
        rule: "must be set with MQTT_TLS_KEY_FILE (the client certificate)",
        read: |raw, c| {
            c.tls.cert_file = Some(raw.into());
            Some(())
        },
        check: |c| match (&c.tls.cert_file, &c.tls.key_file) {
            (None, Some(key)) => rule(
                false,
                "",
                &format!(
                    "must be set with MQTT_TLS_KEY_FILE={} (the client certificate)",
                    key.display()
                ),
            ),
            _ => Ok(()),
        },
        show: |c| path(c.tls.cert_file.as_deref()),
    },
    Entry {
        name: "MQTT_TLS_KEY_FILE",
        default: Some("unset"),
        meaning: "PEM private key of the client certificate",
        rule: "must be set with MQTT_TLS_CERT_FILE (the client certificate's private key)",
        read: |raw, c| {
            c.tls.key_file = Some(raw.into());
            Some(())
        },
        check: |c| match (&c.tls.cert_file, &c.tls.key_file) {
            (Some(cert), None) => rule(
                false,
                "",
                &format!(
                    "must be set with MQTT_TLS_CERT_FILE={} (the client certificate's private key)",
                    cert.display()
                ),
            ),
            _ => Ok(()),
        },
        show: |c| path(c.tls.key_file.as_deref()),
    },
    Entry {
        name: "TARS_METRICS_ADDR",
        default: Some("unset: no endpoint"),
        meaning: "host:port of the /metrics, /healthz and /readyz endpoint",
        rule: "must be an IP address and port, e.g. 127.0.0.1:9464 or 0.0.0.0:9464",
        read: |raw, c| {
            c.metrics_addr = Some(raw.parse().ok()?);
            Some(())
        },
        check: |c| match c.metrics_addr {
            Some(addr) if !cfg!(feature = "metrics") => rule(
                false,
                addr,
                "needs tars-mqtt's `metrics` feature, which this build leaves out",
            ),
            _ => Ok(()),
        },
        show: |c| {
            c.metrics_addr
                .map_or_else(|| "unset".to_owned(), |a| a.to_string())
        },
    },
    Entry {
        name: "TARS_INTAKE_BYTES",
        default: None,
        meaning: "received messages held for a handler whose queue is full; past it, reading pauses (a handler's `intake_bytes` wins)",
        rule: INTAKE_BYTES_RULE,
        read: |raw, c| {
            c.intake_bytes = parse_byte_size(raw)?;
            Some(())
        },
        check: |c| {
            rule(
                (MIN_INTAKE_BYTES..=MAX_INTAKE_BYTES).contains(&c.intake_bytes),
                c.intake_bytes,
                INTAKE_BYTES_RULE,
            )
        },
        show: |c| byte_size(c.intake_bytes),
    },
    Entry {
        name: "TARS_DRAIN_TIMEOUT",
        default: None,
        meaning: "how long a graceful shutdown waits for busy handlers",
        rule: TIMEOUT_RULE,
        read: |raw, c| {
            c.drain_timeout = parse_duration(raw).filter(|d| *d >= Duration::from_millis(1))?;
            Some(())
        },
        check: always,
        show: |c| format!("{:?}", c.drain_timeout),
    },
    Entry {
        name: "TARS_REQUEST_TIMEOUT",
        default: None,
        meaning: "how long a request waits for its reply",
        rule: TIMEOUT_RULE,
        read: |raw, c| {
            c.request_timeout = parse_duration(raw).filter(|d| *d >= Duration::from_millis(1))?;
            Some(())
        },
        check: always,
        show: |c| format!("{:?}", c.request_timeout),
    },
    Entry {
        name: "TARS_RETRIES",
        default: None,
        meaning: "attempts after the first when a handler fails (a handler's `retries` wins)",
        rule: RETRIES_RULE,
        read: |raw, c| {
            c.failure.retries = Some(raw.parse().ok()?);
            Some(())
        },
        check: |c| match c.failure.retries {
            Some(n) if n > MAX_RETRIES => rule(false, n, RETRIES_RULE),
            _ => Ok(()),
        },
        show: |c| c.failure.retries.unwrap_or(0).to_string(),
    },
    Entry {
        name: "TARS_BACKOFF",
        default: None,
        meaning: "the first delay before a retry; it doubles, with jitter, up to 30s",
        rule: "must be a duration of at least 1ms, such as 100ms, 2s or 1m (a bare number is seconds)",
        read: |raw, c| {
            c.failure.backoff = Some(parse_duration(raw)?);
            Some(())
        },
        check: |c| match c.failure.backoff {
            Some(d) if d < Duration::from_millis(1) => rule(
                false,
                format!("{d:?}"),
                "must be a duration of at least 1ms, such as 100ms, 2s or 1m (a bare number is seconds)",
            ),
            _ => Ok(()),
        },
        show: |c| format!("{:?}", c.failure.backoff.unwrap_or(DEFAULT_BACKOFF)),
    },
    Entry {
        name: "TARS_DEAD_LETTER_TOPIC",
        default: Some("unset"),
        meaning: "where a message goes once every attempt failed (a handler's `dead_letter` wins)",
        rule: "must be a topic to publish on",
        read: |raw, c| {
            c.failure.dead_letter = Some(raw.to_owned().into());
            Some(())
        },
        check: |c| match &c.failure.dead_letter {
            Some(topic) => match crate::topic::validate_topic_name(topic) {
                Ok(()) => Ok(()),
                Err(e) => rule(
                    false,
                    topic,
                    &format!("must be a topic to publish on: {}", e.reason),
                ),
            },
            None => Ok(()),
        },
        show: |c| {
            c.failure
                .dead_letter
                .as_deref()
                .unwrap_or("unset")
                .to_owned()
        },
    },
    Entry {
        name: "TARS_WORKER_THREADS",
        default: None,
        meaning: "threads of the service's async runtime",
        rule: WORKER_THREADS_RULE,
        read: |raw, c| {
            c.worker_threads = raw.parse().ok()?;
            Some(())
        },
        check: |c| {
            let ok = (1..=MAX_WORKER_THREADS).contains(&c.worker_threads);
            rule(ok, c.worker_threads, WORKER_THREADS_RULE)
        },
        show: |c| c.worker_threads.to_string(),
    },
    Entry {
        name: "TARS_OUTBOX_DIR",
        default: Some("unset"),
        meaning: "a folder where QoS 1/2 publishes are kept on disk until the broker acknowledged them (off when unset)",
        rule: "must be a folder this process can create and write, used by no other process",
        read: |raw, c| {
            c.outbox.dir = Some(raw.into());
            Some(())
        },
        check: always,
        show: |c| path(c.outbox.dir.as_deref()),
    },
    Entry {
        name: "TARS_OUTBOX_MAX_BYTES",
        default: None,
        meaning: "the most bytes of publishes the durable outbox holds",
        rule: OUTBOX_MAX_BYTES_RULE,
        read: |raw, c| {
            c.outbox.max_bytes = parse_byte_size(raw)?;
            Some(())
        },
        check: |c| {
            rule(
                (1 << 20..=1 << 40).contains(&c.outbox.max_bytes),
                c.outbox.max_bytes,
                OUTBOX_MAX_BYTES_RULE,
            )
        },
        show: |c| byte_size(c.outbox.max_bytes),
    },
    Entry {
        name: "TARS_OUTBOX_FULL",
        default: None,
        meaning: "what a publish does when the durable outbox is full: `wait` (then an error) or `drop_oldest`",
        rule: "must be `wait` or `drop_oldest`",
        read: |raw, c| {
            c.outbox.when_full = raw.parse().ok()?;
            Some(())
        },
        check: always,
        show: |c| c.outbox.when_full.as_str().to_owned(),
    },
    Entry {
        name: "TARS_OUTBOX_FULL_WAIT",
        default: None,
        meaning: "how long a publish waits for room in a full durable outbox before its error",
        rule: TIMEOUT_RULE,
        read: |raw, c| {
            c.outbox.full_wait = parse_duration(raw)?;
            Some(())
        },
        check: |c| {
            let wait = c.outbox.full_wait;
            rule(wait >= Duration::from_millis(1), format!("{wait:?}"), TIMEOUT_RULE)
        },
        show: |c| format!("{:?}", c.outbox.full_wait),
    },
    Entry {
        name: "TARS_OUTBOX_FSYNC",
        default: Some("grouped within 5ms"),
        meaning: "when the durable outbox syncs to disk: `always` (before publish returns) or within a duration",
        rule: OUTBOX_FSYNC_RULE,
        read: |raw, c| {
            c.outbox.fsync = super::outbox::parse_fsync(raw)?;
            Some(())
        },
        check: |c| match c.outbox.fsync {
            super::FsyncPolicy::Grouped(every)
                if every < Duration::from_millis(1) || every > Duration::from_secs(1) =>
            {
                rule(false, format!("{every:?}"), OUTBOX_FSYNC_RULE)
            }
            _ => Ok(()),
        },
        show: |c| super::outbox::show_fsync(c.outbox.fsync),
    },
    Entry {
        name: "TARS_TOPIC_ALIASES",
        default: None,
        meaning: "MQTT 5: publish by topic alias, the topic in full only on its first use",
        rule: BOOL_RULE,
        read: |raw, c| {
            c.topic_aliases = read_bool(raw)?;
            Some(())
        },
        check: always,
        show: |c| c.topic_aliases.to_string(),
    },
    Entry {
        name: "TARS_LOG_FORMAT",
        default: None,
        meaning: "text or json (one JSON object per line)",
        rule: "must be `text` or `json`",
        read: |raw, c| {
            c.log_format = raw.parse().ok()?;
            Some(())
        },
        check: always,
        show: |c| c.log_format.as_str().to_owned(),
    },
];

/// The entry of `name`.
pub(crate) fn entry(name: &str) -> Option<&'static Entry> {
    TABLE.iter().find(|e| e.name == name)
}

/// The variables of the connection's configuration ([`Config::from_env`]), with a plain
/// client's defaults, as `--help` lists them.
pub fn config_variables() -> &'static [Variable] {
    static VARIABLES: OnceLock<Vec<Variable>> = OnceLock::new();
    VARIABLES.get_or_init(|| {
        let fresh = Config::builder("mqtt://localhost", "-").into_unchecked();
        TABLE
            .iter()
            .map(|e| Variable {
                name: e.name,
                default: e
                    .default
                    .unwrap_or_else(|| Box::leak((e.show)(&fresh).into_boxed_str())),
                meaning: e.meaning,
            })
            .collect()
    })
}

/// The effective value of a configuration variable, as `--check` prints it: the
/// broker's password masked, durations in seconds.
pub fn effective_value(config: &Config, name: &str) -> Option<String> {
    entry(name).map(|e| (e.show)(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_variable_has_an_effective_value() {
        let config = Config::builder("mqtt://user:hunter2@localhost:1883", "svc")
            .build()
            .unwrap();
        for variable in config_variables() {
            assert!(
                effective_value(&config, variable.name).is_some(),
                "{} has no effective value",
                variable.name
            );
        }
        let url = effective_value(&config, "MQTT_URL").unwrap();
        assert_eq!(url, "mqtt://user:***@localhost:1883");
    }

    #[test]
    fn defaults_are_the_values_a_fresh_configuration_holds() {
        let defaults: Vec<(&str, &str)> = config_variables()
            .iter()
            .map(|v| (v.name, v.default))
            .collect();
        for (name, default) in [
            ("MQTT_KEEPALIVE", "60"),
            ("MQTT_HEARTBEAT_INTERVAL", "30"),
            ("MQTT_RECONNECT_MIN_DELAY", "1"),
            ("MQTT_RECONNECT_MAX_DELAY", "5"),
            ("MQTT_MAX_PACKET_SIZE", "1048576"),
            ("TARS_INTAKE_BYTES", "4MiB"),
            ("TARS_DRAIN_TIMEOUT", "5s"),
            ("TARS_REQUEST_TIMEOUT", "10s"),
            ("TARS_BACKOFF", "100ms"),
            ("MQTT_VERSION", "3.1.1"),
        ] {
            assert!(defaults.contains(&(name, default)), "{name}: {defaults:?}");
        }
    }

    #[test]
    fn byte_sizes_are_shown_in_their_largest_unit() {
        assert_eq!(byte_size(4 << 20), "4MiB");
        assert_eq!(byte_size(64 << 10), "64KiB");
        assert_eq!(byte_size(1 << 30), "1GiB");
        assert_eq!(byte_size(100_000), "100000");
    }
}
