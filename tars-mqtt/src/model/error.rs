//! The errors of the runtime.

use std::time::Duration;

use crate::topic::TopicError;
use crate::ConfigError;

/// Everything that can go wrong in the runtime. Messages say what to do, and never
/// contain passwords.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration breaks a rule.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A topic to publish to is not a valid MQTT topic name.
    #[error("cannot publish to {topic:?}: {source}")]
    InvalidTopic {
        /// The topic given.
        topic: String,
        /// What is wrong with it.
        source: TopicError,
    },
    /// A subscription filter is not a valid MQTT filter.
    #[error("cannot subscribe to {filter:?}: {source}")]
    InvalidFilter {
        /// The filter given.
        filter: String,
        /// What is wrong with it.
        source: TopicError,
    },
    /// Event data could not be serialized.
    #[error("could not serialize the event data to JSON: {0}")]
    Encode(#[source] serde_json::Error),
    /// Event data serialized to something other than a JSON object.
    #[error("event data must serialize to a JSON object (a struct with named fields or a map), not {found}; the Python services reject anything else")]
    DataNotObject {
        /// The kind of JSON value it serialized to.
        found: &'static str,
    },
    /// A message is larger than the configured maximum packet size.
    #[error("a message of {size} bytes exceeds the maximum packet size of {max} bytes; raise MQTT_MAX_PACKET_SIZE or send less")]
    PacketTooLarge {
        /// The packet's size in bytes.
        size: usize,
        /// The maximum: the configured one (`MQTT_MAX_PACKET_SIZE`), or the broker's
        /// when it is smaller (MQTT 5).
        max: usize,
    },
    /// The broker refused a subscription (for example, denied by its ACL).
    #[error("the broker refused the subscription to {filter:?} ({answer}): check the broker's ACL for this client")]
    SubscriptionRefused {
        /// The refused filter (several, comma-separated, when refused together).
        filter: String,
        /// The broker's answer, e.g. `SUBACK return code 0x80 (failure)`.
        answer: String,
    },
    /// A handler takes a `State<T>` that the service does not provide.
    #[error("handler `{handler}` takes `State<{type_name}>`, and no state of that type is provided: add #[tars::service(state = ...)] (or ClientBuilder::state) building a `{type_name}`")]
    MissingState {
        /// The handler's name.
        handler: &'static str,
        /// The state's type.
        type_name: &'static str,
    },
    /// Handler options out of range.
    #[error("invalid handler options: {0}")]
    InvalidOptions(std::borrow::Cow<'static, str>),
    /// TLS could not be set up.
    #[error("could not set up TLS: {0}")]
    Tls(#[from] TlsError),
    /// The metrics endpoint could not listen on its address.
    #[error("the metrics endpoint cannot listen on {addr} (TARS_METRICS_ADDR): {reason}; choose a free port or unset TARS_METRICS_ADDR")]
    MetricsEndpoint {
        /// The address asked for.
        addr: std::net::SocketAddr,
        /// Why not, e.g. "Address already in use".
        reason: String,
    },
    /// MQTT 5: the broker refused a publish with this reason code (in words), e.g. "not
    /// authorized" when its ACL denies the topic.
    #[error("the broker refused the publish on {topic:?}: {reason}")]
    PublishRefused {
        /// The topic published on.
        topic: String,
        /// The broker's reason code, in words.
        reason: String,
    },
    /// A QoS 0 publish was never written: the client was not connected, or the
    /// connection failed before it went out.
    #[error("the QoS 0 publish on {topic:?} was not sent: the connection to the broker was down")]
    NotSent {
        /// The topic published on.
        topic: String,
    },
    /// The durable outbox holds its most bytes (`TARS_OUTBOX_MAX_BYTES`) and the broker
    /// acknowledged nothing while the publisher waited (`TARS_OUTBOX_FULL_WAIT`).
    #[error("the durable outbox is full ({max_bytes} bytes of publishes the broker has not acknowledged) and no room came within {waited:?}: is the broker reachable? raise TARS_OUTBOX_MAX_BYTES, or set TARS_OUTBOX_FULL=drop_oldest")]
    OutboxFull {
        /// Its bound in bytes.
        max_bytes: usize,
        /// How long the publisher waited.
        waited: std::time::Duration,
    },
    /// The durable outbox could not be written (a full disk, a removed folder).
    #[error("{0}")]
    Outbox(String),
    /// The client was shut down or disconnected; it takes no more requests.
    #[error("the client is shut down")]
    Closed,
    /// An operation did not complete in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was waited for.
        what: &'static str,
        /// How long.
        after: Duration,
    },
    /// A received payload could not be decoded.
    #[error(transparent)]
    Decode(#[from] DecodeError),
}

/// `Result` with [`Error`] as its default error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A received payload that is not what the handler expects.
#[derive(Debug, thiserror::Error)]
#[error("payload is not a valid envelope{expected}: {source}")]
pub struct DecodeError {
    expected: String,
    #[source]
    source: serde_json::Error,
}

impl DecodeError {
    pub(crate) fn new<T>(source: serde_json::Error) -> Self {
        let name = std::any::type_name::<T>();
        let expected = if name.starts_with("serde_json::") {
            String::new()
        } else {
            format!(" with `{}` data", short_type_name(name))
        };
        Self { expected, source }
    }
}

fn short_type_name(name: &str) -> &str {
    match name.find('<') {
        Some(generic) => &name[..generic],
        None => name,
    }
    .rsplit("::")
    .next()
    .unwrap_or(name)
}

/// Why TLS could not be set up. Each names the variable and the file to check.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{variable}={}: {reason}", path.display())]
    Unreadable {
        /// The variable that names the file.
        variable: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// A PEM file holds no certificate.
    #[error("{variable}={}: no PEM certificate in the file", path.display())]
    NoCertificate {
        /// The variable that names the file.
        variable: &'static str,
        /// The file.
        path: std::path::PathBuf,
    },
    /// A certificate of `MQTT_TLS_CA_FILE` cannot be an authority.
    #[error("MQTT_TLS_CA_FILE={}: not a usable CA certificate ({reason})", path.display())]
    BadAuthority {
        /// The file.
        path: std::path::PathBuf,
        /// What rustls said.
        reason: String,
    },
    /// `MQTT_TLS_KEY_FILE` holds no usable private key.
    #[error("MQTT_TLS_KEY_FILE={}: no usable private key ({reason})", path.display())]
    BadKey {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The client certificate and its key do not belong together.
    #[error("the client certificate and key do not fit: {0}")]
    KeyMismatch(String),
    /// The crypto provider refused the protocol versions.
    #[error("{0}")]
    Provider(String),
}
