//! The handler as the dispatcher sees it.

use std::future::Future;

use crate::{HandlerError, HandlerResult, Message};

/// A handler as a worker runs it: bound to the context it is called with (the API
/// binds a `Handler` to its `Context`).
pub(crate) trait BoundHandler: Send + Sync + 'static {
    /// Handles one message.
    fn call<'a>(&'a self, message: &'a Message) -> impl Future<Output = HandlerResult> + Send + 'a;
}

/// A batch handler as its worker runs it: bound to its context, it handles a batch and
/// names the messages that failed (by position), each with its error.
pub(crate) trait BoundBatchHandler: Send + Sync + 'static {
    /// Handles one batch.
    fn call<'a>(
        &'a self,
        messages: &'a [Message],
    ) -> impl Future<Output = Result<(), Vec<(usize, HandlerError)>>> + Send + 'a;
}
