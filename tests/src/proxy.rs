//! A fault-injecting TCP proxy for the fault tests, between a client and the broker on
//! loopback: it can cut every connection, black-hole traffic (accept and read, forward
//! nothing), delay it or throttle it, all driven from the test.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with the bytes it reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forward everything at once.
    Pass,
    /// Read and drop everything, in both directions; the connections stay open.
    BlackHole,
    /// Close new connections at once, as an unreachable broker would (open ones go on).
    Refuse,
    /// Forward each chunk after a delay.
    Delay(Duration),
    /// Forward at most this many bytes per second in each direction.
    Throttle(u64),
}

#[derive(Debug)]
struct Shared {
    mode: Mutex<Mode>,
    /// Bumped by [`FaultProxy::cut_all`]; every connection open at that moment closes.
    cuts: watch::Sender<u64>,
    open: AtomicUsize,
    accepted: AtomicUsize,
}

impl Shared {
    fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A proxy on a free loopback port in front of `127.0.0.1:upstream`. Dropping it stops
/// accepting and closes every connection.
#[derive(Debug)]
pub struct FaultProxy {
    port: u16,
    shared: Arc<Shared>,
    acceptor: JoinHandle<()>,
}

impl FaultProxy {
    /// Starts forwarding to `127.0.0.1:upstream_port`.
    pub async fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port for the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let shared = Arc::new(Shared {
            mode: Mutex::new(Mode::Pass),
            cuts: watch::Sender::new(0),
            open: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
        });
        let upstream = SocketAddr::from(([127, 0, 0, 1], upstream_port));
        let acceptor = tokio::spawn(accept(listener, upstream, shared.clone()));
        Self {
            port,
            shared,
            acceptor,
        }
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `mqtt://127.0.0.1:PORT` of the proxy.
    pub fn url(&self) -> String {
        format!("mqtt://127.0.0.1:{}", self.port)
    }

    /// Closes every open connection (both sides see it drop); new ones are accepted.
    pub fn cut_all(&self) {
        self.shared.cuts.send_modify(|generation| *generation += 1);
    }

    /// Changes what happens to the bytes of every connection, open or new.
    pub fn set_mode(&self, mode: Mode) {
        *self.shared.mode.lock().unwrap_or_else(|p| p.into_inner()) = mode;
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }

    /// Connections accepted since the start.
    pub fn accepted_connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.acceptor.abort();
        self.cut_all();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        if shared.mode() == Mode::Refuse {
            continue; // dropped: closed
        }
        let Ok(broker) = TcpStream::connect(upstream).await else {
            continue; // the broker is down: the client sees its connection close
        };
        let _ = client.set_nodelay(true);
        let _ = broker.set_nodelay(true);
        tokio::spawn(relay(client, broker, shared.clone()));
    }
}

/// Pumps both directions until either side closes or the connection is cut; then both
/// sockets are dropped, which closes them.
async fn relay(client: TcpStream, broker: TcpStream, shared: Arc<Shared>) {
    let mut cuts = shared.cuts.subscribe();
    cuts.borrow_and_update();
    shared.open.fetch_add(1, Ordering::SeqCst);
    let (client_read, client_write) = client.into_split();
    let (broker_read, broker_write) = broker.into_split();
    tokio::select! {
        _ = pump(client_read, broker_write, &shared) => {}
        _ = pump(broker_read, client_write, &shared) => {}
        _ = cuts.changed() => {}
    }
    shared.open.fetch_sub(1, Ordering::SeqCst);
}

async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, shared: &Shared) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        match shared.mode() {
            Mode::Pass | Mode::Refuse => {}
            Mode::BlackHole => continue,
            Mode::Delay(delay) => tokio::time::sleep(delay).await,
            Mode::Throttle(bytes_per_second) => {
                let seconds = n as f64 / bytes_per_second.max(1) as f64;
                tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
            }
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
