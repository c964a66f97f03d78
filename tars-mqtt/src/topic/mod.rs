//! MQTT topics: the rules for names and filters, and the routing trie.

mod const_match;
mod rules;
mod trie;

pub use const_match::matches_const;

pub use rules::{
    level_spans, matches, routing_filter, validate_filter, validate_topic_name, SharedFilter,
    TopicError, MAX_TOPIC_LEN,
};
pub(crate) use trie::TopicTrie;

#[cfg(test)]
mod tests;
