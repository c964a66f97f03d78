//! A room-sensor service: template topics and wildcard monitoring.
//!
//! - `temperature` listens on `sensors/{room}/temperature`, gets the room from the topic,
//!   and replies with a `TemperatureAlert` when it is too hot;
//! - `fleet_health` watches `system/health/{service}`, the health of every service on
//!   the bus, and republishes each change as a `FleetStatus`.
//!
//! ```sh
//! MQTT_URL=mqtt://localhost:1883 cargo run --example sensors
//! ```

use serde::{Deserialize, Serialize};
use tars::health::HealthStatus;
use tars::prelude::*;

/// Above this, a reading raises an alert.
const TOO_HOT: f32 = 30.0;

#[derive(Deserialize, Debug)]
struct Reading {
    celsius: f32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "alerts/temperature", qos = 1)]
struct TemperatureAlert {
    room: String,
    celsius: f32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "fleet/status", qos = 1, retain = true)]
struct FleetStatus {
    service: String,
    ok: bool,
    event: Option<String>,
}

#[tars::handler(topic = "sensors/{room}/temperature", qos = 1)]
async fn temperature(room: String, reading: Envelope<Reading>) -> Option<TemperatureAlert> {
    let celsius = reading.data.celsius;
    tracing::info!(room, celsius, "temperature");
    (celsius > TOO_HOT).then_some(TemperatureAlert { room, celsius })
}

#[tars::handler(topic = "system/health/{service}", qos = 1)]
async fn fleet_health(
    service: String,
    status: Envelope<HealthStatus>,
    ctx: Context,
) -> tars::Result<()> {
    if service == ctx.client().config().client_id() {
        return Ok(()); // our own health
    }
    let HealthStatus { ok, event, .. } = status.data;
    tracing::info!(service, ok, event, "fleet health");
    ctx.publish(&FleetStatus { service, ok, event }).await
}

#[tars::service(name = "tars-sensors")]
async fn main() {}
