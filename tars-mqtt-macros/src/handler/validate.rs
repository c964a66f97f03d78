//! The rules of `#[tars::handler]`: every broken one reported.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr};

use super::parse::{ArgKind, FailureSpec, HandlerSpec, TopicSource};
use crate::attr::Errors;
use crate::fn_macro::check_async_and_not_generic;
use crate::topic::{topic_error, validate_topic_name};

pub(crate) fn validate(spec: &HandlerSpec, function: &ItemFn, errors: &mut Errors) {
    if let Some(lit) = &spec.share {
        check_share(lit, errors);
        if let Some(flag) = spec.subscribe.no_local.as_ref().filter(|f| f.value) {
            errors.at(
                flag.span(),
                "`no_local` cannot be set on a shared subscription: MQTT 5 forbids No Local with `share` \
                 (the broker would refuse the subscription); remove `no_local`, or `share`",
            );
        }
    }
    check_failure_policy(&spec.failure, errors);
    if let Some(group) = &spec.group {
        check_group(group, &spec.flow_keys, errors);
    }
    check_signature(function, errors);
    check_payloads(spec, errors);
    if let Some(flag) = &spec.any_type {
        if !spec.args.iter().any(|a| a.typed_event().is_some()) {
            errors.at(
                flag.span(),
                "`any_type` lets a handler that takes an event accept envelopes of other types, \
                 and this handler takes none: remove it",
            );
        }
    }
    check_segments(spec, errors);
    check_batch(spec, errors);
    if let TopicSource::Missing = spec.topic {
        errors.at(
            Span::call_site(),
            "missing `topic`: write `topic = \"a/b\"` (a filter, or a template like `sensors/{room}/temp`); \
             it may be omitted only when the handler takes an event, whose topic is then used",
        );
    }
}

// A variadic `...` needs no rule here: rustc rejects it on an `async fn` itself.
fn check_signature(function: &ItemFn, errors: &mut Errors) {
    check_async_and_not_generic(&function.sig, "a tars handler", errors);
}

/// A group has one queue and one worker: its members set no flow control of their own.
fn check_group(group: &LitStr, flow_keys: &[syn::Ident], errors: &mut Errors) {
    if group.value().trim().is_empty() {
        errors.at(
            group.span(),
            "a group needs a name, e.g. `group = \"voice\"`: the handlers with the same name share one ordered queue",
        );
    }
    for key in flow_keys {
        errors.at(
            key.span(),
            format!(
                "`{key}` does not apply to a handler of a group: the group's handlers share one queue and \
                 handle one message at a time, in arrival order; remove `{key}`, or `group`"
            ),
        );
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

/// A dead-letter topic to publish on; backoffs only with retries, and in order.
fn check_failure_policy(failure: &FailureSpec, errors: &mut Errors) {
    if let Some(lit) = &failure.dead_letter {
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
    if failure.retries.unwrap_or(0) == 0 {
        for key in &failure.backoff_keys {
            errors.at(
                key.span(),
                format!(
                    "`{key}` spaces out retries, and this handler has none: add `retries = 3` (attempts after the first), \
                     or remove `{key}`"
                ),
            );
        }
    }
    if let (Some(backoff), Some(max), Some(span)) = (
        failure.backoff_ms,
        failure.max_backoff_ms,
        failure.max_backoff_span,
    ) {
        if max < backoff {
            errors.at(
                span,
                format!(
                    "`max_backoff` ({max} ms) is shorter than `backoff` ({backoff} ms): the longest delay must be at least the first"
                ),
            );
        }
    }
}

/// At most one argument receives the message's data.
fn check_payloads(spec: &HandlerSpec, errors: &mut Errors) {
    let mut payloads = spec.args.iter().filter(|a| a.is_payload());
    let Some(first) = payloads.next() else {
        return;
    };
    for extra in payloads {
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

/// Every `{segment}` of a template has its argument.
fn check_segments(spec: &HandlerSpec, errors: &mut Errors) {
    let TopicSource::Written { lit, template } = &spec.topic else {
        return;
    };
    for (segment, _) in &template.segments {
        if !spec.args.iter().any(|a| a.name == segment) {
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

/// `batch = N` goes with one `Vec<T>` argument, and the rest of the batch rules: the
/// window and key only with a size, no group or concurrency, a key that names a
/// template segment, and no argument that differs between the messages of a batch.
fn check_batch(spec: &HandlerSpec, errors: &mut Errors) {
    let batch = &spec.batch;
    let vec_arg = spec
        .args
        .iter()
        .find(|a| matches!(a.kind, ArgKind::Batch(_)));
    let Some((_, batch_key)) = &batch.size else {
        if let Some(arg) = vec_arg {
            errors.at(
                arg.ty.span(),
                format!(
                    "`{}: {}` takes a batch of messages, and this handler has no `batch`: add `batch = 100` \
                     (the most messages in a batch), or take one message, e.g. `{}: {}`",
                    arg.name,
                    type_text(&arg.ty),
                    arg.name,
                    vec_item(arg).map(type_text).unwrap_or_default(),
                ),
            );
        }
        if let Some((_, key)) = &batch.window_ms {
            errors.at(
                key.span(),
                "`batch_window` is how long a batch waits to fill, and this handler has no `batch`: \
                 add `batch = 100` (the most messages in a batch), or remove `batch_window`",
            );
        }
        if let Some(key) = &batch.key {
            errors.at(
                key.span(),
                "`batch_key` keeps batches apart by a topic segment, and this handler has no `batch`: \
                 add `batch = 100` (the most messages in a batch), or remove `batch_key`",
            );
        }
        return;
    };
    let Some(arg) = vec_arg else {
        errors.at(
            batch_key.span(),
            "`batch` hands the handler many messages at once, and it takes no `Vec`: \
             take the batch as `readings: Vec<Reading>` (or `Vec<Envelope<T>>`, `Vec<Message>`)",
        );
        return;
    };
    if let ArgKind::Batch(item) = &arg.kind {
        if !matches!(
            item.kind,
            ArgKind::Event | ArgKind::Envelope(_) | ArgKind::Message
        ) {
            errors.at(
                item.ty.span(),
                "a batch holds events, envelopes or messages: write `Vec<Reading>` (an event), \
                 `Vec<Envelope<T>>` or `Vec<Message>`",
            );
        }
    }
    if let Some(group) = &spec.group {
        errors.at(
            group.span(),
            "a batch handler cannot be in an ordered group: a group hands its handlers one message at a time, \
             in arrival order across their topics, and a batch holds back messages for its window; \
             remove `group`, or `batch`",
        );
    }
    if let Some(key) = &spec.concurrency_key {
        errors.at(
            key.span(),
            "`concurrency` does not apply to a batch handler: it handles one batch at a time, \
             which keeps each key's messages in order; remove `concurrency` (a larger `batch` does more at once)",
        );
    }
    for other in &spec.args {
        if let ArgKind::Message = other.kind {
            errors.at(
                other.ty.span(),
                format!(
                    "a batch handler takes its messages in its `Vec`, not one by one: take `{}: Vec<Message>` \
                     as the batch, or remove `{}`",
                    other.name, other.name
                ),
            );
        }
    }
    check_batch_key(spec, errors);
}

/// `batch_key` names a segment of the topic template; any other segment argument would
/// differ between the messages of one batch.
fn check_batch_key(spec: &HandlerSpec, errors: &mut Errors) {
    let key = spec.batch.key.as_ref();
    if let Some(key) = key {
        let is_segment = matches!(&spec.topic, TopicSource::Written { template, .. }
            if template.segments.iter().any(|(name, _)| *name == key.value()));
        if !is_segment && !matches!(spec.topic, TopicSource::Invalid) {
            let name = key.value();
            errors.at(
                key.span(),
                format!(
                    "`batch_key = {name:?}` names no segment of the topic template: write the topic \
                     with it, e.g. `topic = \"sensors/{{{name}}}/reading\"`, to batch each `{name}` apart"
                ),
            );
        }
    }
    for arg in &spec.args {
        if let ArgKind::Segment { .. } = arg.kind {
            if key.is_none_or(|key| arg.name != key.value()) {
                errors.at(
                    arg.name.span(),
                    format!(
                        "the segment `{}` can differ between the messages of a batch: \
                         write `batch_key = \"{}\"` to batch each value apart, or remove the argument",
                        arg.name, arg.name
                    ),
                );
            }
        }
    }
}

/// The item type of a `Vec<T>` argument.
fn vec_item(arg: &super::parse::Arg) -> Option<&syn::Type> {
    match &arg.kind {
        ArgKind::Batch(item) => Some(&item.ty),
        _ => None,
    }
}

/// A type as written, without the spaces `quote` puts between tokens.
fn type_text(ty: &syn::Type) -> String {
    quote::quote!(#ty)
        .to_string()
        .replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
}
