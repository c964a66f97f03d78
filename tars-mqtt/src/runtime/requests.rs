//! The requests of one client waiting for their reply, and how a reply finds its
//! request (see `request.rs` for the request/reply API).

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use tokio::sync::oneshot;

use crate::connection::intake::Intake;
use crate::Message;

/// A request waiting for its reply.
struct Pending {
    /// The reply's envelope type; `None`: any envelope with the request's id.
    event_type: Option<Cow<'static, str>>,
    reply: oneshot::Sender<Message>,
}

/// The requests of one client waiting for their reply.
#[derive(Default)]
pub(crate) struct Requests {
    pending: Mutex<HashMap<String, Pending>>,
    /// Reply topics already subscribed (the async lock makes concurrent first requests
    /// on a topic subscribe it once).
    pub(crate) subscribed: tokio::sync::Mutex<HashSet<String>>,
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

    /// Registers a request waiting for its reply; see `Shared::await_reply`.
    pub(crate) fn register<'a>(
        &'a self,
        id: String,
        event_type: Option<Cow<'static, str>>,
        intake: &'a Intake,
    ) -> (PendingGuard<'a>, oneshot::Receiver<Message>) {
        let (reply, replied) = oneshot::channel();
        self.lock()
            .insert(id.clone(), Pending { event_type, reply });
        intake.request_started();
        let guard = PendingGuard {
            requests: self,
            intake,
            id,
        };
        (guard, replied)
    }

    /// Requests waiting for a reply.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Hands a reply to its request, if one waits for it: matched on the MQTT 5
    /// correlation data when the reply has it, on the envelope id otherwise.
    pub(crate) fn resolve(&self, message: &Message) {
        let Some(header) = message.header() else {
            return;
        };
        let id = message
            .correlation_data()
            .and_then(|data| std::str::from_utf8(data).ok())
            .unwrap_or(header.id.as_ref());
        let mut pending = self.lock();
        match pending.get(id) {
            Some(waiting)
                if waiting
                    .event_type
                    .as_deref()
                    .is_none_or(|t| t == header.event_type) =>
            {
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
pub(crate) struct PendingGuard<'a> {
    requests: &'a Requests,
    intake: &'a Intake,
    id: String,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.requests.lock().remove(&self.id);
        self.intake.request_ended();
    }
}
