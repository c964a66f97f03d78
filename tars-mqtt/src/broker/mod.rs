//! An MQTT broker inside the process (feature `broker`), so that a service, a demo or a
//! test runs with nothing installed. It is [rumqttd], whose retained messages, last will
//! and wildcards behave as MQTT says. It speaks MQTT 3.1.1 or 5 on the same port: each
//! connection goes to rumqttd's listener of the version its CONNECT names. It serves one
//! version at a time, the first client's, until it stops: rumqttd 0.20 cannot route an
//! MQTT 5 message to a 3.1.1 subscriber, so a client of the other version is refused
//! with "unsupported protocol version". A mixed 3.1.1/5 fleet needs mosquitto.
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

mod backend;
mod front;

use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use backend::start_backend;
use front::forward;

/// An MQTT broker on `127.0.0.1`, running in this process: 3.1.1 or 5, whichever its
/// first client speaks.
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
        tracing::debug!(
            port = self.port,
            v3_1_1 = %backend.v3_1_1,
            v5 = %backend.v5,
            "embedded broker started"
        );
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
