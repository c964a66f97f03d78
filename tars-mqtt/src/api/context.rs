//! What a handler gets to act on the bus.

use std::ops::Deref;

use crate::{Client, HandlerError, State};

/// A handler's access to the bus: everything a [`Client`] does (publishing events,
/// health and raw payloads, requests), through `Deref`, plus the service's state.
/// Cheap to clone and `Send + 'static`, so a handler may move it into a spawned task.
///
/// ```no_run
/// # async fn demo(ctx: tars::Context) -> tars::Result<()> {
/// ctx.publish_bytes("echo/out", tars::QoS::AtMostOnce, false, b"hi".to_vec()).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
pub struct Context {
    client: Client,
}

impl Context {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// The service instance's state of type `T`, if it was provided (handlers of
    /// `#[tars::handler]` take it as a `State<T>` argument instead).
    pub fn state<T: Send + Sync + 'static>(&self) -> Option<crate::State<T>> {
        self.client.shared().states.get::<T>()
    }

    /// The underlying client.
    pub fn client(&self) -> &Client {
        &self.client
    }
}

/// A context publishes and requests as its client does: one surface, not two.
impl Deref for Context {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// The state a `#[tars::handler]` argument takes (generated code).
#[doc(hidden)]
pub fn state<T: Send + Sync + 'static>(ctx: &Context) -> Result<State<T>, HandlerError> {
    ctx.state::<T>().ok_or_else(|| {
        HandlerError::failed(format!(
            "no state of type `{}`: provide it with #[tars::service(state = ...)] or ClientBuilder::state",
            std::any::type_name::<T>()
        ))
    })
}
