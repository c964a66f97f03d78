//! What a subscription calls for each message, and how its outcome is reported.

use std::fmt::Display;
use std::future::Future;

use crate::dispatch::bound::BoundHandler;
use crate::{Context, HandlerError, HandlerResult, Message};

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
/// order; with `concurrency = N` (see [`HandlerOptions`](crate::HandlerOptions)), N at once. A failed message
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
            crate::telemetry::span::record_envelope(&envelope.id, &envelope.event_type);
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

/// A handler bound to the context it is called with: what the dispatcher's workers run.
pub(crate) struct Bound<H> {
    pub(crate) handler: H,
    pub(crate) ctx: Context,
}

impl<H: Handler> BoundHandler for Bound<H> {
    fn call<'a>(&'a self, message: &'a Message) -> impl Future<Output = HandlerResult> + Send + 'a {
        self.handler.call(message, &self.ctx)
    }
}
