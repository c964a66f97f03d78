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
#[cfg(feature = "broker")]
pub mod broker;
mod client;
pub mod config;
mod connection;
mod context;
mod dedup;
mod envelope;
mod error;
mod event;
mod extract;
mod handler;
pub mod health;
mod message;
mod publish;
pub mod registry;
mod reply;
mod service;
mod span;
#[cfg(feature = "testing")]
pub mod testing;
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
pub use reply::HandlerOutput;
pub use rumqttc;
pub use rumqttc::QoS;
pub use service::{ServiceOutput, ServiceSpec};
pub use tars_mqtt_macros::{handler, service, Event};

/// What a service file needs: `use tars::prelude::*;`.
pub mod prelude {
    pub use crate::{
        handler, service, Client, Config, Context, Envelope, Event, Message, PublishOptions, QoS,
        Result,
    };
}

/// Support for the code the macros generate. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use std::future::Future;
    pub use std::process::ExitCode;

    pub use inventory;
    pub use serde::de::DeserializeOwned;
    pub use serde::Serialize;
    pub use serde_json;
    pub use tokio;

    pub use crate::extract::{decode_envelope, segment, Payload};
    pub use crate::registry::{EventRegistration, HandlerRegistration};
    pub use crate::reply::HandlerOutput;
    pub use crate::service::{run_service, ServiceOutput, ServiceSpec};
    pub use crate::topic::matches_const;
    pub use crate::{
        ClientBuilder, Context, Envelope, Event, Handler, HandlerResult, Message, QoS,
    };
}
