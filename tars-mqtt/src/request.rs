//! Request/reply with the Python stack's correlation convention: a reply's envelope id
//! is its request's id. A request registers its id, publishes, and waits for the first
//! envelope of the expected type with that id on the reply topic.
//!
//! Under MQTT 5 a request also names a response topic private to the client
//! (`tars/replies/{client_id}`) and carries its id as correlation data: an MQTT 5
//! responder (a tars handler, paho, FastStream) answers there, a 3.1.1 one (the Python
//! services) on the reply's own topic as before; either answer resolves the request.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tokio::sync::oneshot;

use crate::envelope::{self, new_id};
use crate::handler::HandlerResult;
use crate::{
    Client, Context, Envelope, Error, Event, Handler, Message, MqttVersion, PublishOptions, QoS,
    Result,
};

struct Pending {
    event_type: &'static str,
    reply: oneshot::Sender<Message>,
}

/// The requests of one client waiting for their reply.
#[derive(Default)]
pub(crate) struct Requests {
    pending: Mutex<HashMap<String, Pending>>,
    /// Reply topics already subscribed (the async lock makes concurrent first requests
    /// on a topic subscribe it once).
    subscribed: tokio::sync::Mutex<HashSet<String>>,
}

impl std::fmt::Debug for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Requests")
            .field("pending", &self.len())
            .finish()
    }
}

impl Requests {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Pending>> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Requests waiting for a reply.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Hands a reply to its request, if one waits for it: matched on the MQTT 5
    /// correlation data when the reply has it, on the envelope id otherwise.
    fn resolve(&self, message: &Message) {
        let Some(header) = message.header() else {
            return;
        };
        let id = message
            .correlation_data()
            .and_then(|data| std::str::from_utf8(data).ok())
            .unwrap_or(header.id.as_ref());
        let mut pending = self.lock();
        match pending.get(id) {
            Some(waiting) if waiting.event_type == header.event_type => {
                let waiting = pending.remove(id).expect("present");
                drop(pending);
                let _ = waiting.reply.send(message.clone());
            }
            Some(_) => {} // same id, another event type: not the reply
            None => tracing::debug!(
                topic = message.topic(),
                envelope_id = id,
                "dropping a reply no request waits for (late, or for another client)"
            ),
        }
    }
}

/// Removes a request from the pending ones when its future ends or is dropped.
struct PendingGuard<'a> {
    requests: &'a Requests,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.requests.lock().remove(&self.id);
    }
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
        self.ensure_reply_route(Resp::TOPIC).await?;
        let response_topic = self.private_response_topic();
        if let Some(topic) = &response_topic {
            self.ensure_reply_route(topic).await?;
        }
        let requests = &self.shared().requests;
        let id = new_id();
        let (reply, replied) = oneshot::channel();
        requests.lock().insert(
            id.clone(),
            Pending {
                event_type: Resp::EVENT_TYPE,
                reply,
            },
        );
        let _guard = PendingGuard {
            requests,
            id: id.clone(),
        };
        let mut options = PublishOptions::new()
            .correlation_id(id.clone())
            .qos(Req::QOS);
        if let Some(topic) = response_topic {
            options = options.response_topic(topic, Bytes::from(id.clone().into_bytes()));
        }
        let started = Instant::now();
        self.publish_event(Req::TOPIC, Req::EVENT_TYPE, request, options)
            .await?;
        let message = match tokio::time::timeout(timeout, replied).await {
            Ok(Ok(message)) => message,
            Ok(Err(_)) => return Err(Error::Closed),
            Err(_) => {
                return Err(Error::Timeout {
                    what: "the reply to a request",
                    after: timeout,
                })
            }
        };
        if self.config().metrics_on() {
            let shared = self.shared();
            shared
                .events
                .request_answered(Req::EVENT_TYPE, started.elapsed());
        }
        Ok(envelope::decode(message.payload())?)
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

impl Context {
    /// Publishes a request and waits for its reply; see [`Client::request`].
    pub async fn request<Req, Resp>(&self, request: &Req) -> Result<Resp>
    where
        Req: Event + Serialize,
        Resp: Event + DeserializeOwned,
    {
        self.client().request(request).await
    }
}
