//! What a `#[tars::handler]` function may return, and how a returned event becomes the
//! reply: published on its topic with the incoming envelope's id (the correlation
//! convention of the Python stack). When an MQTT 5 request names a response topic, the
//! reply goes there instead, with the request's correlation data.

use std::fmt::Display;
use std::future::Future;

use serde::Serialize;

use crate::api::extract::envelope_id;
use crate::connection::publish::ResponseTo;
use crate::{Context, Event, HandlerError, HandlerResult, Message};

/// A handler's return value: `()`, `Result<(), E>`, an event, `Option<event>` or
/// `Result<event, E>` (with `E: Display`).
#[diagnostic::on_unimplemented(
    message = "a tars handler cannot return `{Self}`",
    label = "not a handler return type",
    note = "return `()`, `Result<(), E>` with `E: Display`, an event (a type with `#[derive(Event)]`) to publish as the reply, `Option<event>` or `Result<event, E>`"
)]
pub trait HandlerOutput: Send {
    /// The topic and event type of the reply, when the handler returns an event.
    const REPLY: Option<(&'static str, &'static str)> = None;

    /// Publishes the reply, if any, correlated with `request_id` (or the id of the
    /// incoming envelope), and reports the outcome.
    fn respond<'a>(
        self,
        ctx: &'a Context,
        message: &'a Message,
        request_id: Option<&'a str>,
    ) -> impl Future<Output = HandlerResult> + Send + 'a;
}

impl HandlerOutput for () {
    fn respond<'a>(
        self,
        _: &'a Context,
        _: &'a Message,
        _: Option<&'a str>,
    ) -> impl Future<Output = HandlerResult> + Send + 'a {
        std::future::ready(Ok(()))
    }
}

impl<E: Display + Send> HandlerOutput for Result<(), E> {
    fn respond<'a>(
        self,
        _: &'a Context,
        _: &'a Message,
        _: Option<&'a str>,
    ) -> impl Future<Output = HandlerResult> + Send + 'a {
        std::future::ready(self.map_err(HandlerError::failed))
    }
}

impl<T: Event + Serialize + Send + Sync + 'static> HandlerOutput for T {
    const REPLY: Option<(&'static str, &'static str)> = Some((T::TOPIC, T::EVENT_TYPE));

    fn respond<'a>(
        self,
        ctx: &'a Context,
        message: &'a Message,
        request_id: Option<&'a str>,
    ) -> impl Future<Output = HandlerResult> + Send + 'a {
        publish_reply(self, ctx, message, request_id)
    }
}

impl<T: Event + Serialize + Send + Sync + 'static> HandlerOutput for Option<T> {
    const REPLY: Option<(&'static str, &'static str)> = Some((T::TOPIC, T::EVENT_TYPE));

    async fn respond<'a>(
        self,
        ctx: &'a Context,
        message: &'a Message,
        request_id: Option<&'a str>,
    ) -> HandlerResult {
        match self {
            Some(event) => publish_reply(event, ctx, message, request_id).await,
            None => Ok(()),
        }
    }
}

impl<T: Event + Serialize + Send + Sync + 'static, E: Display + Send + 'static> HandlerOutput
    for Result<T, E>
{
    const REPLY: Option<(&'static str, &'static str)> = Some((T::TOPIC, T::EVENT_TYPE));

    async fn respond<'a>(
        self,
        ctx: &'a Context,
        message: &'a Message,
        request_id: Option<&'a str>,
    ) -> HandlerResult {
        match self {
            Ok(event) => publish_reply(event, ctx, message, request_id).await,
            Err(error) => Err(HandlerError::failed(error)),
        }
    }
}

async fn publish_reply<T: Event + Serialize>(
    event: T,
    ctx: &Context,
    message: &Message,
    request_id: Option<&str>,
) -> HandlerResult {
    let id = match request_id {
        Some(id) => Some(std::borrow::Cow::Borrowed(id)),
        None => envelope_id(message).map(std::borrow::Cow::Owned),
    };
    // An MQTT 5 requester that named a response topic gets the answer there.
    if let Some(topic) = message.response_topic() {
        let to = ResponseTo {
            topic,
            correlation_data: message.correlation_data(),
        };
        let id = id.unwrap_or_else(|| crate::new_id().into());
        return ctx
            .client()
            .publish_response(&event, &id, to)
            .await
            .map_err(|e| {
                HandlerError::failed(format!("could not publish the reply on {topic}: {e}"))
            });
    }
    let published = match id {
        Some(id) => ctx.client().publish_correlated(&event, &id).await,
        None => ctx.client().publish(&event).await,
    };
    published.map_err(|e| {
        HandlerError::failed(format!("could not publish the reply on {}: {e}", T::TOPIC))
    })
}
