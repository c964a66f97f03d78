//! The rules of `#[tars::handler]`: every broken one reported.

use proc_macro2::Span;
use syn::spanned::Spanned;
use syn::{ItemFn, LitStr};

use super::parse::{FailureSpec, HandlerSpec, TopicSource};
use crate::attr::Errors;
use crate::fn_macro::check_async_and_not_generic;
use crate::topic::{topic_error, validate_topic_name};

pub(crate) fn validate(spec: &HandlerSpec, function: &ItemFn, errors: &mut Errors) {
    if let Some(lit) = &spec.share {
        check_share(lit, errors);
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
