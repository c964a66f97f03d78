//! # tars-mqtt
//!
//! Declarative MQTT microservices, wire-compatible with the Python TARS stack: the same
//! envelope (`{"id","type","ts","source","data"}`), health and heartbeat topics, and
//! `MQTT_*` environment variables, so a Rust service joins a bus of Python services as a
//! peer.
//!
//! This crate (imported as `tars`) is the runtime: [`Config`], [`Client`], [`Envelope`],
//! [`Event`], handlers and their [`Context`].
//!
//! ```no_run
//! use tars::{Client, Config, Envelope, PublishOptions, QoS};
//!
//! #[tokio::main]
//! async fn main() -> tars::Result<()> {
//!     let client = Client::connect(Config::from_env()?).await?;
//!     client
//!         .subscribe_envelope("stt/final", QoS::AtLeastOnce, |env: Envelope, ctx: tars::Context| async move {
//!             let reply = PublishOptions::new().correlation_id(env.id);
//!             ctx.publish_event("tts/say", "tts.say", &env.data, reply).await.map(drop)
//!         })
//!         .await?;
//!     tokio::signal::ctrl_c().await.ok();
//!     client.shutdown().await
//! }
//! ```
//!
//! See `docs/configuration.md` for every variable and `docs/architecture.md` for the
//! tasks, queues and their policies.

#![warn(missing_docs)]

mod backoff;
mod client;
pub mod config;
mod connection;
mod context;
mod dedup;
mod envelope;
mod error;
mod event;
mod handler;
pub mod health;
mod message;
mod publish;
mod span;
pub mod topic;

pub use client::{Client, ClientBuilder, Stats};
pub use config::{BrokerUrl, Config, ConfigBuilder, ConfigError, EnvDefaults, Secret, Transport};
pub use context::Context;
pub use envelope::{new_id, now_ts, DecodeError, Envelope};
pub use error::{Error, Result};
pub use event::Event;
pub use handler::{
    handler_fn, FailureKind, Handler, HandlerError, HandlerFn, HandlerResult, IntoHandlerResult,
};
pub use message::Message;
pub use publish::PublishOptions;
pub use rumqttc;
pub use rumqttc::QoS;
