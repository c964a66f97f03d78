//! Request/reply with the Python stack's correlation convention: a reply's envelope id
//! is its request's id. A request registers its id, publishes, and waits for the first
//! envelope of the expected type with that id on the reply topic.
//!
//! Under MQTT 5 a request also names a response topic private to the client
//! (`tars/replies/{client_id}`) and carries its id as correlation data: an MQTT 5
//! responder (a tars handler, paho, FastStream) answers there, a 3.1.1 one (the Python
//! services) on the reply's own topic as before; either answer resolves the request.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::contract::envelope::{self, new_id};
use crate::{
    Client, Context, Envelope, Error, Event, Handler, HandlerResult, Message, MqttVersion,
    PublishOptions, QoS, Result,
};

/// A request whose event types are known only at run time (tools such as the `tars`
/// command); see [`Client::request_dynamic`].
#[derive(Debug, Clone, Copy)]
pub struct DynamicRequest<'a> {
    /// The topic to publish the request on.
    pub topic: &'a str,
    /// The request's envelope type.
    pub event_type: &'a str,
    /// The request's data (a JSON object).
    pub data: &'a serde_json::Value,
    /// The request's QoS.
    pub qos: QoS,
    /// The topic the reply comes on (3.1.1 and Python responders).
    pub reply_topic: &'a str,
    /// Only a reply of this envelope type counts; `None`: any envelope with the
    /// request's id.
    pub reply_type: Option<&'a str>,
}

/// What one request publishes and waits for.
struct Outgoing<'a, D: ?Sized> {
    topic: &'a str,
    event_type: &'a str,
    data: &'a D,
    qos: QoS,
    reply_topic: &'a str,
    reply_type: Option<Cow<'static, str>>,
    timeout: Duration,
}

/// The handler of a reply topic: routes each reply to its request.
struct ReplyRouter;

impl Handler for ReplyRouter {
    async fn call<'a>(&'a self, message: &'a Message, ctx: &'a Context) -> HandlerResult {
        ctx.client().shared().requests.resolve(message);
        Ok(())
    }
}

impl Client {
    /// Publishes `request` and waits for its reply: the first `Resp` envelope on
    /// `Resp::TOPIC` whose id is the request's (the reply of a `#[tars::handler]` that
    /// returns `Resp`, or of a Python service publishing with `correlate=request.id`).
    /// Waits at most the configured request timeout (10 s by default); dropping the
    /// future cancels the request.
    ///
    /// ```no_run
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct LlmRequest { prompt: String }
    /// # impl tars::Event for LlmRequest { const TOPIC: &'static str = "llm/request"; const EVENT_TYPE: &'static str = "llm.request"; }
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct LlmResponse { reply: String }
    /// # impl tars::Event for LlmResponse { const TOPIC: &'static str = "llm/response"; const EVENT_TYPE: &'static str = "llm.response"; }
    /// # async fn demo(client: tars::Client) -> tars::Result<()> {
    /// let response: LlmResponse = client.request(&LlmRequest { prompt: "hi".into() }).await?;
    /// # Ok(()) }
    /// ```
    pub async fn request<Req, Resp>(&self, request: &Req) -> Result<Resp>
    where
        Req: Event + Serialize,
        Resp: Event + DeserializeOwned,
    {
        let timeout = self.config().request_timeout();
        self.request_envelope::<Req, Resp>(request, timeout)
            .await
            .map(|reply| reply.data)
    }

    /// [`Client::request`] with a timeout of your choice, returning the whole reply
    /// envelope.
    pub async fn request_envelope<Req, Resp>(
        &self,
        request: &Req,
        timeout: Duration,
    ) -> Result<Envelope<Resp>>
    where
        Req: Event + Serialize,
        Resp: Event + DeserializeOwned,
    {
        let started = Instant::now();
        let message = self
            .send_request(Outgoing {
                topic: Req::TOPIC,
                event_type: Req::EVENT_TYPE,
                data: request,
                qos: Req::QOS,
                reply_topic: Resp::TOPIC,
                reply_type: Some(Cow::Borrowed(Resp::EVENT_TYPE)),
                timeout,
            })
            .await?;
        self.connection()
            .request_answered(Req::EVENT_TYPE, started.elapsed());
        Ok(envelope::decode(message.payload())?)
    }

    /// Publishes a request whose types are known only at run time and waits at most
    /// `timeout` for its reply: the first envelope on `reply_topic` (or, under MQTT 5,
    /// on this client's response topic) whose id is the request's.
    ///
    /// ```no_run
    /// # async fn demo(client: tars::Client) -> tars::Result<()> {
    /// use tars::DynamicRequest;
    /// let data = serde_json::json!({"prompt": "hi"});
    /// let request = DynamicRequest {
    ///     topic: "llm/request",
    ///     event_type: "llm.request",
    ///     data: &data,
    ///     qos: tars::QoS::AtLeastOnce,
    ///     reply_topic: "llm/response",
    ///     reply_type: Some("llm.response"),
    /// };
    /// let reply = client.request_dynamic(request, std::time::Duration::from_secs(5)).await?;
    /// println!("{}", reply.data);
    /// # Ok(()) }
    /// ```
    pub async fn request_dynamic(
        &self,
        request: DynamicRequest<'_>,
        timeout: Duration,
    ) -> Result<Envelope<serde_json::Value>> {
        let message = self
            .send_request(Outgoing {
                topic: request.topic,
                event_type: request.event_type,
                data: request.data,
                qos: request.qos,
                reply_topic: request.reply_topic,
                reply_type: request.reply_type.map(|t| Cow::Owned(t.to_owned())),
                timeout,
            })
            .await?;
        Ok(envelope::decode(message.payload())?)
    }

    /// Registers a request, publishes it and waits for its reply message.
    async fn send_request<D: Serialize + ?Sized>(&self, out: Outgoing<'_, D>) -> Result<Message> {
        self.ensure_reply_route(out.reply_topic).await?;
        let response_topic = self.private_response_topic();
        if let Some(topic) = &response_topic {
            self.ensure_reply_route(topic).await?;
        }
        let id = new_id();
        let (_pending, replied) = self.shared().await_reply(id.clone(), out.reply_type);
        let mut options = PublishOptions::new()
            .correlation_id(id.clone())
            .qos(out.qos);
        if let Some(topic) = response_topic {
            options = options.response_topic(topic, Bytes::from(id.clone().into_bytes()));
        }
        self.publish_event(out.topic, out.event_type, out.data, options)
            .await?;
        match tokio::time::timeout(out.timeout, replied).await {
            Ok(Ok(message)) => Ok(message),
            Ok(Err(_)) => Err(Error::Closed),
            Err(_) => Err(Error::Timeout {
                what: "the reply to a request",
                after: out.timeout,
            }),
        }
    }

    /// Subscribes the reply topic once per client.
    async fn ensure_reply_route(&self, topic: &str) -> Result<()> {
        let mut subscribed = self.shared().requests.subscribed.lock().await;
        if !subscribed.contains(topic) {
            self.subscribe_handler(topic, QoS::AtLeastOnce, ReplyRouter)
                .await?;
            subscribed.insert(topic.to_owned());
        }
        Ok(())
    }

    /// Under MQTT 5, the topic this client's requests name for their answers.
    fn private_response_topic(&self) -> Option<String> {
        (self.config().mqtt_version() == MqttVersion::V5)
            .then(|| format!("tars/replies/{}", self.config().client_id()))
    }
}
