//! What a subscription calls for each message, and how its outcome is reported.

use std::fmt::{self, Display};
use std::future::Future;

use crate::{Context, FailurePolicy, Message};

/// What a handler's queue does when a message arrives and the queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Overflow {
    /// Messages wait for room, held up to the handler's intake bound
    /// ([`HandlerOptions::intake_bytes`]); past it, reading from the broker pauses until
    /// the handler makes room, and the broker holds the rest. A QoS 1/2 message's
    /// acknowledgement is held back until it is queued. While the connection waits for
    /// an answer of the broker (an acknowledgement of a publish, a request's reply),
    /// reading goes on instead, and a QoS 0 message past the bound is dropped and
    /// counted. See `docs/flow-control.md`.
    #[default]
    Block,
    /// The oldest queued message is dropped to make room (latest data wins: partial
    /// transcripts, sensor streams).
    DropOldest,
    /// The arriving message is dropped.
    DropNewest,
}

impl Overflow {
    /// The policy's name as written in `#[tars::handler(overflow = "...")]`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Block => "block",
            Self::DropOldest => "drop_oldest",
            Self::DropNewest => "drop_newest",
        }
    }
}

/// Flow control and failure policy of one subscription: how many messages its handler
/// runs at once, how many wait in its queue under which overflow policy, and what
/// happens when it fails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerOptions {
    /// Messages handled at once (default 1: one at a time, in arrival order).
    pub concurrency: usize,
    /// Queue capacity; `None` for the configuration's `handler_queue_capacity` (1024).
    pub queue_capacity: Option<usize>,
    /// What happens when the queue is full.
    pub overflow: Overflow,
    /// Under `Block`, the bytes of received messages held for this handler while its
    /// queue is full, before intake pauses; `None` for the configuration's
    /// [`intake_bytes`](crate::Config::intake_bytes) (4 MiB).
    pub intake_bytes: Option<usize>,
    /// Retries, backoff and dead letter; what it leaves out comes from the service-wide
    /// policy ([`Config::failure_policy`](crate::Config::failure_policy)).
    pub failure: FailurePolicy,
    /// An ordered group: the handlers of one group share one queue and one worker, so
    /// messages across their topics are handled one at a time in arrival order (their
    /// own `concurrency`, `queue_capacity` and `overflow` then do not apply).
    pub group: Option<std::borrow::Cow<'static, str>>,
}

impl Default for HandlerOptions {
    fn default() -> Self {
        Self {
            concurrency: 1,
            queue_capacity: None,
            overflow: Overflow::Block,
            intake_bytes: None,
            failure: FailurePolicy::default(),
            group: None,
        }
    }
}

/// Why a message was not handled. The worker logs it with the message's topic and
/// envelope id; the service goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    kind: FailureKind,
    reason: String,
}

/// The kinds of [`HandlerError`], logged differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The payload did not decode into what the handler takes (logged at warn).
    Malformed,
    /// The handler returned an error (logged at error).
    Failed,
}

impl HandlerError {
    /// A handler's own error.
    pub fn failed(reason: impl Display) -> Self {
        Self {
            kind: FailureKind::Failed,
            reason: reason.to_string(),
        }
    }

    /// A payload the handler cannot take.
    pub fn malformed(reason: impl Display) -> Self {
        Self {
            kind: FailureKind::Malformed,
            reason: reason.to_string(),
        }
    }

    /// Which kind of failure it is.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }
}

impl Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The outcome of handling one message.
pub type HandlerResult = Result<(), HandlerError>;

/// What a handler may return: `()` or `Result<(), E>` with a displayable `E`.
#[diagnostic::on_unimplemented(
    message = "a tars handler cannot return `{Self}`",
    note = "return `()`, `Result<(), E>` where `E: Display`, or (with `#[tars::handler]`) an event to publish as the reply"
)]
pub trait IntoHandlerResult {
    /// Converts the return value into a [`HandlerResult`].
    fn into_handler_result(self) -> HandlerResult;
}

impl IntoHandlerResult for () {
    fn into_handler_result(self) -> HandlerResult {
        Ok(())
    }
}

impl<E: Display> IntoHandlerResult for Result<(), E> {
    fn into_handler_result(self) -> HandlerResult {
        self.map_err(HandlerError::failed)
    }
}

/// Handles the messages of one subscription: by default one at a time, in arrival
/// order; with `concurrency = N` (see [`HandlerOptions`]), N at once. A failed message
/// may be tried again later by the failure policy.
///
/// Closures `Fn(Message) -> impl Future` implement it through [`handler_fn`];
/// `#[tars::handler]` generates implementations that decode typed events.
pub trait Handler: Send + Sync + 'static {
    /// Handles one message. The future may borrow the message and context.
    fn call<'a>(
        &'a self,
        message: &'a Message,
        ctx: &'a Context,
    ) -> impl Future<Output = HandlerResult> + Send + 'a;

    /// The handler's name in metrics (`handler` label); `#[tars::handler]` gives the
    /// function's name. `None` (closures) labels it with its subscription's filter.
    fn name(&self) -> Option<&'static str> {
        None
    }
}

/// A [`Handler`] made of a closure that takes the message and a context.
#[derive(Clone)]
pub struct HandlerFn<F>(F);

/// Wraps `f(message, ctx)` as a [`Handler`].
///
/// ```no_run
/// # async fn demo(client: tars::Client) -> tars::Result<()> {
/// use tars::{handler_fn, Context, Message, QoS};
///
/// let echo = handler_fn(|message: Message, ctx: Context| async move {
///     ctx.publish_bytes("echo/out", QoS::AtMostOnce, false, message.payload().to_vec()).await
/// });
/// client.subscribe_handler("echo/in", QoS::AtMostOnce, echo).await?;
/// # Ok(()) }
/// ```
pub fn handler_fn<F, Fut, R>(f: F) -> HandlerFn<F>
where
    F: Fn(Message, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    HandlerFn(f)
}

impl<F, Fut, R> Handler for HandlerFn<F>
where
    F: Fn(Message, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    fn call<'a>(
        &'a self,
        message: &'a Message,
        ctx: &'a Context,
    ) -> impl Future<Output = HandlerResult> + Send + 'a {
        let future = (self.0)(message.clone(), ctx.clone());
        async move { future.await.into_handler_result() }
    }
}

/// A [`Handler`] made of a closure that takes only the message (see
/// [`Client::subscribe`](crate::Client::subscribe)).
pub(crate) struct MessageFn<F>(pub(crate) F);

impl<F, Fut, R> Handler for MessageFn<F>
where
    F: Fn(Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    fn call<'a>(
        &'a self,
        message: &'a Message,
        _ctx: &'a Context,
    ) -> impl Future<Output = HandlerResult> + Send + 'a {
        let future = (self.0)(message.clone());
        async move { future.await.into_handler_result() }
    }
}

/// A [`Handler`] that decodes each payload as an `Envelope<T>` first; payloads that do
/// not decode are reported as malformed and skipped.
pub(crate) struct EnvelopeFn<T, F> {
    pub(crate) f: F,
    pub(crate) _data: std::marker::PhantomData<fn() -> T>,
}

impl<T, F, Fut, R> Handler for EnvelopeFn<T, F>
where
    T: serde::de::DeserializeOwned + Send + 'static,
    F: Fn(crate::Envelope<T>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoHandlerResult,
{
    fn call<'a>(
        &'a self,
        message: &'a Message,
        ctx: &'a Context,
    ) -> impl Future<Output = HandlerResult> + Send + 'a {
        let decoded = message.envelope::<T>();
        if let Ok(envelope) = &decoded {
            crate::span::record_envelope(&envelope.id, &envelope.event_type);
        }
        let future = decoded.map(|envelope| (self.f)(envelope, ctx.clone()));
        async move {
            match future {
                Ok(future) => future.await.into_handler_result(),
                Err(e) => Err(HandlerError::malformed(e)),
            }
        }
    }
}
