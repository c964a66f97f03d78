//! A subscription as the session sends it: its filter, QoS, MQTT 5 options and
//! subscription identifier.
//!
//! The identifier is a function of the filter's text, not a counter: a restarted
//! service gives each filter the identifier it had before, so that the messages a
//! persistent session kept while it was away (which carry the identifiers of their
//! time) still name the right handlers.

use crate::{QoS, SubscribeOptions};

/// The largest subscription identifier MQTT 5 allows (a four-byte variable integer).
const MAX_IDENTIFIER: u32 = 268_435_455;

/// A filter to subscribe, its QoS, its MQTT 5 options and its subscription identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) filter: String,
    pub(crate) qos: QoS,
    pub(crate) options: SubscribeOptions,
    /// MQTT 5: the number the broker puts on every message this subscription sends.
    pub(crate) identifier: u32,
}

impl Filter {
    pub(crate) fn new(filter: String, qos: QoS, options: SubscribeOptions) -> Self {
        let identifier = identifier_of(&filter);
        Self {
            filter,
            qos,
            options,
            identifier,
        }
    }
}

/// The subscription identifier of `filter` (the whole filter, a `$share/` prefix
/// included): its FNV-1a hash, in 1..=268,435,455. Two filters of one service may share
/// one; the route table then routes their messages by matching (see `RouteTable`).
pub(crate) fn identifier_of(filter: &str) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    let hash = filter.bytes().fold(OFFSET, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(PRIME)
    });
    hash % MAX_IDENTIFIER + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_identifier_is_stable_in_range_and_differs_between_filters() {
        let filters = ["a/b", "a/+", "a/#", "+/b", "$share/g/a/b", "#", ""];
        let ids: Vec<u32> = filters.iter().map(|f| identifier_of(f)).collect();
        for id in &ids {
            assert!((1..=MAX_IDENTIFIER).contains(id), "{id}");
        }
        let mut distinct = ids.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(distinct.len(), ids.len(), "{ids:?}");
        // A function of the text: the same on every run and every machine.
        assert_eq!(identifier_of("a/b"), identifier_of("a/b"));
        assert_eq!(identifier_of("stt/final"), 0x194b_f5bd % MAX_IDENTIFIER + 1);
    }
}
