//! Property tests: topic rules and matching against simple reference models, and the
//! decoders and the URL parser fed arbitrary input (they return errors, never panic).

use proptest::prelude::*;

use crate::config::BrokerUrl;
use crate::topic::{matches, validate_filter, validate_topic_name, TopicTrie};

/// Topic levels over a small alphabet, so that generated filters and topics meet.
fn level() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just(String::new()),
        Just("$sys".to_owned()),
        "[a-c]{1,3}",
    ]
}

fn topic() -> impl Strategy<Value = String> {
    prop::collection::vec(level(), 1..5).prop_map(|levels| levels.join("/"))
}

/// Valid filters: literal levels and `+`, optionally ending in `#`.
fn filter() -> impl Strategy<Value = String> {
    let part = prop_oneof![3 => level(), 1 => Just("+".to_owned())];
    (prop::collection::vec(part, 0..4), any::<bool>()).prop_map(|(mut levels, hash)| {
        if hash || levels.is_empty() {
            levels.push("#".to_owned());
        }
        levels.join("/")
    })
}

/// MQTT matching as the specification words it, level by level.
fn reference_matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    fn go(filter: &[&str], topic: &[&str]) -> bool {
        match (filter.first(), topic.first()) {
            (Some(&"#"), _) => true,
            (Some(&"+"), Some(_)) => go(&filter[1..], &topic[1..]),
            (Some(f), Some(t)) => f == t && go(&filter[1..], &topic[1..]),
            (None, None) => true,
            _ => false,
        }
    }
    let filter: Vec<&str> = filter.split('/').collect();
    let topic: Vec<&str> = topic.split('/').collect();
    go(&filter, &topic)
}

/// A topic name is valid when non-empty, at most 65535 bytes, without `+`, `#` or NUL.
fn reference_valid_topic(s: &str) -> bool {
    !s.is_empty() && s.len() <= 65535 && !s.contains(['+', '#', '\0'])
}

/// A (non-shared) filter is valid when non-empty, without NUL, every `+` a whole level
/// and `#` only as the whole last level.
fn reference_valid_filter(s: &str) -> bool {
    if s.is_empty() || s.len() > 65535 || s.contains('\0') {
        return false;
    }
    let levels: Vec<&str> = s.split('/').collect();
    levels.iter().enumerate().all(|(i, level)| {
        (!level.contains(['+', '#'])) || *level == "+" || (*level == "#" && i == levels.len() - 1)
    })
}

proptest! {
    #[test]
    fn matching_agrees_with_the_specification(filter in filter(), topic in topic()) {
        prop_assert_eq!(matches(&filter, &topic), reference_matches(&filter, &topic));
    }

    #[test]
    fn the_trie_finds_exactly_the_matching_filters(
        filters in prop::collection::vec(filter(), 1..12),
        topic in topic(),
    ) {
        let mut trie = TopicTrie::default();
        for (i, f) in filters.iter().enumerate() {
            trie.insert(f, i);
        }
        let mut got = Vec::new();
        trie.matches(&topic, &mut got);
        got.sort_unstable();
        let want: Vec<usize> =
            (0..filters.len()).filter(|&i| reference_matches(&filters[i], &topic)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn topic_names_are_valid_exactly_when_the_rules_say(s in "[ab/+#\u{0}é]{0,12}") {
        prop_assert_eq!(validate_topic_name(&s).is_ok(), reference_valid_topic(&s));
    }

    #[test]
    fn filters_are_valid_exactly_when_the_rules_say(s in "[ab/+#\u{0}]{0,10}") {
        prop_assume!(!s.starts_with("$share"));
        prop_assert_eq!(validate_filter(&s).is_ok(), reference_valid_filter(&s));
    }

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(payload in prop::collection::vec(any::<u8>(), 0..300)) {
        let message = crate::Message::new(
            "t".to_owned(),
            bytes::Bytes::from(payload.clone()),
            crate::QoS::AtMostOnce,
            false,
        );
        let _ = crate::contract::envelope::decode::<serde_json::Value>(&payload);
        let _ = crate::api::extract::decode_event::<serde_json::Value>(&message, None);
        let _ = message.header();
        let _ = crate::dispatch::dedup::key_of(&payload);
    }

    #[test]
    fn decoders_never_panic_on_near_envelopes(
        id in ".{0,6}", kind in ".{0,6}", ts in "[-0-9.e]{0,6}", data in "[{}\\[\\]\"a:1,]{0,12}",
    ) {
        let payload = format!(r#"{{"id":"{id}","type":"{kind}","ts":{ts},"data":{data}}}"#);
        let message = crate::Message::new(
            "t".to_owned(),
            bytes::Bytes::from(payload.clone().into_bytes()),
            crate::QoS::AtMostOnce,
            false,
        );
        let _ = crate::api::extract::decode_event::<serde_json::Value>(&message, None);
        let _ = crate::dispatch::dedup::key_of(payload.as_bytes());
    }

    #[test]
    fn urls_never_panic_and_never_show_the_password(raw in ".{0,40}") {
        if let Err(error) = raw.parse::<BrokerUrl>() {
            let _ = error.to_string();
        }
    }

    #[test]
    fn credentials_survive_parsing_and_stay_hidden(
        user in "[a-z]{1,8}",
        password in "[a-zA-Z0-9@:/%?#]{1,12}",
        port in 1u16..,
    ) {
        let encoded: String = percent_encoding::utf8_percent_encode(
            &password,
            percent_encoding::NON_ALPHANUMERIC,
        )
        .to_string();
        let raw = format!("mqtt://{user}:{encoded}@broker.local:{port}");
        let url: BrokerUrl = raw.parse().unwrap();
        prop_assert_eq!(url.username.as_deref(), Some(user.as_str()));
        prop_assert_eq!(url.password.as_ref().map(|p| p.expose()), Some(password.as_str()));
        prop_assert_eq!(url.port, port);
        prop_assert_eq!(url.to_string(), format!("mqtt://{user}:***@broker.local:{port}"));
        let debug = format!("{url:?}");
        let leaked = debug.contains(&password) && password.len() > 3;
        prop_assert!(!leaked, "the password shows in {}", debug);
    }
}
