//! Why a connection could not be made, or why it ended. The link decides on the variant
//! (and tests match it); its text, in the log and in `/healthz`, says what to check.

use std::io;
use std::time::Duration;

use super::wire::{ConnectCode, EncodeError, OpenError, ProtocolError};
use crate::MqttVersion;

/// Why a connection could not be made, or why it ended.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnectionError {
    /// The byte stream could not be opened: DNS, a refused port, TLS, websocket.
    #[error("{}", describe_open(.0))]
    Open(OpenError),
    /// The CONNECT could not be built or sent.
    #[error("could not send CONNECT: {0}")]
    SendConnect(io::Error),
    /// The last will could not be built.
    #[error("could not build the last will: {0}")]
    Will(Box<crate::Error>),
    /// The broker answered the CONNECT with a refusal.
    #[error("{}", describe_refusal(.code, *.version))]
    Refused {
        code: ConnectCode,
        version: MqttVersion,
    },
    /// The broker answered the CONNECT with another packet than CONNACK.
    #[error("the broker sent something else than CONNACK")]
    NotConnAck,
    /// The CONNECT/CONNACK exchange took too long.
    #[error("timed out after {0:?} while connecting")]
    ConnectTimeout(Duration),
    /// The broker closed the socket (before CONNACK when `before_connack`).
    #[error("the broker closed the connection{}", if *.before_connack { " before CONNACK" } else { "" })]
    Closed { before_connack: bool },
    /// The broker sent DISCONNECT, with its reason under MQTT 5.
    #[error("the broker closed the connection (DISCONNECT{})", .0.as_deref().map(|r| format!(": {r}")).unwrap_or_default())]
    Disconnected(Option<String>),
    /// MQTT 5: the broker sends the client to another server ("use another server",
    /// "server moved"), in its CONNACK or a DISCONNECT.
    #[error("the broker redirects to {reference} ({reason})")]
    Redirected { reason: String, reference: String },
    /// A second CONNACK on one connection.
    #[error("unexpected packet from the broker: a second CONNACK")]
    SecondConnAck,
    /// A packet from the broker could not be read.
    #[error(transparent)]
    Protocol(#[from] ProtocolError),
    /// A packet to the broker could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// Reading the socket failed.
    #[error("reading from the broker failed: {0}")]
    Read(io::Error),
    /// Writing the socket failed.
    #[error("writing to the broker failed: {0}")]
    Write(io::Error),
    /// The writer ended while the reader still had answers for it.
    #[error("the connection's writer stopped")]
    WriterStopped,
    /// A PINGREQ went unanswered for a keepalive interval while reading went on.
    #[error("no answer to the keepalive ping (the connection is half-open)")]
    HalfOpen,
    /// The heartbeat watchdog saw writes not reaching the socket.
    #[error("the heartbeat watchdog forced a reconnect (writes are not reaching the broker)")]
    Watchdog,
}

/// A refused CONNECT in words that say what to check.
fn describe_refusal(code: &ConnectCode, version: MqttVersion) -> String {
    let text = match code {
        ConnectCode::BadUserNamePassword => {
            "the broker refused the user name or password (check the credentials in MQTT_URL)"
        }
        ConnectCode::NotAuthorized => {
            "the broker refused the connection: not authorized (check the credentials in MQTT_URL and the broker's ACL)"
        }
        ConnectCode::BadClientId => "the broker refused the client id (check MQTT_CLIENT_ID)",
        ConnectCode::ServiceUnavailable => "the broker is unavailable",
        ConnectCode::RefusedProtocolVersion => {
            return format!("the broker does not speak MQTT {version} (check MQTT_VERSION)");
        }
        ConnectCode::Refused(reason) => return format!("the broker refused the connection: {reason}"),
        ConnectCode::Redirect { reason, reference } => {
            return format!("the broker redirects to {reference} ({reason})");
        }
        ConnectCode::Accepted => "connection refused",
    };
    text.into()
}

/// A failure to open the socket in words that say what to check.
fn describe_open(error: &OpenError) -> String {
    match error {
        OpenError::Tls(detail) => format!(
            "TLS handshake failed ({detail}): check that MQTT_TLS_CA_FILE (or the platform's \
             roots) holds the authority that signed the broker's certificate, that the host in \
             MQTT_URL is one the certificate names, and the client certificate \
             (MQTT_TLS_CERT_FILE) if the broker requires one"
        ),
        OpenError::Io(error) => describe_io(error),
        other => other.to_string(),
    }
}

/// A socket error, with what it usually means.
fn describe_io(error: &io::Error) -> String {
    use io::ErrorKind;
    let text = error.to_string();
    let unresolved = [
        "lookup address",
        "Name or service not known",
        "No address associated",
        "nodename nor servname",
    ];
    match error.kind() {
        ErrorKind::ConnectionRefused => format!(
            "connection refused ({text}): nothing accepts connections there; is the broker running, and is the port in MQTT_URL right?"
        ),
        ErrorKind::TimedOut => format!(
            "timed out ({text}): the host does not answer; check the address in MQTT_URL and any firewall"
        ),
        _ if unresolved.iter().any(|s| text.contains(s)) => format!(
            "the host name does not resolve ({text}): check the host in MQTT_URL"
        ),
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_errors_say_what_to_check() {
        let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
        let refused = ConnectionError::Open(OpenError::Io(refused)).to_string();
        assert!(refused.starts_with("connection refused"), "{refused}");
        let dns =
            io::Error::other("failed to lookup address information: Name or service not known");
        assert!(describe_io(&dns).starts_with("the host name does not resolve"));
        let tls = ConnectionError::Open(OpenError::Tls("bad certificate".into())).to_string();
        assert!(tls.contains("MQTT_TLS_CA_FILE"), "{tls}");
    }

    #[test]
    fn a_refusal_names_what_to_check() {
        let refused = ConnectionError::Refused {
            code: ConnectCode::BadUserNamePassword,
            version: MqttVersion::V3_1_1,
        };
        assert!(refused.to_string().contains("MQTT_URL"), "{refused}");
        let version = ConnectionError::Refused {
            code: ConnectCode::RefusedProtocolVersion,
            version: MqttVersion::V5,
        };
        assert!(version.to_string().contains("MQTT_VERSION"), "{version}");
        let bye = ConnectionError::Disconnected(Some("Session taken over".into()));
        assert_eq!(
            bye.to_string(),
            "the broker closed the connection (DISCONNECT: Session taken over)"
        );
        assert_eq!(
            ConnectionError::Disconnected(None).to_string(),
            "the broker closed the connection (DISCONNECT)"
        );
    }
}
