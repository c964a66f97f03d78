//! The API: what a service calls ([`Client`](crate::Client), [`Context`](crate::Context),
//! requests, raw publishes) and what the macros generate code against (handlers,
//! extractors, replies, the registry, settings). It only calls the runtime.

pub(crate) mod batch;
pub(crate) mod client;
pub(crate) mod context;
pub(crate) mod extract;
pub(crate) mod handler;
pub(crate) mod raw;
pub mod registry;
pub(crate) mod reply;
pub(crate) mod request;
pub(crate) mod settings;
