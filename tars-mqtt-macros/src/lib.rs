//! Procedural macros of tars-mqtt. Use them through the `tars` crate:
//! `#[derive(tars::Event)]`, `#[tars::handler(...)]`, `#[tars::service]`.
//!
//! Each macro works in three steps kept apart: parse the attribute and item into plain
//! structs, validate them (collecting every error), expand. On error the compile errors
//! are emitted together with the user's item, so one mistake does not cascade.

mod attr;
mod duration;
mod event;
mod fn_macro;
mod handler;
mod service;
mod topic;

use proc_macro::TokenStream;

/// Implements `tars::Event` for a struct with named fields: `#[event(topic = "a/b")]`,
/// optionally `event_type = "a.b"`, `qos = 0|1|2`, `retain = bool`.
#[proc_macro_derive(Event, attributes(event))]
pub fn derive_event(input: TokenStream) -> TokenStream {
    event::derive(input.into()).into()
}

/// Registers an async fn as the handler of a topic: `#[tars::handler(topic = "...",
/// qos = 1, share = "group")]`.
#[proc_macro_attribute]
pub fn handler(attr: TokenStream, item: TokenStream) -> TokenStream {
    handler::attribute(attr.into(), item.into()).into()
}

/// Turns `async fn main` into a complete service: `#[tars::service(name = "...")]`.
#[proc_macro_attribute]
pub fn service(attr: TokenStream, item: TokenStream) -> TokenStream {
    service::attribute(attr.into(), item.into()).into()
}
