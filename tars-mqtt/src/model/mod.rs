//! The vocabulary every layer shares: errors, events, a handler's failures and its
//! options, and the state handlers are given.

pub(crate) mod error;
pub(crate) mod event;
pub(crate) mod failure;
pub(crate) mod handler_options;
pub(crate) mod state;
