//! An MQTT broker inside the process (feature `broker`), so that a service, a demo or a
//! test runs with nothing installed. It is [rumqttd], whose retained messages, last will
//! and wildcards behave as MQTT says.
//!
//! rumqttd cannot be stopped once started (rumqtt #771), so the broker listens on a
//! loopback port of its own and forwards each connection to a rumqttd instance on a
//! private port. [`EmbeddedBroker::stop`] closes that listener and every connection;
//! [`EmbeddedBroker::restart`] brings up a fresh rumqttd (empty: no retained messages,
//! no sessions) behind the same port. A stopped rumqttd instance stays idle in its own
//! threads until the process ends: start a handful per process, not thousands.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let broker = tars::broker::EmbeddedBroker::start().await?;
//! let config = tars::Config::builder(broker.url(), "demo").build().expect("valid");
//! let client = tars::Client::connect(config).await.expect("connected");
//! client.shutdown().await.expect("clean");
//! broker.stop().await;
//! # Ok(()) }
//! ```
//!
//! [rumqttd]: https://docs.rs/rumqttd

use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

/// Largest payload the embedded broker accepts (above the client's 1 MiB default).
const MAX_PAYLOAD: usize = 4 * 1024 * 1024;
/// How long to wait for a freshly started rumqttd to listen.
const BACKEND_START_TIMEOUT: Duration = Duration::from_secs(10);

/// An MQTT 3.1.1 broker on `127.0.0.1`, running in this process.
#[derive(Debug)]
pub struct EmbeddedBroker {
    port: u16,
    running: Mutex<Option<Running>>,
}

#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    front: JoinHandle<()>,
}

impl EmbeddedBroker {
    /// Starts a broker on a free loopback port.
    pub async fn start() -> io::Result<Self> {
        let listener = TcpListener::bind(loopback(0)).await?;
        let port = listener.local_addr()?.port();
        let broker = Self {
            port,
            running: Mutex::new(None),
        };
        broker.launch(listener).await?;
        Ok(broker)
    }

    /// Starts a broker on the given loopback port.
    pub async fn start_on(port: u16) -> io::Result<Self> {
        let listener = TcpListener::bind(loopback(port)).await?;
        let broker = Self {
            port: listener.local_addr()?.port(),
            running: Mutex::new(None),
        };
        broker.launch(listener).await?;
        Ok(broker)
    }

    /// `mqtt://127.0.0.1:PORT`, ready for `MQTT_URL`.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// The loopback port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Whether it is accepting connections.
    pub fn is_running(&self) -> bool {
        self.lock().is_some()
    }

    /// Stops listening and closes every client connection (clients see the broker go
    /// away). Does nothing if already stopped.
    pub async fn stop(&self) {
        let running = self.lock().take();
        if let Some(running) = running {
            let _ = running.stop.send(());
            let _ = running.front.await;
            tracing::debug!(port = self.port, "embedded broker stopped");
        }
    }

    /// Stops the broker if running, then starts a fresh one (no retained messages, no
    /// sessions) on the same port.
    pub async fn restart(&self) -> io::Result<()> {
        self.stop().await;
        let listener = bind_again(self.port).await?;
        self.launch(listener).await
    }

    async fn launch(&self, listener: TcpListener) -> io::Result<()> {
        let backend = start_backend().await?;
        let (stop, stopped) = oneshot::channel();
        let front = tokio::spawn(forward(listener, backend, stopped));
        *self.lock() = Some(Running { stop, front });
        tracing::debug!(port = self.port, %backend, "embedded broker started");
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Running>> {
        self.running
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        if let Some(running) = self.lock().take() {
            // Aborting the front task drops the listener and every forwarded connection.
            running.front.abort();
        }
    }
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Binds `port` again after a stop; the old listener may take a moment to go.
async fn bind_again(port: u16) -> io::Result<TcpListener> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpListener::bind(loopback(port)).await {
            Ok(listener) => return Ok(listener),
            Err(error) if Instant::now() < deadline && error.kind() == io::ErrorKind::AddrInUse => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(error) => return Err(error),
        }
    }
}

/// Accepts connections and pipes each to the backend until told to stop.
async fn forward(listener: TcpListener, backend: SocketAddr, mut stop: oneshot::Receiver<()>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok((mut client, _)) => {
                    connections.spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(backend).await {
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

/// Starts a rumqttd instance on a private loopback port and waits until it listens.
async fn start_backend() -> io::Result<SocketAddr> {
    let addr = {
        let probe = std::net::TcpListener::bind(loopback(0))?;
        probe.local_addr()?
    };
    let mut broker = rumqttd::Broker::new(rumqttd_config(addr));
    std::thread::Builder::new()
        .name(format!("tars-broker-{}", addr.port()))
        .spawn(move || {
            if let Err(error) = broker.start() {
                tracing::error!(%error, "embedded broker failed");
            }
        })?;
    let deadline = Instant::now() + BACKEND_START_TIMEOUT;
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
    Ok(addr)
}

fn rumqttd_config(listen: SocketAddr) -> rumqttd::Config {
    let server = rumqttd::ServerSettings {
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
        v4: Some(HashMap::from([("tars".to_owned(), server)])),
        v5: None,
        ws: None,
        cluster: None,
        console: None,
        bridge: None,
        prometheus: None,
        metrics: None,
    }
}
