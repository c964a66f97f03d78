//! Every environment variable tars reads, with its default and what it sets: the source
//! of a service's `--help` and `--check`.

use super::Config;

/// One environment variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Variable {
    /// Its name.
    pub name: &'static str,
    /// Its value when unset, as a person would write it ("unset" when it has none).
    pub default: &'static str,
    /// What it sets, in a few words.
    pub meaning: &'static str,
}

const fn var(name: &'static str, default: &'static str, meaning: &'static str) -> Variable {
    Variable {
        name,
        default,
        meaning,
    }
}

/// The variables of the connection's configuration ([`Config::from_env`]), with a plain
/// client's defaults.
pub const CONFIG_VARIABLES: &[Variable] = &[
    var(
        "MQTT_URL",
        "required",
        "the broker: mqtt://[user:pass@]host[:port] (also mqtts, ws, wss); several, comma-separated, are tried in order",
    ),
    var(
        "MQTT_CLIENT_ID",
        "required",
        "the client id, also the health and manifest topic's last level",
    ),
    var(
        "MQTT_SOURCE_NAME",
        "the client id",
        "the `source` of the envelopes this service publishes",
    ),
    var("MQTT_KEEPALIVE", "60", "seconds between keepalive pings"),
    var(
        "MQTT_ENABLE_HEALTH",
        "false",
        "retained health on system/health/{client_id}, with a last will",
    ),
    var(
        "MQTT_ENABLE_HEARTBEAT",
        "false",
        "heartbeats on system/keepalive/{client_id}",
    ),
    var(
        "MQTT_HEARTBEAT_INTERVAL",
        "30",
        "seconds between heartbeats (at least 1.0)",
    ),
    var(
        "MQTT_CLEAN_SESSION",
        "true",
        "false: a persistent session, acknowledged after the handlers",
    ),
    var("MQTT_VERSION", "3.1.1", "the protocol: 3.1.1 or 5"),
    var(
        "MQTT_SESSION_EXPIRY",
        "3600 when persistent",
        "seconds the broker keeps a persistent session (MQTT 5)",
    ),
    var(
        "MQTT_DEDUPE_TTL",
        "0 (off)",
        "seconds a message id is remembered for deduplication",
    ),
    var(
        "MQTT_DEDUPE_MAX_ENTRIES",
        "0",
        "how many message ids deduplication remembers",
    ),
    var(
        "MQTT_RECONNECT_MIN_DELAY",
        "1.0",
        "seconds before the first reconnect attempt",
    ),
    var(
        "MQTT_RECONNECT_MAX_DELAY",
        "5.0",
        "the longest wait between reconnect attempts",
    ),
    var(
        "MQTT_MAX_PACKET_SIZE",
        "1048576",
        "the largest message, in bytes, sent or taken",
    ),
    var(
        "MQTT_TLS_CA_FILE",
        "the system's roots",
        "PEM file of the CA that signs the broker's certificate",
    ),
    var(
        "MQTT_TLS_CERT_FILE",
        "unset",
        "PEM client certificate (with MQTT_TLS_KEY_FILE)",
    ),
    var(
        "MQTT_TLS_KEY_FILE",
        "unset",
        "PEM private key of the client certificate",
    ),
    var(
        "TARS_METRICS_ADDR",
        "unset (off)",
        "host:port of the /metrics, /healthz and /readyz endpoint",
    ),
    var(
        "TARS_INTAKE_BYTES",
        "4MiB",
        "received messages held for a handler whose queue is full; past it, reading pauses (a handler's `intake_bytes` wins)",
    ),
    var(
        "TARS_DRAIN_TIMEOUT",
        "5s",
        "how long a graceful shutdown waits for busy handlers",
    ),
    var(
        "TARS_REQUEST_TIMEOUT",
        "10s",
        "how long a request waits for its reply",
    ),
    var(
        "TARS_RETRIES",
        "0",
        "attempts after the first when a handler fails (a handler's `retries` wins)",
    ),
    var(
        "TARS_BACKOFF",
        "100ms",
        "the first delay before a retry; it doubles, with jitter, up to 30s",
    ),
    var(
        "TARS_DEAD_LETTER_TOPIC",
        "unset",
        "where a message goes once every attempt failed (a handler's `dead_letter` wins)",
    ),
];

/// The effective value of a configuration variable, as `--check` prints it: the
/// broker's password masked, durations in seconds.
pub fn effective_value(config: &Config, name: &str) -> Option<String> {
    let seconds = |d: std::time::Duration| format!("{}", d.as_secs_f64());
    let path = |p: Option<&std::path::Path>| {
        p.map_or_else(|| "unset".to_owned(), |p| p.display().to_string())
    };
    let tls = config.tls_files();
    Some(match name {
        "MQTT_URL" => config.brokers_display(),
        "MQTT_CLIENT_ID" => config.client_id().to_owned(),
        "MQTT_SOURCE_NAME" => config.source_name().to_owned(),
        "MQTT_KEEPALIVE" => seconds(config.keepalive()),
        "MQTT_ENABLE_HEALTH" => config.enable_health().to_string(),
        "MQTT_ENABLE_HEARTBEAT" => config.enable_heartbeat().to_string(),
        "MQTT_HEARTBEAT_INTERVAL" => seconds(config.heartbeat_interval()),
        "MQTT_CLEAN_SESSION" => config.clean_session().to_string(),
        "MQTT_VERSION" => config.mqtt_version().as_str().to_owned(),
        "MQTT_SESSION_EXPIRY" => seconds(config.session_expiry()),
        "MQTT_DEDUPE_TTL" => seconds(config.dedupe_ttl()),
        "MQTT_DEDUPE_MAX_ENTRIES" => config.dedupe_max_entries().to_string(),
        "MQTT_RECONNECT_MIN_DELAY" => seconds(config.reconnect_min_delay()),
        "MQTT_RECONNECT_MAX_DELAY" => seconds(config.reconnect_max_delay()),
        "MQTT_MAX_PACKET_SIZE" => config.max_packet_size().to_string(),
        "MQTT_TLS_CA_FILE" => path(tls.ca_file.as_deref()),
        "MQTT_TLS_CERT_FILE" => path(tls.cert_file.as_deref()),
        "MQTT_TLS_KEY_FILE" => path(tls.key_file.as_deref()),
        "TARS_METRICS_ADDR" => config
            .metrics_addr()
            .map_or_else(|| "unset".to_owned(), |a| a.to_string()),
        "TARS_INTAKE_BYTES" => config.intake_bytes().to_string(),
        "TARS_DRAIN_TIMEOUT" => format!("{:?}", config.drain_timeout()),
        "TARS_REQUEST_TIMEOUT" => format!("{:?}", config.request_timeout()),
        "TARS_RETRIES" => config.failure_policy().retries.unwrap_or(0).to_string(),
        "TARS_BACKOFF" => format!(
            "{:?}",
            config
                .failure_policy()
                .backoff
                .unwrap_or(crate::model::failure::DEFAULT_BACKOFF)
        ),
        "TARS_DEAD_LETTER_TOPIC" => config
            .failure_policy()
            .dead_letter
            .as_deref()
            .unwrap_or("unset")
            .to_owned(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_configuration_variable_has_an_effective_value() {
        let config = Config::builder("mqtt://user:hunter2@localhost:1883", "svc")
            .build()
            .unwrap();
        for variable in CONFIG_VARIABLES {
            assert!(
                effective_value(&config, variable.name).is_some(),
                "{} has no effective value",
                variable.name
            );
        }
        let url = effective_value(&config, "MQTT_URL").unwrap();
        assert_eq!(url, "mqtt://user:***@localhost:1883");
    }
}
