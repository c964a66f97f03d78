//! Batch handlers: a handler called with many messages at once, whose messages are
//! acknowledged after the batch. See `docs/batching.md`.

use std::fmt::Display;
use std::future::Future;

use serde::de::DeserializeOwned;

use crate::dispatch::bound::BoundBatchHandler;
use crate::{Context, HandlerError, Message};

/// Why a batch failed: as a whole, or item by item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Every item failed with this error: the batch is tried again whole (after the
    /// handler's backoff), then each message is dead-lettered with it.
    Batch(HandlerError),
    /// Only these items failed (by their position in the batch): only they are tried
    /// again or dead-lettered; the others are done.
    Items(Vec<(usize, HandlerError)>),
}

impl BatchError {
    /// The whole batch failed.
    pub fn batch(reason: impl Display) -> Self {
        Self::Batch(HandlerError::failed(reason))
    }

    /// Only the items at these positions failed, each with its reason.
    pub fn items<E: Display>(failed: impl IntoIterator<Item = (usize, E)>) -> Self {
        Self::Items(
            failed
                .into_iter()
                .map(|(index, reason)| (index, HandlerError::failed(reason)))
                .collect(),
        )
    }
}

/// A failure of the whole batch: `?` on a [`HandlerError`] inside a batch handler.
impl From<HandlerError> for BatchError {
    fn from(error: HandlerError) -> Self {
        Self::Batch(error)
    }
}

/// What a batch handler returns.
pub type BatchResult = Result<(), BatchError>;

/// What a batch handler may return: `()`, `Result<(), E>` with a displayable `E` (the
/// whole batch failed), or a [`BatchResult`] (which items failed).
#[diagnostic::on_unimplemented(
    message = "a tars batch handler cannot return `{Self}`",
    note = "return `()`, `Result<(), E>` where `E: Display`, or `tars::BatchResult` to name the items that failed"
)]
pub trait IntoBatchResult {
    /// Converts the return value into a [`BatchResult`].
    fn into_batch_result(self) -> BatchResult;
}

impl IntoBatchResult for () {
    fn into_batch_result(self) -> BatchResult {
        Ok(())
    }
}

impl IntoBatchResult for BatchResult {
    fn into_batch_result(self) -> BatchResult {
        self
    }
}

impl<E: Display> IntoBatchResult for Result<(), E> {
    fn into_batch_result(self) -> BatchResult {
        self.map_err(BatchError::batch)
    }
}

/// Handles the messages of one subscription in batches (see
/// [`BatchOptions`](crate::BatchOptions)): one batch at a time, in arrival order within
/// each key.
pub trait BatchHandler: Send + Sync + 'static {
    /// Handles one batch.
    fn call<'a>(
        &'a self,
        messages: &'a [Message],
        ctx: &'a Context,
    ) -> impl Future<Output = BatchResult> + Send + 'a;

    /// The handler's name in metrics; `None` labels it with its subscription's filter.
    fn name(&self) -> Option<&'static str> {
        None
    }
}

/// A [`BatchHandler`] that decodes each message as an `Envelope<T>` and hands the
/// `data` of those that decode to a closure; see [`batch_fn`].
pub struct BatchFn<T, F> {
    f: F,
    _data: std::marker::PhantomData<fn() -> T>,
}

/// Wraps `f(items, ctx)` as a [`BatchHandler`] taking the `data` of each message's
/// envelope. A message that does not decode is reported as malformed (dead-lettered or
/// logged, never tried again) and left out of `items`; positions in a
/// [`BatchError::Items`] are positions in `items`.
///
/// ```no_run
/// # async fn demo(client: tars::Client) -> tars::Result<()> {
/// use std::time::Duration;
/// use tars::{batch_fn, BatchOptions, Context, QoS};
///
/// #[derive(serde::Deserialize)]
/// struct Reading { celsius: f64 }
///
/// let options = BatchOptions::new(100, Duration::from_millis(20));
/// let handler = batch_fn(|readings: Vec<Reading>, _ctx: Context| async move {
///     println!("{} readings", readings.len());
/// });
/// client.subscribe_batch("sensors/+/reading", QoS::AtLeastOnce, options, handler).await?;
/// # Ok(()) }
/// ```
pub fn batch_fn<T, F, Fut, R>(f: F) -> BatchFn<T, F>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(Vec<T>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoBatchResult,
{
    BatchFn {
        f,
        _data: std::marker::PhantomData,
    }
}

impl<T, F, Fut, R> BatchHandler for BatchFn<T, F>
where
    T: DeserializeOwned + Send + 'static,
    F: Fn(Vec<T>, Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
    R: IntoBatchResult,
{
    fn call<'a>(
        &'a self,
        messages: &'a [Message],
        ctx: &'a Context,
    ) -> impl Future<Output = BatchResult> + Send + 'a {
        let (items, batch) = decode_batch(messages, |message| {
            message
                .envelope::<T>()
                .map(|envelope| envelope.data)
                .map_err(HandlerError::malformed)
        });
        let call = (!items.is_empty()).then(|| (self.f)(items, ctx.clone()));
        async move {
            let outcome = match call {
                Some(call) => call.await.into_batch_result(),
                None => Ok(()),
            };
            batch.finish(outcome)
        }
    }
}

/// The messages of a batch decoded into the items its handler takes: which message each
/// item came from, and the messages that did not decode (reported as malformed, never
/// tried again). Shared by [`batch_fn`] and `#[tars::handler(batch = N)]`.
#[doc(hidden)]
pub struct DecodedBatch {
    positions: Vec<usize>,
    malformed: Vec<(usize, HandlerError)>,
}

/// Decodes each message with `decode`: the items that decode, in order, and the batch
/// that maps the handler's outcome back onto the messages.
#[doc(hidden)]
pub fn decode_batch<I>(
    messages: &[Message],
    mut decode: impl FnMut(&Message) -> Result<I, HandlerError>,
) -> (Vec<I>, DecodedBatch) {
    let mut items = Vec::with_capacity(messages.len());
    let mut batch = DecodedBatch {
        positions: Vec::with_capacity(messages.len()),
        malformed: Vec::new(),
    };
    for (index, message) in messages.iter().enumerate() {
        match decode(message) {
            Ok(item) => {
                items.push(item);
                batch.positions.push(index);
            }
            Err(error) => batch.malformed.push((index, error)),
        }
    }
    (items, batch)
}

impl DecodedBatch {
    /// The handler's outcome for the items, as an outcome for the messages: positions
    /// in the items become positions in the batch, and the malformed messages fail.
    pub fn finish(self, outcome: BatchResult) -> BatchResult {
        let mut failed = self.malformed;
        match outcome {
            Ok(()) => {}
            Err(BatchError::Batch(error)) => {
                failed.extend(self.positions.iter().map(|&index| (index, error.clone())));
            }
            Err(BatchError::Items(items)) => failed.extend(
                items
                    .into_iter()
                    .filter_map(|(item, error)| self.positions.get(item).map(|&i| (i, error))),
            ),
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(BatchError::Items(failed)),
        }
    }
}

/// A batch handler bound to the context it is called with.
pub(crate) struct BoundBatch<H> {
    pub(crate) handler: H,
    pub(crate) ctx: Context,
}

impl<H: BatchHandler> BoundBatchHandler for BoundBatch<H> {
    async fn call(&self, messages: &[Message]) -> Result<(), Vec<(usize, HandlerError)>> {
        match self.handler.call(messages, &self.ctx).await {
            Ok(()) => Ok(()),
            Err(BatchError::Batch(error)) => {
                Err((0..messages.len()).map(|i| (i, error.clone())).collect())
            }
            Err(BatchError::Items(failed)) => Err(failed),
        }
    }
}
