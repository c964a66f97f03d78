//! Arbitrary strings as topic names and filters: validation and matching must agree
//! (a valid filter never panics against a valid topic) and never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tars::topic::{matches, validate_filter, validate_topic_name};

fuzz_target!(|input: (&str, &str)| {
    let (filter, topic) = input;
    let filter_ok = validate_filter(filter).is_ok();
    let topic_ok = validate_topic_name(topic).is_ok();
    if filter_ok && topic_ok {
        let _ = matches(filter, topic);
        let mut routes = tars::bench::Routes::default();
        routes.insert(filter);
        let mut found = Vec::new();
        routes.matches(topic, &mut found);
        assert_eq!(!found.is_empty(), matches(filter, topic), "{filter:?} {topic:?}");
    }
});
