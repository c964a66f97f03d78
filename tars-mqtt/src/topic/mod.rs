//! MQTT topics: the rules for names and filters, and the routing trie.

mod trie;

/// The rules themselves live in `tars-topic`, which the macros apply at compile time.
pub use tars_topic::{
    level_spans, matches, matches_const, routing_filter, validate_filter, validate_topic_name,
    SharedFilter, TopicError, MAX_TOPIC_LEN,
};
pub(crate) use trie::TopicTrie;

#[cfg(test)]
mod tests;
