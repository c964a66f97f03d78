//! A service written directly against `tars::Client`: it answers `demo.ping` envelopes
//! on `demo/ping` with a `demo.pong` on `demo/pong` that carries the request's id,
//! publishes health and a heartbeat, and shuts down gracefully on Ctrl-C.
//!
//! ```sh
//! MQTT_URL=mqtt://localhost:1883 cargo run --example client
//! ```

use serde::{Deserialize, Serialize};
use tars::{Client, Config, Context, EnvDefaults, Envelope, PublishOptions, QoS};

#[derive(Deserialize)]
struct Ping {
    text: String,
}

#[derive(Serialize)]
struct Pong {
    text: String,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match Config::from_env_with(&EnvDefaults::service(Some("tars-demo-client"))) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("configuration error: {error}");
            return std::process::ExitCode::from(2);
        }
    };
    match run(config).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> tars::Result<()> {
    let client = Client::connect(config).await?;
    client
        .subscribe_envelope(
            "demo/ping",
            QoS::AtLeastOnce,
            |ping: Envelope<Ping>, ctx: Context| async move {
                let pong = Pong {
                    text: format!("pong: {}", ping.data.text),
                };
                let reply = PublishOptions::new()
                    .qos(QoS::AtLeastOnce)
                    .correlation_id(ping.id);
                ctx.publish_event("demo/pong", "demo.pong", &pong, reply)
                    .await
                    .map(drop)
            },
        )
        .await?;
    tracing::info!("answering demo/ping; Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    client.shutdown().await
}
