//! The handler as the dispatcher sees it.

use std::future::Future;

use crate::{HandlerResult, Message};

/// A handler as a worker runs it: bound to the context it is called with (the API
/// binds a `Handler` to its `Context`).
pub(crate) trait BoundHandler: Send + Sync + 'static {
    /// Handles one message.
    fn call<'a>(&'a self, message: &'a Message) -> impl Future<Output = HandlerResult> + Send + 'a;
}
