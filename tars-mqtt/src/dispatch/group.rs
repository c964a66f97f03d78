//! Ordered groups: the handlers declared with the same `group = "name"` share one queue
//! and one worker, so messages across their topics are handled one at a time, in the
//! order they arrived, as the Python client handles every message. Each message copy
//! carries which member it is for ([`Message::member`]).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use super::bound::BoundHandler;
use super::queue::HandlerQueue;
use super::retry::HandlerPolicy;
use crate::{HandlerError, HandlerResult, Message};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A handler behind a pointer: the members of a group have different types.
trait DynHandler: Send + Sync {
    fn call_boxed<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, HandlerResult>;
}

impl<B: BoundHandler> DynHandler for B {
    fn call_boxed<'a>(&'a self, message: &'a Message) -> BoxFuture<'a, HandlerResult> {
        Box::pin(self.call(message))
    }
}

struct Member {
    handler: Arc<dyn DynHandler>,
    failures: Arc<HandlerPolicy>,
}

/// One ordered group: its queue, and its members in the order they registered.
pub(crate) struct Group {
    pub(crate) queue: Arc<HandlerQueue>,
    members: RwLock<Vec<Member>>,
}

impl std::fmt::Debug for Group {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Group")
            .field("members", &self.read().len())
            .finish()
    }
}

impl Group {
    pub(crate) fn new(queue: Arc<HandlerQueue>) -> Self {
        Self {
            queue,
            members: RwLock::default(),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Member>> {
        self.members.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a member; returns its place, which its route stamps on every message.
    pub(crate) fn add<B: BoundHandler>(&self, handler: B, failures: Arc<HandlerPolicy>) -> u16 {
        let mut members = self.members.write().unwrap_or_else(|p| p.into_inner());
        members.push(Member {
            handler: Arc::new(handler),
            failures,
        });
        u16::try_from(members.len() - 1).unwrap_or(u16::MAX)
    }

    /// The failure policy of the member a message is for.
    pub(crate) fn failures(&self, message: &Message) -> Option<Arc<HandlerPolicy>> {
        self.read()
            .get(usize::from(message.member()))
            .map(|m| m.failures.clone())
    }
}

/// What the group's worker runs: the member each message is for.
pub(crate) struct GroupHandler(pub(crate) Arc<Group>);

impl BoundHandler for GroupHandler {
    fn call<'a>(&'a self, message: &'a Message) -> impl Future<Output = HandlerResult> + Send + 'a {
        let member = self
            .0
            .read()
            .get(usize::from(message.member()))
            .map(|m| m.handler.clone());
        async move {
            match member {
                Some(handler) => handler.call_boxed(message).await,
                None => Err(HandlerError::failed(
                    "no handler of the group takes this message",
                )),
            }
        }
    }
}

/// The failure policy a worker applies: its handler's, or each group member's own.
#[derive(Clone)]
pub(crate) enum WorkerPolicy {
    One(Arc<HandlerPolicy>),
    Group(Arc<Group>),
}

impl WorkerPolicy {
    /// The policy for a failed message.
    pub(crate) fn for_message(&self, message: &Message) -> Option<Arc<HandlerPolicy>> {
        match self {
            Self::One(failures) => Some(failures.clone()),
            Self::Group(group) => group.failures(message),
        }
    }
}
