//! The embedded broker's front door: accepts connections on the public port and pipes
//! each to rumqttd's listener of the MQTT version its CONNECT names, one version at a
//! time.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

use super::backend::Backend;

/// How long a new connection has to send the start of its CONNECT.
const CONNECT_PEEK_TIMEOUT: Duration = Duration::from_secs(10);

/// The protocol level a CONNECT names (4 for 3.1.1, 5 for MQTT 5), read without
/// consuming it; `None` when the bytes are not a CONNECT.
async fn peek_protocol_level(client: &TcpStream) -> Option<u8> {
    let mut head = [0u8; 16];
    let deadline = tokio::time::Instant::now() + CONNECT_PEEK_TIMEOUT;
    loop {
        let read = tokio::time::timeout_at(deadline, client.peek(&mut head))
            .await
            .ok()?
            .ok()?;
        match protocol_level(&head[..read]) {
            Level::Found(level) => return Some(level),
            Level::NotConnect => return None,
            Level::NeedMore if read == head.len() => return None,
            Level::NeedMore => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

enum Level {
    Found(u8),
    NeedMore,
    NotConnect,
}

/// Reads a CONNECT's protocol level: the fixed header (type 1, a remaining length of
/// 1 to 4 bytes), the protocol name ("MQTT", length-prefixed), then the level.
fn protocol_level(bytes: &[u8]) -> Level {
    match bytes.first() {
        None => return Level::NeedMore,
        Some(0x10) => {}
        Some(_) => return Level::NotConnect,
    }
    let Some(length_bytes) = bytes[1..].iter().position(|b| b & 0x80 == 0) else {
        return if bytes.len() < 5 {
            Level::NeedMore
        } else {
            Level::NotConnect
        };
    };
    let name = 1 + length_bytes + 1;
    match bytes.get(name..name + 7) {
        Some([0, 4, b'M', b'Q', b'T', b'T', level]) => Level::Found(*level),
        Some(_) => Level::NotConnect,
        None => Level::NeedMore,
    }
}

/// Accepts connections and pipes each to the backend of its MQTT version until told to
/// stop.
pub(super) async fn forward(
    listener: TcpListener,
    backend: Backend,
    mut stop: oneshot::Receiver<()>,
) {
    let mut connections = JoinSet::new();
    let spoken = Arc::new(AtomicU8::new(0));
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((mut client, _)) => {
                    let spoken = spoken.clone();
                    connections.spawn(async move {
                        // 3.1.1, or anything else: rumqttd's 3.1.1 listener answers
                        // what it makes of it.
                        let level = peek_protocol_level(&client).await.unwrap_or(4);
                        if !admit(&spoken, level) {
                            refuse_version(&mut client, level, spoken.load(Ordering::Acquire))
                                .await;
                            return;
                        }
                        let target = if level == 5 { backend.v5 } else { backend.v3_1_1 };
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = client.set_nodelay(true);
                            let _ = server.set_nodelay(true);
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                }
                Err(error) => tracing::warn!(%error, "embedded broker: accept failed"),
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drop(listener);
    connections.shutdown().await;
}

/// Whether a client of protocol `level` may join: the first client sets the version
/// the broker speaks until it stops. rumqttd 0.20 panics when it routes an MQTT 5
/// message with properties to a 3.1.1 subscriber (and every tars publish under MQTT 5
/// has properties), so the embedded broker does not mix versions; mosquitto does.
fn admit(spoken: &AtomicU8, level: u8) -> bool {
    match spoken.compare_exchange(0, level, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => true,
        Err(first) => first == level,
    }
}

/// Answers a CONNECT of the other version with "unsupported protocol version", in that
/// version's words, and logs why.
async fn refuse_version(client: &mut TcpStream, level: u8, spoken: u8) {
    use tokio::io::AsyncWriteExt;
    let name = |level| if level == 5 { "5" } else { "3.1.1" };
    tracing::error!(
        speaks = name(spoken),
        refused = name(level),
        "the embedded broker refused an MQTT {} client: it serves one MQTT version at a time, and its first client spoke {} (run every client with the same MQTT_VERSION, or use mosquitto for a mixed fleet)",
        name(level),
        name(spoken)
    );
    let connack: &[u8] = if level == 5 {
        &[0x20, 0x03, 0x00, 0x84, 0x00]
    } else {
        &[0x20, 0x02, 0x00, 0x01]
    };
    let _ = client.write_all(connack).await;
    let _ = client.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(bytes: &[u8]) -> Option<u8> {
        match protocol_level(bytes) {
            Level::Found(level) => Some(level),
            Level::NeedMore => Some(0),
            Level::NotConnect => None,
        }
    }

    #[test]
    fn a_connect_names_its_protocol_level() {
        // CONNECT, remaining length 16, "MQTT", level 5.
        let v5 = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 5, 2, 0, 60];
        assert_eq!(level(&v5), Some(5));
        let v4 = [0x10, 16, 0, 4, b'M', b'Q', b'T', b'T', 4, 2, 0, 60];
        assert_eq!(level(&v4), Some(4));
        // A two-byte remaining length.
        let long = [0x10, 0x80, 0x01, 0, 4, b'M', b'Q', b'T', b'T', 5];
        assert_eq!(level(&long), Some(5));
    }

    #[test]
    fn the_first_client_sets_the_version_until_the_broker_stops() {
        let spoken = AtomicU8::new(0);
        assert!(admit(&spoken, 5));
        assert!(admit(&spoken, 5));
        assert!(!admit(&spoken, 4));
        let spoken = AtomicU8::new(0);
        assert!(admit(&spoken, 4));
        assert!(!admit(&spoken, 5));
    }

    #[test]
    fn a_partial_connect_asks_for_more_and_other_bytes_are_not_a_connect() {
        assert_eq!(level(&[]), Some(0));
        assert_eq!(level(&[0x10, 16, 0, 4, b'M']), Some(0));
        assert_eq!(level(b"GET / HTTP/1.1"), None);
        assert_eq!(
            level(&[0x10, 16, 0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3]),
            None
        );
    }
}
