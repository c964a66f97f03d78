//! Topic rules at compile time: the `tars-topic` crate the runtime uses too (one source
//! of truth), plus topic templates (`sensors/{room}/temperature`).

use syn::LitStr;
pub(crate) use tars_topic::{validate_filter, validate_topic_name, TopicError};

/// A handler topic with its `{segments}` replaced by `+`.
pub(crate) struct Template {
    /// The filter to subscribe to.
    pub(crate) filter: String,
    /// Segment names with their level index.
    pub(crate) segments: Vec<(String, usize)>,
}

fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Parses a filter or a template into the filter to subscribe to and its segments.
pub(crate) fn parse_template(topic: &str) -> Result<Template, TopicError> {
    let mut levels = Vec::new();
    let mut segments: Vec<(String, usize)> = Vec::new();
    for (index, (span, level)) in tars_topic::level_spans(topic).enumerate() {
        let error = |reason: String| TopicError {
            reason,
            span: span.clone(),
        };
        if let Some(name) = level.strip_prefix('{').and_then(|l| l.strip_suffix('}')) {
            if !is_identifier(name) {
                return Err(error(format!(
                    "`{{{name}}}` is not a valid template segment: its name must be a Rust identifier, e.g. `{{room}}`"
                )));
            }
            if segments.iter().any(|(n, _)| n == name) {
                return Err(error(format!(
                    "the template segment `{{{name}}}` appears twice"
                )));
            }
            segments.push((name.to_owned(), index));
            levels.push("+");
        } else if level.contains(['{', '}']) {
            return Err(error(format!(
                "a template segment must fill a whole level, e.g. `sensors/{{room}}/temp`, not `{level}`"
            )));
        } else {
            levels.push(level);
        }
    }
    let filter = levels.join("/");
    validate_filter(&filter).map_err(|mut error| {
        // Point at the same level of the template as written.
        let level = filter[..error.span.start.min(filter.len())]
            .matches('/')
            .count();
        error.span = tars_topic::level_spans(topic)
            .nth(level)
            .map_or(0..topic.len(), |(span, _)| span);
        error
    })?;
    Ok(Template { filter, segments })
}

/// A compile error on a topic literal that quotes the offending part of it.
pub(crate) fn topic_error(lit: &LitStr, topic: &str, error: &TopicError) -> syn::Error {
    let part = topic
        .get(error.span.clone())
        .filter(|p| !p.is_empty() && *p != topic);
    let message = match part {
        Some(part) => format!("invalid topic {topic:?} at `{part}`: {}", error.reason),
        None => format!("invalid topic {topic:?}: {}", error.reason),
    };
    syn::Error::new(lit.span(), message)
}
