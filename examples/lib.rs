//! Helpers shared by the examples.

use tars::broker::EmbeddedBroker;

/// The broker an example talks to: `MQTT_URL` when set, else an embedded broker started
/// for the example (kept alive by the returned handle).
pub async fn broker_url() -> std::io::Result<(String, Option<EmbeddedBroker>)> {
    match std::env::var("MQTT_URL") {
        Ok(url) if !url.trim().is_empty() => Ok((url, None)),
        _ => {
            let broker = EmbeddedBroker::start().await?;
            Ok((broker.url(), Some(broker)))
        }
    }
}

/// Logging for the examples: `RUST_LOG`, default `info` (rumqttd's own noise off).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,rumqttd=off".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}
