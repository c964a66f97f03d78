//! `tars-router`: the py-tars router as a tars service. Same client id, topics,
//! environment variables and defaults as the Python router; see README.md.

use std::process::ExitCode;

use tars::Context;
use tars_router::policy::Router;
use tars_router::settings::RouterSettings;
use tars_router::wire::{self, Shared};

/// py-tars's router connects to this broker when `MQTT_URL` is unset.
const DEFAULT_MQTT_URL: &str = "mqtt://tars:pass@127.0.0.1:1883";

#[tars::service(name = "tars-router")]
async fn serve(ctx: Context) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let settings = RouterSettings::from_env()?;
    let shared = Shared::new(Router::new(settings));
    wire::subscribe_all(&ctx, &shared).await?;
    wire::announce_ready(&ctx, &shared).await?;
    tracing::info!("router ready");
    Ok(())
}

fn main() -> ExitCode {
    // The router's own variables are checked before the service starts, so that a bad
    // one exits 2 naming it, as a bad MQTT_* variable does.
    let _ = dotenvy::dotenv();
    let describing = std::env::args().nth(1).is_some_and(|flag| {
        matches!(
            flag.as_str(),
            "-h" | "--help" | "-V" | "--version" | "--asyncapi"
        )
    });
    if !describing {
        if let Err(error) = RouterSettings::from_env() {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
        if std::env::var_os("MQTT_URL").is_none() {
            // Before the service starts any thread.
            std::env::set_var("MQTT_URL", DEFAULT_MQTT_URL);
        }
    }
    serve()
}
