//! MQTT topic rules: validation of topic names and filters (shared subscriptions
//! included), and matching, with errors that point at the offending bytes.
//!
//! The one source of these rules for tars-mqtt: its runtime applies them to every
//! subscribe and publish, and its macros apply them at compile time. It depends on
//! nothing but `std`.
//!
//! ```
//! use tars_topic::{matches, validate_filter, validate_topic_name};
//!
//! assert!(validate_topic_name("sensors/kitchen/temperature").is_ok());
//! let error = validate_filter("sensors/ki+chen").unwrap_err();
//! assert_eq!(error.span, 8..15);
//! assert!(matches("sensors/+/temperature", "sensors/kitchen/temperature"));
//! ```

use std::ops::Range;

mod const_match;

pub use const_match::matches_const;

/// The longest topic MQTT can carry, in bytes.
pub const MAX_TOPIC_LEN: usize = 65_535;

/// Why a topic or filter is invalid, and which bytes of it are at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicError {
    /// What is wrong and how to fix it.
    pub reason: String,
    /// The byte range of the offending part within the topic or filter.
    pub span: Range<usize>,
}

impl std::fmt::Display for TopicError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for TopicError {}

fn error(reason: impl Into<String>, span: Range<usize>) -> TopicError {
    TopicError {
        reason: reason.into(),
        span,
    }
}

/// Byte ranges of the `/`-separated levels of `s`.
pub fn level_spans(s: &str) -> impl Iterator<Item = (Range<usize>, &str)> {
    let mut start = 0;
    s.split('/').map(move |level| {
        let range = start..start + level.len();
        start = range.end + 1;
        (range, level)
    })
}

fn check_common(s: &str, what: &str) -> Result<(), TopicError> {
    if s.is_empty() {
        return Err(error(format!("{what} must not be empty"), 0..0));
    }
    if s.len() > MAX_TOPIC_LEN {
        return Err(error(
            format!(
                "{what} is {} bytes long; MQTT allows at most {MAX_TOPIC_LEN}",
                s.len()
            ),
            0..s.len(),
        ));
    }
    if let Some(at) = s.find('\0') {
        return Err(error(
            format!("{what} must not contain NUL characters"),
            at..at + 1,
        ));
    }
    Ok(())
}

/// Checks a topic name, as used to publish: not empty, no `+`, `#` or NUL.
pub fn validate_topic_name(topic: &str) -> Result<(), TopicError> {
    // Every publish passes here: one byte scan for the common case (all three
    // characters are ASCII, so a byte match is a character match).
    let suspicious = |b: &u8| matches!(b, b'\0' | b'+' | b'#');
    if !topic.is_empty() && topic.len() <= MAX_TOPIC_LEN && !topic.as_bytes().iter().any(suspicious)
    {
        return Ok(());
    }
    check_common(topic, "a topic")?;
    if let Some(at) = topic.find(['+', '#']) {
        return Err(error(
            format!(
                "a topic to publish to cannot contain the wildcard `{}`; wildcards belong in subscription filters",
                &topic[at..at + 1]
            ),
            at..at + 1,
        ));
    }
    Ok(())
}

/// Checks a subscription filter: `+` fills a whole level, `#` is a whole last level.
/// A shared subscription (`$share/group/filter`) is checked as such.
pub fn validate_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter, "a filter")?;
    if let Some(shared) = SharedFilter::parse(filter)? {
        let offset = filter.len() - shared.filter.len();
        return validate_plain_filter(shared.filter)
            .map_err(|e| error(e.reason, e.span.start + offset..e.span.end + offset));
    }
    validate_plain_filter(filter)
}

fn validate_plain_filter(filter: &str) -> Result<(), TopicError> {
    check_common(filter, "a filter")?;
    let last = filter.split('/').count() - 1;
    for (index, (span, level)) in level_spans(filter).enumerate() {
        if level.contains('#') {
            if level != "#" {
                return Err(error(
                    "`#` must fill a whole level, e.g. `sensors/#`, not `sensors#`",
                    span,
                ));
            }
            if index != last {
                return Err(error(
                    "`#` must be the last level of a filter, e.g. `sensors/#`",
                    span,
                ));
            }
        }
        if level.contains('+') && level != "+" {
            return Err(error(
                "`+` must fill a whole level, e.g. `sensors/+/temperature`, not `sensors/room+`",
                span,
            ));
        }
    }
    Ok(())
}

/// A filter split into its shared-subscription group (if any) and the filter proper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedFilter<'a> {
    /// The group of `$share/group/filter`.
    pub group: &'a str,
    /// The filter that messages are matched against.
    pub filter: &'a str,
}

impl<'a> SharedFilter<'a> {
    /// Splits `$share/group/filter`; `Ok(None)` for a filter that is not shared.
    pub fn parse(filter: &'a str) -> Result<Option<Self>, TopicError> {
        let Some(rest) = filter.strip_prefix("$share/") else {
            return Ok(None);
        };
        let Some((group, inner)) = rest.split_once('/') else {
            return Err(error(
                "a shared subscription needs a group and a filter: `$share/group/filter`",
                0..filter.len(),
            ));
        };
        let group_span = 7..7 + group.len();
        if group.is_empty() || group.contains(['+', '#']) {
            return Err(error(
                "a share group must be a non-empty name without `+` or `#`",
                group_span,
            ));
        }
        if inner.is_empty() {
            return Err(error(
                "a shared subscription needs a filter after the group: `$share/group/filter`",
                filter.len()..filter.len(),
            ));
        }
        Ok(Some(Self {
            group,
            filter: inner,
        }))
    }
}

/// The filter messages are matched against: the filter itself, or the inner filter of a
/// shared subscription.
pub fn routing_filter(filter: &str) -> &str {
    match SharedFilter::parse(filter) {
        Ok(Some(shared)) => shared.filter,
        _ => filter,
    }
}

/// Whether `topic` matches `filter` by MQTT rules: `+` is exactly one level (possibly
/// empty), `#` is the parent level and everything below it, and topics starting with
/// `$` are not matched by a filter starting with a wildcard.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            literal => {
                if topic_levels.next() != Some(literal) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

#[cfg(test)]
mod tests;
