//! The rules of `#[tars::handler]`, every broken one reported.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, Ident, ItemFn, LitStr, Pat, PathArguments, Type};

use crate::attr::{check_keys, lit_str, one_of, positive, qos, whole_number, Errors, KeyValue};
use crate::duration::duration;
use crate::fn_macro::check_async_and_not_generic;
use crate::topic::{parse_template, topic_error, validate_topic_name, Template};

const KEYS: &[&str] = &[
    "topic",
    "qos",
    "share",
    "concurrency",
    "queue",
    "overflow",
    "retries",
    "backoff",
    "max_backoff",
    "dead_letter",
];
/// The most retries a handler may declare (the runtime's `MAX_RETRIES`).
const MAX_RETRIES: u32 = 1_000;
const OVERFLOW_POLICIES: &[&str] = &["block", "drop_oldest", "drop_newest"];

/// What an argument receives.
pub(crate) enum ArgKind {
    Context,
    Message,
    /// The data of the envelope: a type deriving `Event`.
    Event,
    /// The whole envelope; holds the data type.
    Envelope(Box<Type>),
    /// A template segment at this topic level.
    Segment {
        level: usize,
    },
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
            ArgKind::Event => Some(&self.ty),
            ArgKind::Envelope(data) => match last_segment(data) {
                Some(segment) if segment.ident == "Value" => None,
                _ => Some(data),
            },
            _ => None,
        }
    }
}

pub(crate) enum TopicSource {
    Written {
        lit: LitStr,
        template: Template,
    },
    /// No topic written: the handler's event type gives it.
    FromEvent,
}

/// The failure policy written on the handler; what is left out comes from the service.
#[derive(Default)]
pub(crate) struct FailureSpec {
    pub(crate) retries: Option<u32>,
    pub(crate) backoff_ms: Option<u64>,
    pub(crate) max_backoff_ms: Option<u64>,
    pub(crate) dead_letter: Option<LitStr>,
}

pub(crate) struct HandlerSpec {
    pub(crate) args: Vec<Arg>,
    pub(crate) topic: TopicSource,
    pub(crate) qos: u8,
    pub(crate) share: Option<LitStr>,
    /// Flow control: workers, queue capacity (`None`: the configuration's), policy.
    pub(crate) concurrency: usize,
    pub(crate) queue: Option<usize>,
    pub(crate) overflow: Option<LitStr>,
    pub(crate) failure: FailureSpec,
}

impl HandlerSpec {
    /// The payload argument, if any.
    pub(crate) fn payload(&self) -> Option<&Arg> {
        self.args
            .iter()
            .find(|a| matches!(a.kind, ArgKind::Event | ArgKind::Envelope(_)))
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
        _ => ArgKind::Event,
    }
}

fn check_signature(function: &ItemFn, errors: &mut Errors) {
    let sig = &function.sig;
    check_async_and_not_generic(sig, "a tars handler", errors);
    if let Some(variadic) = &sig.variadic {
        errors.at(variadic.span(), "a tars handler cannot be variadic");
    }
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
                Some((ident.ident.clone(), (*typed.ty).clone()))
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

fn check_share(lit: &LitStr, errors: &mut Errors) {
    let group = lit.value();
    if group.is_empty() || group.contains(['/', '+', '#']) {
        errors.at(
            lit.span(),
            format!("invalid share group {group:?}: a group is a non-empty name without `/`, `+` or `#`, e.g. `share = \"tts-workers\"`"),
        );
    }
}

/// `dead_letter = "dead/tts"`: a topic to publish on.
fn check_dead_letter(lit: &LitStr, errors: &mut Errors) {
    let topic = lit.value();
    if topic.contains(['+', '#']) {
        errors.at(
            lit.span(),
            format!(
                "invalid dead letter topic {topic:?}: dead letters are published there, so it cannot hold the wildcards `+` or `#`; \
                 write one plain topic, e.g. `dead_letter = \"dead/tts\"`"
            ),
        );
    } else if let Err(error) = validate_topic_name(&topic) {
        errors.push(topic_error(lit, &topic, &error));
    }
}

/// `backoff` and `max_backoff` need retries to space out, and their order.
fn check_backoff(
    failure: &FailureSpec,
    backoff_keys: &[&KeyValue],
    max_key: Option<&KeyValue>,
    errors: &mut Errors,
) {
    if failure.retries.unwrap_or(0) == 0 {
        for pair in backoff_keys {
            errors.at(
                pair.key.span(),
                format!(
                    "`{}` spaces out retries, and this handler has none: add `retries = 3` (attempts after the first), \
                     or remove `{}`",
                    pair.key, pair.key
                ),
            );
        }
    }
    if let (Some(backoff), Some(max), Some(pair)) =
        (failure.backoff_ms, failure.max_backoff_ms, max_key)
    {
        if max < backoff {
            errors.at(
                pair.value.span(),
                format!(
                    "`max_backoff` ({max} ms) is shorter than `backoff` ({backoff} ms): the longest delay must be at least the first"
                ),
            );
        }
    }
}

pub(crate) fn validate(pairs: &[KeyValue], function: &ItemFn) -> syn::Result<HandlerSpec> {
    let mut errors = Errors::default();
    let (mut topic, mut qos_value, mut share) = (None, 0, None);
    let (mut concurrency, mut queue, mut overflow) = (1, None, None);
    let mut failure = FailureSpec::default();
    let (mut backoff_keys, mut max_key) = (Vec::new(), None);
    for pair in check_keys(pairs, KEYS, &mut errors) {
        match pair.key.to_string().as_str() {
            "topic" => topic = errors.take(lit_str(pair)),
            "qos" => qos_value = errors.take(qos(pair)).unwrap_or(0),
            "share" => share = errors.take(lit_str(pair)),
            "concurrency" => concurrency = errors.take(positive(pair)).unwrap_or(1),
            "queue" => queue = errors.take(positive(pair)),
            "overflow" => overflow = errors.take(one_of(pair, OVERFLOW_POLICIES)),
            "retries" => failure.retries = errors.take(whole_number(pair, MAX_RETRIES)),
            "backoff" => {
                failure.backoff_ms = errors.take(duration(pair));
                backoff_keys.push(pair);
            }
            "max_backoff" => {
                failure.max_backoff_ms = errors.take(duration(pair));
                backoff_keys.push(pair);
                max_key = Some(pair);
            }
            "dead_letter" => failure.dead_letter = errors.take(lit_str(pair)),
            // Not a key of KEYS: `check_keys` reported it already.
            _ => {}
        }
    }
    if let Some(lit) = &share {
        check_share(lit, &mut errors);
    }
    if let Some(lit) = &failure.dead_letter {
        check_dead_letter(lit, &mut errors);
    }
    check_backoff(&failure, &backoff_keys, max_key, &mut errors);
    check_signature(function, &mut errors);

    let template = topic.as_ref().and_then(|lit| {
        let value = lit.value();
        parse_template(&value)
            .map_err(|e| errors.push(topic_error(lit, &value, &e)))
            .ok()
    });
    let args: Vec<Arg> = function
        .sig
        .inputs
        .iter()
        .filter_map(|input| parse_arg(input, &mut errors))
        .map(|(name, ty)| {
            let kind = classify(&name, &ty, template.as_ref());
            Arg { name, ty, kind }
        })
        .collect();

    let payloads: Vec<&Arg> = args
        .iter()
        .filter(|a| matches!(a.kind, ArgKind::Event | ArgKind::Envelope(_)))
        .collect();
    if let [first, rest @ ..] = payloads.as_slice() {
        for extra in rest {
            errors.at(
                extra.name.span().join(extra.ty.span()).unwrap_or(extra.name.span()),
                format!(
                    "a handler takes at most one payload argument, and `{}` already receives the message's data; \
                     if `{}` should receive a part of the topic, name it in a template: `topic = \"…/{{{}}}/…\"`",
                    first.name, extra.name, extra.name
                ),
            );
        }
    }
    if let (Some(lit), Some(template)) = (&topic, &template) {
        for (segment, _) in &template.segments {
            if !args.iter().any(|a| a.name == segment) {
                errors.at(
                    lit.span(),
                    format!(
                        "the template segment `{{{segment}}}` has no argument: add `{segment}: String` \
                         (or any type that implements `FromStr`) to the handler's arguments"
                    ),
                );
            }
        }
    }
    let topic = match (topic, template) {
        (Some(lit), Some(template)) => Some(TopicSource::Written { lit, template }),
        (Some(_), None) => None, // already reported
        (None, _) if payloads.iter().any(|a| a.typed_event().is_some()) => {
            Some(TopicSource::FromEvent)
        }
        (None, _) => {
            errors.at(
                Span::call_site(),
                "missing `topic`: write `topic = \"a/b\"` (a filter, or a template like `sensors/{room}/temp`); \
                 it may be omitted only when the handler takes an event, whose topic is then used",
            );
            None
        }
    };
    errors.finish()?;
    Ok(HandlerSpec {
        args,
        topic: topic.expect("reported above when missing"),
        qos: qos_value,
        share,
        concurrency,
        queue,
        overflow,
        failure,
    })
}
