//! `tars dashboard`: a web page of the fleet, served by the command, its assets embedded
//! in the binary. The page opens a server-sent event stream (`/events`) and redraws as
//! updates arrive: `services` (every second), `graph` (when a manifest changes) and
//! `message` (the live tail, at most a few hundred a second). `/api/services` and
//! `/api/graph` serve the same as JSON.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use axum::{Json, Router};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use crate::bus::Broker;
use crate::Failure;

mod hub;
mod scrape;

use hub::{Hub, Update};

const PAGE: &str = include_str!("page.html");

pub async fn serve(broker: &Broker, listen: SocketAddr) -> Result<(), Failure> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|error| {
            Failure::Runtime(format!("the dashboard cannot listen on {listen}: {error}"))
        })?;
    let (client, received) = broker.subscribe(&["#"]).await?;
    let hub = Hub::new();
    tokio::spawn(hub.clone().run_ingest(received));
    tokio::spawn(hub.clone().run_ticker());
    let app = Router::new()
        .route("/", get(page))
        .route("/events", get(events))
        .route("/api/services", get(services))
        .route("/api/graph", get(graph))
        .with_state(hub);
    let local = listener.local_addr().unwrap_or(listen);
    println!(
        "dashboard: http://{local}/ (broker {}; Ctrl-C stops it)",
        broker.display_url()
    );
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await;
    let _ = client.disconnect().await;
    served.map_err(|error| Failure::Runtime(format!("the dashboard failed: {error}")))
}

async fn page() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE))
}

async fn services(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    Json(hub.services())
}

async fn graph(State(hub): State<Arc<Hub>>) -> impl IntoResponse {
    Json(hub.graph())
}

/// The page's feed: the current services and graph first, then every update.
async fn events(State(hub): State<Arc<Hub>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let first = vec![
        Event::default()
            .event("services")
            .data(serde_json::to_string(&hub.services()).unwrap_or_default()),
        Event::default()
            .event("graph")
            .data(serde_json::to_string(&hub.graph()).unwrap_or_default()),
    ];
    let updates = hub.subscribe();
    let rest = stream::unfold(updates, |mut updates| async move {
        loop {
            match updates.recv().await {
                Ok(Update { event, json }) => {
                    let event = Event::default().event(event).data(&*json);
                    return Some((Ok(event), updates));
                }
                // A slow page skips what it missed; the next services tick catches up.
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let stream = futures_util::StreamExt::chain(stream::iter(first.into_iter().map(Ok)), rest);
    Sse::new(stream).keep_alive(KeepAlive::default())
}
