//! The rumqttd instance behind the embedded broker: one listener per MQTT version on
//! private loopback ports.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::loopback;

/// Largest payload the embedded broker accepts (above the client's 1 MiB default).
const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// How long to wait for a freshly started rumqttd to listen.
const BACKEND_START_TIMEOUT: Duration = Duration::from_secs(10);

/// rumqttd's listeners, one per MQTT version.
#[derive(Debug, Clone, Copy)]
pub(super) struct Backend {
    pub(super) v3_1_1: SocketAddr,
    pub(super) v5: SocketAddr,
}

/// A free loopback port's address.
fn free_loopback() -> io::Result<SocketAddr> {
    std::net::TcpListener::bind(loopback(0))?.local_addr()
}

/// Starts a rumqttd instance on private loopback ports (one per MQTT version) and waits
/// until it listens.
pub(super) async fn start_backend() -> io::Result<Backend> {
    let backend = Backend {
        v3_1_1: free_loopback()?,
        v5: free_loopback()?,
    };
    let mut broker = rumqttd::Broker::new(rumqttd_config(backend));
    std::thread::Builder::new()
        .name(format!("tars-broker-{}", backend.v3_1_1.port()))
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(%error, "embedded broker failed");
            }
        })?;
    let deadline = Instant::now() + BACKEND_START_TIMEOUT;
    for addr in [backend.v3_1_1, backend.v5] {
        while TcpStream::connect(addr).await.is_err() {
            if Instant::now() >= deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the embedded broker did not listen on {addr} within {BACKEND_START_TIMEOUT:?}"
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    Ok(backend)
}

fn rumqttd_config(backend: Backend) -> rumqttd::Config {
    let server = |listen| rumqttd::ServerSettings {
        name: "tars-embedded".to_owned(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections: rumqttd::ConnectionSettings {
            connection_timeout_ms: 60_000,
            max_payload_size: MAX_PAYLOAD,
            max_inflight_count: 100,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_010,
            max_outgoing_packet_count: 200,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            custom_segment: None,
            initialized_filters: None,
            shared_subscriptions_strategy: Default::default(),
        },
        v4: Some(HashMap::from([("tars".to_owned(), server(backend.v3_1_1))])),
        v5: Some(HashMap::from([("tars".to_owned(), server(backend.v5))])),
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}
