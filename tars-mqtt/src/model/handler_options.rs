//! How a subscription's handler is run: its concurrency, its queue and what a full
//! queue does, its intake bound, its failure policy and its ordered group.

use crate::FailurePolicy;

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

/// How a batch handler's messages are gathered: at most `size` a batch, handed over
/// when full or `window` after its first message, and, with `key_level`, apart for
/// each value of that topic level (0-based: `sensors/+/reading` with `key_level: Some(1)`
/// batches each room apart). See `docs/batching.md`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchOptions {
    /// The most messages in a batch (at least 1).
    pub size: usize,
    /// How long after its first message a batch that is not full is handed over.
    pub window: std::time::Duration,
    /// The topic level whose value keeps batches apart.
    pub key_level: Option<usize>,
}

impl BatchOptions {
    /// Batches of at most `size`, handed over `window` after their first message.
    pub fn new(size: usize, window: std::time::Duration) -> Self {
        Self {
            size,
            window,
            key_level: None,
        }
    }

    /// Batches kept apart for each value of topic level `level` (0-based).
    pub fn key_level(mut self, level: usize) -> Self {
        self.key_level = Some(level);
        self
    }
}

/// When the broker sends the retained message of a topic to a new subscription (MQTT 5
/// Retain Handling).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RetainHandling {
    /// On every subscribe, as under 3.1.1 (the default).
    #[default]
    OnSubscribe,
    /// Only when the subscription is new, not when it is made again (a reconnect with a
    /// persistent session).
    OnNewSubscription,
    /// Never: only messages published from now on.
    Never,
}

/// MQTT 5 options of a subscription (3.1.1 has none: they are not sent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SubscribeOptions {
    /// No Local: the broker does not send this client what it publishes itself (a
    /// service that subscribes to the topic it publishes on does not hear itself).
    /// MQTT 5 forbids it on a shared subscription.
    pub no_local: bool,
    /// Retain As Published: a forwarded message keeps the retain flag it was published
    /// with (otherwise only the retained copy sent on subscribe has it).
    pub retain_as_published: bool,
    /// When the topic's retained message is sent.
    pub retain_handling: RetainHandling,
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
    /// MQTT 5 options of its subscription (No Local, Retain As Published, Retain
    /// Handling).
    pub subscribe: SubscribeOptions,
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
            subscribe: SubscribeOptions::default(),
        }
    }
}
