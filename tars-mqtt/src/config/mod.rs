//! Service configuration: from the environment (`MQTT_*` variables, the same as the
//! Python stack's) or built in code. Every rule is checked once, here; an invalid value
//! is a [`ConfigError`] naming the variable, the value (password redacted) and the rule.

mod broker_url;
mod env;
mod outbox;
mod parse;
mod secret;
mod variables;

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::model::failure::FailurePolicy;

pub(crate) use broker_url::redact as redact_url;
pub use broker_url::{BrokerUrl, Transport};

pub(crate) use env::some_from_process;
pub use env::EnvDefaults;
pub use outbox::{
    FsyncPolicy, OutboxConfig, OutboxFull, DEFAULT_OUTBOX_FULL_WAIT, DEFAULT_OUTBOX_MAX_BYTES,
    DEFAULT_OUTBOX_SYNC_INTERVAL,
};
pub(crate) use parse::parse_duration;
pub use secret::Secret;
pub(crate) use variables::INTAKE_BYTES_RULE;
pub use variables::{config_variables, effective_value, Variable};

/// Default largest MQTT packet accepted or sent: 1 MiB (rumqttc alone allows 10 KiB and
/// drops the connection on anything larger).
pub const DEFAULT_MAX_PACKET_SIZE: usize = 1024 * 1024;
/// Default capacity of each handler's queue of received messages.
pub const DEFAULT_HANDLER_QUEUE_CAPACITY: usize = 1024;
/// Default bound on the bytes of received messages that wait for a full handler queue
/// (`TARS_INTAKE_BYTES`): past it, intake pauses (see `docs/flow-control.md`).
pub const DEFAULT_INTAKE_BYTES: usize = 4 * 1024 * 1024;
/// The smallest intake bound allowed: 64 KiB.
pub const MIN_INTAKE_BYTES: usize = 64 * 1024;
/// The largest intake bound allowed: 1 GiB.
pub const MAX_INTAKE_BYTES: usize = 1024 * 1024 * 1024;
/// Default bound on how long a request waits for its reply.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Default bound on how long shutdown waits for in-flight handlers.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Threads of a service's runtime unless it says otherwise: one. The connection, the
/// dispatcher and the handlers then run on one worker thread, so a message goes from
/// the socket to its handler without waking another thread (measured in
/// `docs/performance.md`: on par with a hand-written consumer, where a runtime per core
/// cost 1.3 times its CPU time at QoS 1). It is still a multi-thread runtime, so
/// `tokio::task::block_in_place` and `spawn_blocking` work; a service whose handlers
/// compute in parallel asks for more (`worker_threads = N` or `TARS_WORKER_THREADS`).
pub const DEFAULT_WORKER_THREADS: usize = 1;

/// A configuration value that breaks its rule. `Display` is one line that names the
/// variable and says what is expected; passwords are never part of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("{variable} is not set: {hint}")]
    Missing {
        /// The environment variable.
        variable: &'static str,
        /// What to set it to.
        hint: &'static str,
    },
    /// A variable is set to a value that breaks its rule.
    #[error("{variable}={value:?} is invalid: {rule}")]
    Invalid {
        /// The environment variable.
        variable: &'static str,
        /// The value given (for `MQTT_URL`, with the password replaced by `***`).
        value: String,
        /// What a valid value looks like.
        rule: String,
    },
    /// A setting made in code, which no environment variable sets, breaks its rule.
    #[error("ConfigBuilder::{setting}({value}) is invalid: {rule}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// The value given.
        value: String,
        /// What a valid value looks like.
        rule: &'static str,
    },
}

impl ConfigError {
    /// What the error is about: the environment variable, or for a setting made in code
    /// that no variable sets, the [`ConfigBuilder`] method.
    pub fn variable(&self) -> &'static str {
        match self {
            Self::Missing { variable, .. } | Self::Invalid { variable, .. } => variable,
            Self::InvalidSetting { setting, .. } => setting,
        }
    }
}

/// Validated settings of a [`Client`](crate::Client).
///
/// Build one from the environment with [`Config::from_env`] or in code with
/// [`Config::builder`]:
///
/// ```
/// use std::time::Duration;
///
/// let config = tars::Config::builder("mqtt://localhost:1883", "tars-stt")
///     .enable_health(true)
///     .heartbeat_interval(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(config.source_name(), "tars-stt");
/// # Ok::<(), tars::ConfigError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    /// The brokers, in the order they are tried (never empty).
    brokers: Vec<BrokerUrl>,
    client_id: String,
    source_name: String,
    keepalive: Duration,
    enable_health: bool,
    clean_session: bool,
    enable_heartbeat: bool,
    heartbeat_interval: Duration,
    dedupe_ttl: Duration,
    dedupe_max_entries: usize,
    reconnect_min_delay: Duration,
    reconnect_max_delay: Duration,
    max_packet_size: usize,
    tls: TlsFiles,
    handler_queue_capacity: usize,
    intake_bytes: usize,
    drain_timeout: Duration,
    request_timeout: Duration,
    mqtt_version: MqttVersion,
    session_expiry: Duration,
    metrics_addr: Option<SocketAddr>,
    metrics: bool,
    failure: FailurePolicy,
    worker_threads: usize,
    log_format: LogFormat,
    outbox: OutboxConfig,
    topic_aliases: bool,
}

/// The MQTT protocol version a client speaks (`MQTT_VERSION`).
///
/// The envelope, the health and heartbeat topics, the last will and the manifest are the
/// same under both, so a 3.1.1 peer and a v5 one talk as before; v5 adds message
/// properties (response topic, correlation data, user properties, expiry) and reason
/// codes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum MqttVersion {
    /// MQTT 3.1.1, the default, as the Python services speak.
    #[default]
    V3_1_1,
    /// MQTT 5.
    V5,
}

impl MqttVersion {
    /// As written in `MQTT_VERSION`: `3.1.1` or `5`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V3_1_1 => "3.1.1",
            Self::V5 => "5",
        }
    }
}

impl fmt::Display for MqttVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for MqttVersion {
    type Err = &'static str;

    /// `3.1.1` (also `3`, `4`, `v3.1.1`) or `5` (also `5.0`, `v5`).
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().trim_start_matches(['v', 'V']) {
            "3.1.1" | "3" | "4" => Ok(Self::V3_1_1),
            "5" | "5.0" => Ok(Self::V5),
            _ => Err("must be 3.1.1 or 5"),
        }
    }
}

/// How a service writes its logs (`TARS_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum LogFormat {
    /// Lines of text, the default (coloured at a terminal unless `NO_COLOR` is set).
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// As written in `TARS_LOG_FORMAT`: `text` or `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Json => "json",
        }
    }
}

impl std::str::FromStr for LogFormat {
    type Err = &'static str;

    /// `text` or `json`, in any case.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            _ => Err("must be `text` or `json`"),
        }
    }
}

/// How long the broker keeps a persistent session under MQTT 5 when
/// `MQTT_SESSION_EXPIRY` is not set.
pub const DEFAULT_SESSION_EXPIRY: Duration = Duration::from_secs(3600);

/// Files for TLS (`mqtts://`, `wss://`): a CA bundle to trust instead of the platform's
/// roots, and a client certificate with its key. Paths only; they are read at connect.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// `MQTT_TLS_CA_FILE`: PEM certificates of the authorities to trust.
    pub ca_file: Option<PathBuf>,
    /// `MQTT_TLS_CERT_FILE`: the client certificate chain, PEM.
    pub cert_file: Option<PathBuf>,
    /// `MQTT_TLS_KEY_FILE`: the client certificate's private key, PEM.
    pub key_file: Option<PathBuf>,
}

impl Config {
    /// Starts a configuration for the broker at `url` (an `MQTT_URL`) with all other
    /// settings at their defaults (health and heartbeat off, as for the Python client).
    pub fn builder(url: impl Into<String>, client_id: impl Into<String>) -> ConfigBuilder {
        ConfigBuilder::new(url.into(), client_id.into())
    }

    /// Reads the `MQTT_*` variables of the process environment with the defaults of a
    /// plain [`Client`](crate::Client) (health and heartbeat off).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_env_with(&EnvDefaults::client())
    }

    /// Reads the `MQTT_*` variables of the process environment with the given defaults.
    pub fn from_env_with(defaults: &EnvDefaults) -> Result<Self, ConfigError> {
        env::load(defaults, &env::process_lookup)
    }

    /// Reads the `MQTT_*` variables through `lookup` (a variable's value, or `None` when
    /// unset) instead of the process environment, e.g. from a map in a test.
    pub fn from_lookup(
        defaults: &EnvDefaults,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        env::load(defaults, &|name| Ok(lookup(name)))
    }

    /// The first broker of the list: the one tried first.
    pub fn broker(&self) -> &BrokerUrl {
        &self.brokers[0]
    }

    /// Every broker, in the order they are tried (`MQTT_URL` may list several,
    /// comma-separated; on connection loss the client tries the next).
    pub fn brokers(&self) -> &[BrokerUrl] {
        &self.brokers
    }

    /// The brokers as `MQTT_URL` would list them, passwords masked.
    pub fn brokers_display(&self) -> String {
        self.brokers
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }
    /// The MQTT client id; also names the health and heartbeat topics.
    pub fn client_id(&self) -> &str {
        &self.client_id
    }
    /// The `source` written in every published envelope.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }
    /// The MQTT keepalive (ping) interval.
    pub fn keepalive(&self) -> Duration {
        self.keepalive
    }
    /// Whether sessions are clean (`MQTT_CLEAN_SESSION`, default true); with a persistent
    /// session, QoS 1/2 messages are acknowledged after their handlers finished.
    pub fn clean_session(&self) -> bool {
        self.clean_session
    }
    /// The MQTT version spoken (`MQTT_VERSION`, default 3.1.1).
    pub fn mqtt_version(&self) -> MqttVersion {
        self.mqtt_version
    }
    /// Under MQTT 5, how long the broker keeps a persistent session after the
    /// connection is gone (`MQTT_SESSION_EXPIRY`, default one hour); a clean session
    /// expires at once.
    pub fn session_expiry(&self) -> Duration {
        if self.clean_session {
            Duration::ZERO
        } else {
            self.session_expiry
        }
    }
    /// Whether MQTT 5 publishes go by topic alias (`TARS_TOPIC_ALIASES`).
    pub fn topic_aliases(&self) -> bool {
        self.topic_aliases
    }
    /// Whether health is published on `system/health/{client_id}`.
    pub fn enable_health(&self) -> bool {
        self.enable_health
    }
    /// Whether a heartbeat is published on `system/keepalive/{client_id}`.
    pub fn enable_heartbeat(&self) -> bool {
        self.enable_heartbeat
    }
    /// The heartbeat period.
    pub fn heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }
    /// How long a seen message is remembered for dedup; zero when dedup is off.
    pub fn dedupe_ttl(&self) -> Duration {
        self.dedupe_ttl
    }
    /// How many seen messages dedup remembers at most.
    pub fn dedupe_max_entries(&self) -> usize {
        self.dedupe_max_entries
    }
    /// Whether dedup is on.
    pub fn dedupe_enabled(&self) -> bool {
        !self.dedupe_ttl.is_zero() && self.dedupe_max_entries > 0
    }
    /// The first reconnect delay.
    pub fn reconnect_min_delay(&self) -> Duration {
        self.reconnect_min_delay
    }
    /// The largest reconnect delay.
    pub fn reconnect_max_delay(&self) -> Duration {
        self.reconnect_max_delay
    }
    /// The TLS files: CA bundle and client certificate, when set.
    pub fn tls_files(&self) -> &TlsFiles {
        &self.tls
    }
    /// The largest packet sent or accepted, in bytes.
    pub fn max_packet_size(&self) -> usize {
        self.max_packet_size
    }
    /// The capacity of each handler's queue.
    pub fn handler_queue_capacity(&self) -> usize {
        self.handler_queue_capacity
    }
    /// The bound, in bytes, on received messages waiting for each handler whose queue is
    /// full (`TARS_INTAKE_BYTES`, default 4 MiB); a handler's `intake_bytes` wins.
    pub fn intake_bytes(&self) -> usize {
        self.intake_bytes
    }
    /// How long shutdown waits for in-flight handlers.
    pub fn drain_timeout(&self) -> Duration {
        self.drain_timeout
    }
    /// How long a request waits for its reply.
    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }
    /// Where the metrics and health endpoint listens (`TARS_METRICS_ADDR`); `None`: off.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }
    /// Whether handler and request durations are recorded for metrics: with an
    /// endpoint, or when asked for with [`ConfigBuilder::metrics`].
    pub fn metrics_on(&self) -> bool {
        self.metrics || self.metrics_addr.is_some()
    }
    /// The service-wide failure policy: what a handler's own policy leaves out
    /// (`TARS_RETRIES`, `TARS_BACKOFF`, `TARS_DEAD_LETTER_TOPIC`).
    pub fn failure_policy(&self) -> &FailurePolicy {
        &self.failure
    }
    /// Threads of the async runtime that `#[tars::service]` starts
    /// (`TARS_WORKER_THREADS`, default [`DEFAULT_WORKER_THREADS`]); a [`Client`](crate::Client)
    /// built by hand runs on the caller's runtime and ignores it.
    pub fn worker_threads(&self) -> usize {
        self.worker_threads
    }

    /// The durable outbox's settings (off while its folder is unset).
    pub fn outbox(&self) -> &OutboxConfig {
        &self.outbox
    }
    /// How `#[tars::service]` writes its logs (`TARS_LOG_FORMAT`).
    pub fn log_format(&self) -> LogFormat {
        self.log_format
    }
    /// A builder holding this configuration, to change a few settings.
    pub fn to_builder(&self) -> ConfigBuilder {
        ConfigBuilder {
            url: self.brokers_display(),
            parsed_urls: Some(self.brokers.clone()),
            config: self.clone(),
        }
    }
}

impl fmt::Display for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "broker={} client_id={} source={} keepalive={}s health={} heartbeat={}",
            self.brokers_display(),
            self.client_id,
            self.source_name,
            self.keepalive.as_secs(),
            self.enable_health,
            self.enable_heartbeat,
        )?;
        if self.enable_heartbeat {
            write!(f, "@{:?}", self.heartbeat_interval)?;
        }
        if self.dedupe_enabled() {
            write!(
                f,
                " dedupe={:?}/{}",
                self.dedupe_ttl, self.dedupe_max_entries
            )?;
        }
        write!(
            f,
            " reconnect={:?}..{:?} max_packet_size={}",
            self.reconnect_min_delay, self.reconnect_max_delay, self.max_packet_size
        )?;
        if let Some(addr) = self.metrics_addr {
            write!(f, " metrics=http://{addr}")?;
        }
        Ok(())
    }
}

/// Builds a [`Config`] in code; [`ConfigBuilder::build`] applies the same rules as the
/// environment, and its errors name the matching environment variable.
#[derive(Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ConfigBuilder {
    url: String,
    parsed_urls: Option<Vec<BrokerUrl>>,
    config: Config,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("url", &broker_url::redact(&self.url))
            .field("config", &self.config)
            .finish()
    }
}

impl ConfigBuilder {
    fn new(url: String, client_id: String) -> Self {
        let placeholder = BrokerUrl {
            transport: Transport::Tcp,
            host: String::new(),
            port: 1883,
            username: None,
            password: None,
            path: None,
        };
        Self {
            url,
            parsed_urls: None,
            config: Config {
                brokers: vec![placeholder],
                source_name: String::new(),
                client_id,
                keepalive: Duration::from_secs(60),
                enable_health: false,
                clean_session: true,
                enable_heartbeat: false,
                heartbeat_interval: Duration::from_secs(30),
                dedupe_ttl: Duration::ZERO,
                dedupe_max_entries: 0,
                reconnect_min_delay: Duration::from_secs(1),
                reconnect_max_delay: Duration::from_secs(5),
                max_packet_size: DEFAULT_MAX_PACKET_SIZE,
                tls: TlsFiles::default(),
                handler_queue_capacity: DEFAULT_HANDLER_QUEUE_CAPACITY,
                intake_bytes: DEFAULT_INTAKE_BYTES,
                drain_timeout: DEFAULT_DRAIN_TIMEOUT,
                request_timeout: DEFAULT_REQUEST_TIMEOUT,
                mqtt_version: MqttVersion::V3_1_1,
                session_expiry: DEFAULT_SESSION_EXPIRY,
                metrics_addr: None,
                metrics: false,
                failure: FailurePolicy::default(),
                worker_threads: DEFAULT_WORKER_THREADS,
                log_format: LogFormat::Text,
                outbox: OutboxConfig::new(),
                topic_aliases: false,
            },
        }
    }

    /// The brokers to try in order, replacing the URL (or list) the builder started with.
    pub fn brokers(mut self, brokers: impl IntoIterator<Item = BrokerUrl>) -> Self {
        self.parsed_urls = Some(brokers.into_iter().collect());
        self
    }

    /// The `source` of published envelopes (default: the client id).
    pub fn source_name(mut self, source: impl Into<String>) -> Self {
        self.config.source_name = source.into();
        self
    }
    /// The MQTT keepalive, whole seconds from 1 to 65535 (default 60 s).
    pub fn keepalive(mut self, keepalive: Duration) -> Self {
        self.config.keepalive = keepalive;
        self
    }
    /// A clean session (the default), or a persistent one (`false`): the broker keeps
    /// the subscriptions and the QoS 1/2 messages of this client id while it is away,
    /// and tars acknowledges each QoS 1/2 message only after its handlers finished, so
    /// that a message whose handler never finished is delivered again.
    pub fn clean_session(mut self, clean: bool) -> Self {
        self.config.clean_session = clean;
        self
    }
    /// The MQTT version to speak (default 3.1.1).
    pub fn mqtt_version(mut self, version: MqttVersion) -> Self {
        self.config.mqtt_version = version;
        self
    }
    /// Under MQTT 5, how long the broker keeps a persistent session (whole seconds,
    /// default one hour). Without effect on a clean session or under 3.1.1, where a
    /// persistent session lasts until the broker drops it.
    pub fn session_expiry(mut self, expiry: Duration) -> Self {
        self.config.session_expiry = expiry;
        self
    }
    /// MQTT 5: publish by topic alias, up to the broker's Topic Alias Maximum, the topic
    /// in full only on its first use on a connection (default off;
    /// `TARS_TOPIC_ALIASES`; see `docs/mqtt5.md`).
    pub fn topic_aliases(mut self, on: bool) -> Self {
        self.config.topic_aliases = on;
        self
    }
    /// Publish health on `system/health/{client_id}` (default off).
    pub fn enable_health(mut self, on: bool) -> Self {
        self.config.enable_health = on;
        self
    }
    /// Publish a heartbeat on `system/keepalive/{client_id}` (default off).
    pub fn enable_heartbeat(mut self, on: bool) -> Self {
        self.config.enable_heartbeat = on;
        self
    }
    /// The heartbeat period, at least 1 s (default 30 s).
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = interval;
        self
    }
    /// Turn dedup on: remember each message for `ttl`, at most `max_entries` of them.
    /// `ttl` zero turns it off.
    pub fn dedupe(mut self, ttl: Duration, max_entries: usize) -> Self {
        self.config.dedupe_ttl = ttl;
        self.config.dedupe_max_entries = max_entries;
        self
    }
    /// Reconnect backoff bounds: min ≥ 0.1 s, max ≥ 0.5 s and ≥ min (default 1 s and 5 s).
    pub fn reconnect_delays(mut self, min: Duration, max: Duration) -> Self {
        self.config.reconnect_min_delay = min;
        self.config.reconnect_max_delay = max;
        self
    }
    /// The largest packet sent or accepted, in bytes (default 1 MiB).
    pub fn max_packet_size(mut self, bytes: usize) -> Self {
        self.config.max_packet_size = bytes;
        self
    }
    /// Trust the certificate authorities in this PEM file for `mqtts://` and `wss://`
    /// (instead of the platform's roots), e.g. a private CA.
    pub fn tls_ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.tls.ca_file = Some(path.into());
        self
    }
    /// Authenticate with this client certificate (PEM, the chain) and private key (PEM).
    pub fn tls_client_auth(mut self, cert: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.config.tls.cert_file = Some(cert.into());
        self.config.tls.key_file = Some(key.into());
        self
    }
    /// The capacity of each handler's queue (default 1024).
    pub fn handler_queue_capacity(mut self, capacity: usize) -> Self {
        self.config.handler_queue_capacity = capacity;
        self
    }
    /// The bound on received messages waiting for a handler whose queue is full, in
    /// bytes (default 4 MiB, from 64 KiB to 1 GiB): past it, intake pauses and the
    /// broker holds the rest (see `docs/flow-control.md`).
    pub fn intake_bytes(mut self, bytes: usize) -> Self {
        self.config.intake_bytes = bytes;
        self
    }
    /// How long shutdown waits for in-flight handlers (default 5 s).
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.config.drain_timeout = timeout;
        self
    }

    /// How long a request waits for its reply (default 10 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.request_timeout = timeout;
        self
    }

    /// Keeps QoS 1/2 publishes in a durable outbox in `dir` until the broker
    /// acknowledged them: `publish().await` returns once the publish is on disk, and
    /// what a killed process owed is sent first after its restart
    /// (`TARS_OUTBOX_DIR`; see `docs/reliability.md`).
    pub fn outbox_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.config.outbox.dir = Some(dir.into());
        self
    }
    /// The most bytes of publishes the durable outbox holds (`TARS_OUTBOX_MAX_BYTES`,
    /// default 64 MiB).
    pub fn outbox_max_bytes(mut self, bytes: usize) -> Self {
        self.config.outbox.max_bytes = bytes;
        self
    }
    /// What a publish does when the durable outbox is full, and how long it waits
    /// under [`OutboxFull::Wait`] (`TARS_OUTBOX_FULL`, `TARS_OUTBOX_FULL_WAIT`).
    pub fn outbox_when_full(mut self, when_full: OutboxFull, wait: Duration) -> Self {
        self.config.outbox.when_full = when_full;
        self.config.outbox.full_wait = wait;
        self
    }
    /// When the durable outbox syncs to disk (`TARS_OUTBOX_FSYNC`).
    pub fn outbox_fsync(mut self, policy: FsyncPolicy) -> Self {
        self.config.outbox.fsync = policy;
        self
    }
    /// Threads of the runtime `#[tars::service]` starts, at least 1 (default 1).
    pub fn worker_threads(mut self, threads: usize) -> Self {
        self.config.worker_threads = threads;
        self
    }

    /// How `#[tars::service]` writes its logs (default text).
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.config.log_format = format;
        self
    }

    /// Serves `/metrics`, `/healthz` and `/readyz` on `addr` (`TARS_METRICS_ADDR`; needs
    /// the `metrics` feature, on by default). See `docs/observability.md`.
    pub fn metrics_addr(mut self, addr: SocketAddr) -> Self {
        self.config.metrics_addr = Some(addr);
        self
    }

    /// Records handler and request durations without an endpoint, for
    /// [`Client::metrics_text`](crate::Client::metrics_text) (default: only with an
    /// endpoint).
    pub fn metrics(mut self, on: bool) -> Self {
        self.config.metrics = on;
        self
    }

    /// The service-wide failure policy (`TARS_RETRIES`, `TARS_BACKOFF`,
    /// `TARS_DEAD_LETTER_TOPIC`); each handler's own values win over it. See
    /// `docs/failure-policies.md`.
    pub fn failure_policy(mut self, policy: FailurePolicy) -> Self {
        self.config.failure = policy;
        self
    }

    /// The configuration being built, for the environment's reader.
    fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// The configuration as it stands, unchecked: a fresh builder's holds the defaults.
    fn into_unchecked(self) -> Config {
        self.config
    }

    /// Checks every rule and returns the configuration, or the first broken rule.
    pub fn build(self) -> Result<Config, ConfigError> {
        let mut config = self.config;
        config.brokers = match self.parsed_urls {
            Some(urls) if !urls.is_empty() => urls,
            Some(_) => {
                return Err(ConfigError::Missing {
                    variable: "MQTT_URL",
                    hint: "the broker list is empty: give at least one broker URL",
                })
            }
            None => broker_url::parse_list(&self.url)?,
        };
        if config.source_name.is_empty() {
            config.source_name = config.client_id.clone();
        }
        validate(&config)?;
        Ok(config)
    }
}

/// Every rule of the configuration: each variable's (from its table), then the
/// settings made in code.
fn validate(c: &Config) -> Result<(), ConfigError> {
    if c.client_id.trim().is_empty() {
        return Err(ConfigError::Missing {
            variable: "MQTT_CLIENT_ID",
            hint: "set it to a name unique on the broker, e.g. MQTT_CLIENT_ID=tars-stt",
        });
    }
    for entry in variables::TABLE {
        entry.validate(c)?;
    }
    if c.handler_queue_capacity == 0 {
        return Err(ConfigError::InvalidSetting {
            setting: "handler_queue_capacity",
            value: "0".into(),
            rule: "must be at least 1",
        });
    }
    Ok(())
}
