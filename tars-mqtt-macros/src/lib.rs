//! Procedural macros of tars-mqtt. Use them through the `tars` crate:
//! `#[derive(tars::Event)]`, `#[tars::handler(...)]`, `#[tars::service]`.
//!
//! Each macro works in three steps, each in its own file: `parse.rs` reads the attribute
//! and item into its model, `validate.rs` checks the model (collecting every error),
//! `expand.rs` emits the code. On error the compile errors are emitted together with the
//! user's item (or, for a failed derive, a fallback impl), so one mistake does not
//! cascade. Every macro takes `crate = "..."` for a renamed `tars-mqtt` dependency.

mod attr;
mod duration;
mod event;
mod fn_macro;
mod handler;
mod service;
mod settings;
mod size;
mod tokens;
mod topic;

use proc_macro::TokenStream;

/// Implements `tars::Event` for a struct with named fields: `#[event(topic = "a/b")]`,
/// optionally `event_type = "a.b"`, `qos = 0|1|2`, `retain = bool`, `expiry = "30s"`,
/// `crate = "..."`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(input.into()).into()
}

/// Implements `tars::Settings` for a struct with named fields, each read from an
/// environment variable: `#[settings(prefix = "TTS_")]` on the struct,
/// `#[setting(env = "...", default = "...", min = 1, max = 10)]` on a field.
#[proc_macro_derive(Settings, attributes(settings, setting))]
pub fn derive_settings(input: TokenStream) -> TokenStream {
    settings::derive(input.into()).into()
}

/// Registers an async fn as the handler of a topic: `#[tars::handler(topic = "...",
/// qos = 1, share = "group", concurrency = 4, retries = 2, dead_letter = "...")]`.
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::attribute(attr.into(), item.into()).into()
}

/// Turns `async fn main` into a complete service: `#[tars::service(name = "...",
/// worker_threads = 2)]`.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    service::attribute(attr.into(), item.into()).into()
}
