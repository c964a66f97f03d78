//! The model of `#[tars::handler]`: its attribute and its function, read into plain
//! data. Wrong kinds of values (a number for a string) are reported here; the rules
//! between values are `validate.rs`'s.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, LitBool, LitStr, Pat, PathArguments, Type};

use crate::attr::{
    check_keys, lit_bool, lit_str, one_of, positive, qos, whole_number, Errors, KeyValue, Qos,
};
use crate::duration::duration;
use crate::size::intake_bytes;
use crate::tokens::Krate;
use crate::topic::{parse_template, topic_error, Template};

const KEYS: &[&str] = &[
    "topic",
    "qos",
    "share",
    "concurrency",
    "queue",
    "overflow",
    "intake_bytes",
    "retries",
    "backoff",
    "max_backoff",
    "dead_letter",
    "any_type",
    "group",
    "batch",
    "batch_window",
    "batch_key",
    "no_local",
    "retain_as_published",
    "retain_handling",
    "crate",
];
const RETAIN_HANDLINGS: &[(&str, RetainHandling)] = &[
    ("on_subscribe", RetainHandling::OnSubscribe),
    ("on_new_subscription", RetainHandling::OnNewSubscription),
    ("never", RetainHandling::Never),
];
const OVERFLOW_POLICIES: &[(&str, Overflow)] = &[
    ("block", Overflow::Block),
    ("drop_oldest", Overflow::DropOldest),
    ("drop_newest", Overflow::DropNewest),
];
/// The most retries a handler may declare (the runtime's `MAX_RETRIES`).
const MAX_RETRIES: u32 = 1_000;

/// What an argument receives.
pub(crate) enum ArgKind {
    Context,
    Message,
    /// The data of the envelope: a type deriving `Event`.
    Event,
    /// The whole envelope; holds the data type.
    Envelope(Box<Type>),
    /// The service instance's shared state; holds its type.
    State(Box<Type>),
    /// A template segment at this topic level.
    Segment {
        level: usize,
    },
    /// `Vec<T>`: the items of a batch, each read as this argument (named like the
    /// `Vec`, typed `T`) would be read from one message.
    Batch(Box<Arg>),
}

pub(crate) struct Arg {
    pub(crate) name: Ident,
    pub(crate) ty: Type,
    pub(crate) kind: ArgKind,
}

impl Arg {
    /// The event type this argument carries: `T` for `ev: T`, and for `Envelope<T>`
    /// unless `T` is plain JSON (`Value`), which has no topic.
    pub(crate) fn typed_event(&self) -> Option<&Type> {
        match &self.kind {
            ArgKind::Batch(item) => item.typed_event(),
            ArgKind::Event => Some(&self.ty),
            ArgKind::Envelope(data) => match last_segment(data) {
                Some(segment) if segment.ident == "Value" => None,
                _ => Some(data),
            },
            ArgKind::Context | ArgKind::Message | ArgKind::Segment { .. } | ArgKind::State(_) => {
                None
            }
        }
    }

    /// What one message gives this argument: the item of a batch, or itself.
    pub(crate) fn item(&self) -> &Arg {
        match &self.kind {
            ArgKind::Batch(item) => item,
            _ => self,
        }
    }

    /// Whether it receives the message's data.
    pub(crate) fn is_payload(&self) -> bool {
        matches!(
            self.kind,
            ArgKind::Event | ArgKind::Envelope(_) | ArgKind::Batch(_)
        )
    }
}

pub(crate) enum TopicSource {
    Written {
        lit: LitStr,
        template: Template,
    },
    /// No topic written: the handler's event type gives it.
    FromEvent,
    /// No topic written, and no event to take it from (an error).
    Missing,
    /// A topic written but invalid, or not known for an argument that could not be read
    /// (reported while parsing).
    Invalid,
}

/// What a full queue does.
#[derive(Clone, Copy, Default)]
pub(crate) enum Overflow {
    #[default]
    Block,
    DropOldest,
    DropNewest,
}

/// The failure policy written on the handler; what is left out comes from the service.
#[derive(Default)]
pub(crate) struct FailureSpec {
    pub(crate) retries: Option<u32>,
    pub(crate) backoff_ms: Option<u64>,
    pub(crate) max_backoff_ms: Option<u64>,
    pub(crate) dead_letter: Option<LitStr>,
    /// The `backoff` and `max_backoff` keys as written, for errors about them.
    pub(crate) backoff_keys: Vec<Ident>,
    /// The `max_backoff` value as written.
    pub(crate) max_backoff_span: Option<Span>,
}

/// When the broker sends a topic's retained message (MQTT 5).
#[derive(Clone, Copy, Default)]
pub(crate) enum RetainHandling {
    #[default]
    OnSubscribe,
    OnNewSubscription,
    Never,
}

/// The MQTT 5 subscription options written on the handler.
#[derive(Default)]
pub(crate) struct SubscribeSpec {
    /// `no_local = true`, kept for errors about it.
    pub(crate) no_local: Option<LitBool>,
    pub(crate) retain_as_published: bool,
    pub(crate) retain_handling: RetainHandling,
}

/// `batch = N`, `batch_window`, `batch_key`, as written.
#[derive(Default)]
pub(crate) struct BatchSpec {
    /// The most messages in a batch, and the `batch` key.
    pub(crate) size: Option<(usize, Ident)>,
    /// `batch_window` in milliseconds, and its key.
    pub(crate) window_ms: Option<(u64, Ident)>,
    /// `batch_key = "room"`: the template segment whose value keeps batches apart.
    pub(crate) key: Option<LitStr>,
}

/// How long a batch that is not full waits after its first message, when
/// `batch_window` is not written.
pub(crate) const DEFAULT_BATCH_WINDOW_MS: u64 = 20;

pub(crate) struct HandlerSpec {
    pub(crate) krate: Krate,
    pub(crate) args: Vec<Arg>,
    pub(crate) topic: TopicSource,
    pub(crate) qos: Qos,
    pub(crate) share: Option<LitStr>,
    /// Flow control: workers, queue capacity (`None`: the configuration's), policy.
    pub(crate) concurrency: usize,
    pub(crate) queue: Option<usize>,
    pub(crate) overflow: Overflow,
    /// `intake_bytes`: the bytes held while the queue is full (`None`: the
    /// configuration's).
    pub(crate) intake_bytes: Option<usize>,
    pub(crate) failure: FailureSpec,
    /// `any_type = true`: envelopes of any `type` are taken, not only the event's.
    pub(crate) any_type: Option<LitBool>,
    /// `group = "voice"`: an ordered group sharing one queue and worker.
    pub(crate) group: Option<LitStr>,
    /// `batch = N` and its companions.
    pub(crate) batch: BatchSpec,
    /// `no_local`, `retain_as_published`, `retain_handling`.
    pub(crate) subscribe: SubscribeSpec,
    /// The `concurrency` key, when written (a batch handler may not set it).
    pub(crate) concurrency_key: Option<Ident>,
    /// The flow-control keys written (`concurrency`, `queue`, `overflow`,
    /// `intake_bytes`), which a
    /// group member may not set.
    pub(crate) flow_keys: Vec<Ident>,
}

impl HandlerSpec {
    /// The payload argument, if any.
    pub(crate) fn payload(&self) -> Option<&Arg> {
        self.args.iter().find(|a| a.is_payload())
    }
}

/// The last path segment of a type, with its generic arguments.
fn last_segment(ty: &Type) -> Option<&syn::PathSegment> {
    match ty {
        Type::Path(path) if path.qself.is_none() => path.path.segments.last(),
        _ => None,
    }
}

fn classify(name: &Ident, ty: &Type, template: Option<&Template>) -> ArgKind {
    if let Some((_, level)) = template.and_then(|t| t.segments.iter().find(|(s, _)| name == s)) {
        return ArgKind::Segment { level: *level };
    }
    let Some(segment) = last_segment(ty) else {
        return ArgKind::Event;
    };
    match (segment.ident.to_string().as_str(), &segment.arguments) {
        ("Context", PathArguments::None) => ArgKind::Context,
        ("Message", PathArguments::None) => ArgKind::Message,
        ("Envelope", PathArguments::AngleBracketed(args)) => match args.args.first() {
            Some(GenericArgument::Type(data)) if args.args.len() == 1 => {
                ArgKind::Envelope(Box::new(data.clone()))
            }
            _ => ArgKind::Event,
        },
        ("State", PathArguments::AngleBracketed(args)) => match args.args.first() {
            Some(GenericArgument::Type(state)) if args.args.len() == 1 => {
                ArgKind::State(Box::new(state.clone()))
            }
            _ => ArgKind::Event,
        },
        ("Vec", PathArguments::AngleBracketed(args)) => match args.args.first() {
            Some(GenericArgument::Type(item)) if args.args.len() == 1 => {
                ArgKind::Batch(Box::new(Arg {
                    name: name.clone(),
                    ty: item.clone(),
                    kind: classify(name, item, None),
                }))
            }
            _ => ArgKind::Event,
        },
        _ => ArgKind::Event,
    }
}

/// `ctx: &Context` (or `&Message`): a handler owns its arguments.
fn check_not_borrowed(ty: &Type, errors: &mut Errors) -> bool {
    let Type::Reference(reference) = ty else {
        return true;
    };
    let Some(name) = last_segment(&reference.elem).map(|s| s.ident.to_string()) else {
        return true;
    };
    if name == "Context" || name == "Message" {
        errors.at(
            reference.elem.span(),
            format!("take `{name}` by value, e.g. `ctx: {name}`: a handler owns its arguments, and a `{name}` is a cheap clone"),
        );
        return false;
    }
    true
}

fn parse_arg(input: &FnArg, errors: &mut Errors) -> Option<(Ident, Type)> {
    match input {
        FnArg::Receiver(receiver) => {
            errors.at(
                receiver.span(),
                "a tars handler is a free function, not a method: remove `self`",
            );
            None
        }
        FnArg::Typed(typed) => match &*typed.pat {
            Pat::Ident(ident) if ident.subpat.is_none() && ident.by_ref.is_none() => {
                check_not_borrowed(&typed.ty, errors)
                    .then(|| (ident.ident.clone(), (*typed.ty).clone()))
            }
            other => {
                errors.at(
                    other.span(),
                    "handler arguments must be plain names, e.g. `ev: SttFinal`",
                );
                None
            }
        },
    }
}

pub(crate) fn parse(pairs: &[KeyValue], function: &ItemFn, errors: &mut Errors) -> HandlerSpec {
    let mut spec = HandlerSpec {
        krate: Krate::default(),
        args: Vec::new(),
        topic: TopicSource::Missing,
        qos: Qos::default(),
        share: None,
        concurrency: 1,
        queue: None,
        overflow: Overflow::default(),
        intake_bytes: None,
        failure: FailureSpec::default(),
        any_type: None,
        group: None,
        batch: BatchSpec::default(),
        subscribe: SubscribeSpec::default(),
        concurrency_key: None,
        flow_keys: Vec::new(),
    };
    let mut topic = None;
    // A topic written but unreadable, or an argument that could not be read: the topic
    // counts as invalid, not missing (that error would only repeat this one).
    let mut unreadable = false;
    let failure = &mut spec.failure;
    for pair in check_keys(pairs, KEYS, errors) {
        match pair.key.to_string().as_str() {
            "topic" => {
                topic = errors.take(lit_str(pair));
                unreadable |= topic.is_none();
            }
            "qos" => spec.qos = errors.take(qos(pair)).unwrap_or_default(),
            "share" => spec.share = errors.take(lit_str(pair)),
            "concurrency" => {
                spec.concurrency = errors.take(positive(pair)).unwrap_or(1);
                spec.concurrency_key = Some(pair.key.clone());
                spec.flow_keys.push(pair.key.clone());
            }
            "queue" => {
                spec.queue = errors.take(positive(pair));
                spec.flow_keys.push(pair.key.clone());
            }
            "overflow" => {
                spec.overflow = errors
                    .take(one_of(pair, OVERFLOW_POLICIES))
                    .unwrap_or_default();
                spec.flow_keys.push(pair.key.clone());
            }
            "intake_bytes" => {
                spec.intake_bytes = errors.take(intake_bytes(pair));
                spec.flow_keys.push(pair.key.clone());
            }
            "group" => spec.group = errors.take(lit_str(pair)),
            "batch" => {
                let size = errors.take(positive(pair));
                spec.batch.size = Some((size.unwrap_or(1), pair.key.clone()));
            }
            "batch_window" => {
                let window = errors.take(duration(pair));
                spec.batch.window_ms =
                    Some((window.unwrap_or(DEFAULT_BATCH_WINDOW_MS), pair.key.clone()));
            }
            "batch_key" => spec.batch.key = errors.take(lit_str(pair)),
            "no_local" => spec.subscribe.no_local = errors.take(lit_bool(pair)),
            "retain_as_published" => {
                spec.subscribe.retain_as_published =
                    errors.take(lit_bool(pair)).is_some_and(|flag| flag.value);
            }
            "retain_handling" => {
                spec.subscribe.retain_handling = errors
                    .take(one_of(pair, RETAIN_HANDLINGS))
                    .unwrap_or_default();
            }
            "retries" => failure.retries = errors.take(whole_number(pair, MAX_RETRIES)),
            "backoff" => {
                failure.backoff_ms = errors.take(duration(pair));
                failure.backoff_keys.push(pair.key.clone());
            }
            "max_backoff" => {
                failure.max_backoff_ms = errors.take(duration(pair));
                failure.backoff_keys.push(pair.key.clone());
                failure.max_backoff_span = Some(pair.value_span());
            }
            "dead_letter" => failure.dead_letter = errors.take(lit_str(pair)),
            "any_type" => spec.any_type = errors.take(lit_bool(pair)),
            "crate" => spec.krate = errors.take(Krate::parse(pair)).unwrap_or_default(),
            // Not a key of KEYS: `check_keys` reported it already.
            _ => {}
        }
    }

    let template = topic.as_ref().and_then(|lit| {
        let value = lit.value();
        parse_template(&value)
            .map_err(|e| errors.push(topic_error(lit, &value, &e)))
            .ok()
    });
    let inputs = &function.sig.inputs;
    let read: Vec<(Ident, Type)> = inputs
        .iter()
        .filter_map(|input| parse_arg(input, errors))
        .collect();
    unreadable |= read.len() < inputs.len();
    spec.args = read
        .into_iter()
        .map(|(name, ty)| {
            let kind = classify(&name, &ty, template.as_ref());
            Arg { name, ty, kind }
        })
        .collect();
    let takes_event = spec.args.iter().any(|a| a.typed_event().is_some());
    spec.topic = match (topic, template) {
        (Some(lit), Some(template)) => TopicSource::Written { lit, template },
        (Some(_), None) => TopicSource::Invalid,
        (None, _) if takes_event => TopicSource::FromEvent,
        (None, _) if unreadable => TopicSource::Invalid,
        (None, _) => TopicSource::Missing,
    };
    spec
}
