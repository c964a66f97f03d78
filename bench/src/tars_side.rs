//! The tars side of each benchmark: a client running the bench handlers.

use tars::{Client, Config};

/// A tars client on `url` running only the handler named `handler`.
pub async fn client(url: &str, client_id: &str, handler: Option<&'static str>) -> Client {
    let config = Config::builder(url, client_id)
        .enable_heartbeat(false)
        .build()
        .expect("a valid bench configuration");
    let builder = Client::builder(config);
    let builder = match handler {
        Some(name) => builder.with_handlers(|h| h.name == name),
        None => builder,
    };
    builder
        .connect()
        .await
        .expect("tars connects to the bench broker")
}
