//! # tars-mqtt
//!
//! Declarative MQTT microservices, wire-compatible with the Python TARS stack: the same
//! envelope (`{"id","type","ts","source","data"}`), health and heartbeat topics, and
//! `MQTT_*` environment variables, so a Rust service joins a bus of Python services as a
//! peer. The crate is imported as `tars`.
//!
//! ## A service in ten lines
//!
//! ```no_run
//! use tars::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Event, Serialize, Deserialize)]
//! #[event(topic = "stt/final", event_type = "stt.final")]
//! struct SttFinal { text: String, confidence: f32 }
//!
//! #[derive(Event, Serialize, Deserialize)]
//! #[event(topic = "tts/say")]                 // event_type defaults to "tts.say"
//! struct TtsSay { text: String }
//!
//! #[tars::handler(topic = "stt/final", qos = 1)]
//! async fn speak(ev: SttFinal, ctx: Context) -> tars::Result<()> {
//!     ctx.publish(&TtsSay { text: ev.text }).await
//! }
//!
//! #[tars::service]
//! async fn main() {}
//! ```
//!
//! Run it with `MQTT_URL=mqtt://localhost:1883 MQTT_CLIENT_ID=speaker cargo run`. It
//! connects (retrying while the broker is down), subscribes `speak`, publishes health
//! `ready` and a heartbeat, and on SIGINT/SIGTERM drains its handlers, publishes health
//! `shutdown` and disconnects cleanly.
//!
//! ## Events
//!
//! [`#[derive(Event)]`](macro@Event) binds a struct with named fields to a topic; it
//! implements the [`Event`] trait, whose consts give the topic, envelope type, QoS and
//! retain flag. The topic is checked at compile time (no wildcards, not empty).
//!
//! ## Handlers
//!
//! [`#[tars::handler]`](macro@handler) subscribes an `async fn`. Its arguments, in any
//! order: one payload (an event, or [`Envelope<T>`] for the whole envelope), [`Context`]
//! to publish, [`Message`] for the raw message, and one argument per `{segment}` of a
//! topic template:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use tars::prelude::*;
//!
//! #[derive(Deserialize)]
//! struct Reading { celsius: f32 }
//!
//! #[derive(Event, Serialize, Deserialize)]
//! #[event(topic = "alerts/temperature", qos = 1)]
//! struct Alert { room: String, celsius: f32 }
//!
//! /// Replies with an alert when a room is too hot; the alert's envelope id is the
//! /// reading's, so the sender can correlate them.
//! #[tars::handler(topic = "sensors/{room}/temperature", qos = 1)]
//! async fn temperature(room: String, reading: Envelope<Reading>) -> Option<Alert> {
//!     let celsius = reading.data.celsius;
//!     (celsius > 30.0).then_some(Alert { room, celsius })
//! }
//! # fn main() {}
//! ```
//!
//! A handler returns `()`, `Result<(), E>`, or an event (also `Option<event>`,
//! `Result<event, E>`) that is published as the reply. Mistakes (an invalid filter, a
//! topic that can never match the event's, an argument nothing can supply, …) are
//! compile errors; `docs/compile-errors.md` lists them all. Malformed payloads, handler
//! errors and panics are logged with the topic and envelope id, and the service goes on.
//!
//! ## The service
//!
//! [`#[tars::service]`](macro@service) generates `main`: logging (`RUST_LOG`,
//! `TARS_LOG_FORMAT=json`), `.env`, [`Config`] from the environment, connection, every
//! registered handler, health and heartbeat, the body once subscribed, and graceful
//! shutdown. Exit codes: 0, 2 for a configuration error, 1 otherwise.
//!
//! ## Without macros
//!
//! The runtime underneath is a library: [`Config`], [`Client`], [`Envelope`],
//! [`PublishOptions`].
//!
//! ```no_run
//! use tars::{Client, Config, Context, Envelope, PublishOptions, QoS};
//!
//! # async fn run() -> tars::Result<()> {
//! let client = Client::connect(Config::from_env()?).await?;
//! client
//!     .subscribe_envelope("stt/final", QoS::AtLeastOnce, |env: Envelope, ctx: Context| async move {
//!         let reply = PublishOptions::new().correlation_id(env.id);
//!         ctx.publish_event("tts/say", "tts.say", &env.data, reply).await.map(drop)
//!     })
//!     .await?;
//! tokio::signal::ctrl_c().await.ok();
//! client.shutdown().await
//! # }
//! ```
//!
//! ## Testing and the embedded broker
//!
//! With the `testing` feature, [`testing`] runs your handlers against a broker inside the
//! test process ([`broker::EmbeddedBroker`], feature `broker`) and gives the test a peer
//! on the bus. See `docs/testing.md`.
//!
//! ## Further reading
//!
//! In the repository's `docs/`: the guide, configuration (every variable), architecture
//! (tasks, queues and their policies, reconnect, shutdown), testing, migration from the
//! Python client, extending, performance (the benchmark and its figures), reliability and
//! security (guarantees per fault, queue bounds, TLS), compile errors.

#![warn(missing_docs)]

mod api;
#[cfg(feature = "bench")]
#[doc(hidden)]
pub mod bench;
#[cfg(feature = "broker")]
pub mod broker;
pub mod config;
mod connection;
mod contract;
mod dispatch;
mod durable;
mod metrics;
mod model;
#[cfg(test)]
mod proptests;
mod runtime;
mod service;
mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod topic;

pub use api::registry;
pub use contract::{asyncapi, health, manifest};
#[cfg(feature = "otel")]
pub use telemetry::otel;
pub use telemetry::trace;

pub use api::batch::{batch_fn, BatchError, BatchFn, BatchHandler, BatchResult, IntoBatchResult};
pub use api::client::{Client, ClientBuilder};
pub use api::context::Context;
pub use api::handler::{handler_fn, Handler, HandlerFn, IntoHandlerResult};
pub use api::raw::MqttHandle;
pub use api::reply::HandlerOutput;
pub use api::request::DynamicRequest;
pub use api::settings::{FromSetting, Settings, SettingsRegistration};
pub use config::{
    BrokerUrl, Config, ConfigBuilder, ConfigError, EnvDefaults, MqttVersion, Secret, Transport,
};
pub use connection::publish::{Confirmation, PublishOptions};
pub use contract::envelope::{new_id, now_ts, Envelope};
pub use contract::properties::{Properties, ENVELOPE_CONTENT_TYPE};
pub use dispatch::message::Message;
pub use metrics::stats::{HandlerStats, Stats};
pub use model::error::{DecodeError, Error, Result, TlsError};
pub use model::event::Event;
pub use model::failure::{
    DeadLetter, EffectivePolicy, FailureKind, FailurePolicy, HandlerError, HandlerResult,
    DEAD_LETTER_TYPE, DEFAULT_BACKOFF, DEFAULT_MAX_BACKOFF,
};
pub use model::handler_options::{
    BatchOptions, HandlerOptions, Overflow, RetainHandling, SubscribeOptions,
};
pub use model::state::{State, StateNeed};
pub use rumqttc;
pub use rumqttc::QoS;
/// JSON values, for envelopes of any data (`Envelope<tars::serde_json::Value>`)
/// without a dependency of its own.
pub use serde_json;
pub use service::{ServiceOutput, ServiceSpec};
pub use tars_mqtt_macros::{handler, service, Event, Settings};
/// The async runtime tars runs on, for a service's own tasks and timers
/// (`tars::tokio::time::sleep`) without a dependency of its own.
pub use tokio;
/// The logging tars uses, for a service's own log lines (`tars::tracing::info!`) without
/// a dependency of its own.
pub use tracing;

/// What a service file needs: `use tars::prelude::*;`.
pub mod prelude {
    pub use crate::{
        handler, service, BatchError, BatchResult, Client, Config, Context, Envelope, Event,
        Message, PublishOptions, QoS, Result, State,
    };
}

/// Support for the code the macros generate. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use std::borrow::Cow;
    pub use std::future::Future;
    pub use std::process::ExitCode;

    pub use inventory;
    pub use serde::de::DeserializeOwned;
    pub use serde::Serialize;
    pub use serde_json;
    pub use tokio;

    pub use crate::api::batch::{decode_batch, DecodedBatch};
    pub use crate::api::context::state;
    pub use crate::api::extract::{
        decode_envelope, decode_event, segment, EventEnvelope, EventOf, NotAnEvent, Payload,
    };
    pub use crate::api::registry::{EventRegistration, HandlerRegistration};
    pub use crate::api::reply::HandlerOutput;
    pub use crate::api::settings::{
        out_of_range, provide as provide_settings, setting, Settings, SettingsRegistration,
    };
    pub use crate::config::{ConfigError, Variable};
    pub use crate::model::state::StateNeed;
    pub use crate::service::{run_service, ServiceOutput, ServiceSpec};
    pub use crate::topic::matches_const;

    /// The JSON schema of `T`, draft 7 with subschemas inlined (feature `schemars`).
    #[cfg(feature = "schemars")]
    pub fn schema_of<T: schemars::JsonSchema>() -> serde_json::Value {
        let generator = schemars::generate::SchemaSettings::draft07()
            .with(|settings| settings.inline_subschemas = true)
            .into_generator();
        generator.into_root_schema_for::<T>().to_value()
    }
    pub use crate::{
        BatchError, BatchHandler, BatchOptions, BatchResult, ClientBuilder, Context, Envelope,
        Event, FailurePolicy, Handler, HandlerOptions, HandlerResult, IntoBatchResult, Message,
        Overflow, QoS, RetainHandling, SubscribeOptions,
    };
}
