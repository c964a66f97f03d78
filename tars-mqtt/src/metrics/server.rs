//! The HTTP endpoint of `TARS_METRICS_ADDR` (hyper's HTTP/1 server):
//! - `GET /metrics`: every metric, in the Prometheus text format;
//! - `GET /healthz`: 200 while connected and subscribed, 503 otherwise;
//! - `GET /readyz`: 200 once started, 503 before that and from shutdown on.
//!
//! The probes answer with a small JSON body naming the state. One request per
//! connection, at most [`MAX_CONNECTIONS`] at once, each bounded in time, so a stuck or
//! hostile scraper costs the service nothing more.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::connection::Connection;
use crate::runtime::Shared;
use crate::{Error, Result};

/// Scrapes served at once; more connections are closed at once.
const MAX_CONNECTIONS: usize = 16;
/// How long one connection may take, from accept to the end of the response.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the endpoint's address (before connecting, so that a port in use stops the
/// start with a clear error).
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|error| Error::MetricsEndpoint {
            addr,
            reason: error.to_string(),
        })
}

/// Serves the endpoint on `listener` from a task of the client's, stopped at shutdown.
pub(crate) fn spawn(listener: TcpListener, shared: &Arc<Shared>) {
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("metrics on http://{addr}/metrics (health: /healthz, readiness: /readyz)");
    }
    shared.tasks().metrics = Some(tokio::spawn(serve(listener, shared.clone())));
}

/// Serves the endpoint until the task is aborted (at shutdown).
async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: wait rather than spin.
                tracing::warn!(%error, "metrics endpoint: cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "metrics endpoint: too many connections; closing one");
            continue;
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = shared.clone();
                async move { Ok::<_, Infallible>(answer(&request, &shared)) }
            });
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(5))
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            match tokio::time::timeout(CONNECTION_TIMEOUT, connection).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::debug!(%peer, %error, "metrics endpoint: connection failed")
                }
                Err(_) => tracing::debug!(%peer, "metrics endpoint: connection timed out"),
            }
            drop(slot);
        });
    }
}

fn answer(request: &Request<Incoming>, shared: &Arc<Shared>) -> Response<Full<Bytes>> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET is served\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    match request.uri().path() {
        "/metrics" => {
            let mut response = Response::new(Full::new(Bytes::from(super::render(shared))));
            response.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static(super::render::CONTENT_TYPE),
            );
            response
        }
        "/healthz" => {
            let connection = &shared.connection;
            let mut answer = probe_body(health(connection), Some(connection.broker_display()));
            if let Some(failure) = connection
                .connect_failure
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                answer.1["error"] = serde_json::Value::String(failure);
            }
            respond(answer)
        }
        "/readyz" => respond(probe_body(readiness(&shared.connection), None)),
        _ => plain(
            StatusCode::NOT_FOUND,
            "not found: this endpoint serves /metrics, /healthz and /readyz\n",
        ),
    }
}

/// A probe's verdict: whether it passes, and the state it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Verdict {
    pub(crate) ok: bool,
    pub(crate) state: &'static str,
}

/// Connected and subscribed (on the current connection), and not shutting down.
pub(crate) fn health(connection: &Connection) -> Verdict {
    let status = connection.status();
    let state = if connection.is_closing() || status.stopped {
        "stopping"
    } else if !status.connected {
        "disconnected"
    } else if status.subscribed_epoch != status.epoch {
        "subscribing"
    } else {
        "ok"
    };
    Verdict {
        ok: state == "ok",
        state,
    }
}

/// Started (connected and subscribed once), and not shutting down.
pub(crate) fn readiness(connection: &Connection) -> Verdict {
    let status = connection.status();
    let state = if connection.is_closing() || status.stopped {
        "stopping"
    } else if status.subscribed_epoch == 0 {
        "starting"
    } else {
        "ready"
    };
    Verdict {
        ok: state == "ready",
        state,
    }
}

/// A probe's status code and JSON body; `broker`: the broker the service is on
/// (password masked).
fn probe_body(verdict: Verdict, broker: Option<String>) -> (StatusCode, serde_json::Value) {
    let code = if verdict.ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = serde_json::json!({ "ok": verdict.ok, "state": verdict.state });
    if let Some(broker) = broker {
        body["broker"] = serde_json::Value::String(broker);
    }
    (code, body)
}

fn respond((code, body): (StatusCode, serde_json::Value)) -> Response<Full<Bytes>> {
    let body = body.to_string();
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = code;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn plain(code: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *response.status_mut() = code;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
