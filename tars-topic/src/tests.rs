use super::*;

#[test]
fn topic_names_reject_wildcards_empty_and_nul() {
    assert!(validate_topic_name("stt/final").is_ok());
    assert!(validate_topic_name("/leading/and//empty/").is_ok());
    let err = validate_topic_name("stt/+").unwrap_err();
    assert_eq!(err.span, 4..5);
    assert!(err.reason.contains("wildcard `+`"));
    assert!(validate_topic_name("a/#").is_err());
    assert!(validate_topic_name("")
        .unwrap_err()
        .reason
        .contains("empty"));
    assert_eq!(validate_topic_name("a\0b").unwrap_err().span, 1..2);
    assert!(validate_topic_name(&"x".repeat(MAX_TOPIC_LEN + 1)).is_err());
}

#[test]
fn filters_follow_the_mqtt_wildcard_rules() {
    for ok in [
        "#",
        "+",
        "a/+/b",
        "a/#",
        "+/+",
        "/+",
        "a//b",
        "$SYS/#",
        "$share/g/a/+",
    ] {
        assert!(validate_filter(ok).is_ok(), "{ok}");
    }
    let cases = [
        ("a/#/b", 2..3, "last level"),
        ("a#", 0..2, "whole level"),
        ("a+/b", 0..2, "whole level"),
        ("a/b+", 2..4, "whole level"),
        ("", 0..0, "empty"),
        ("$share/g", 0..8, "group and a filter"),
        ("$share//a", 7..7, "share group"),
        ("$share/g/", 9..9, "filter after the group"),
        ("$share/g/a/#/b", 11..12, "last level"),
    ];
    for (filter, span, reason) in cases {
        let err = validate_filter(filter).unwrap_err();
        assert_eq!(err.span, span, "{filter}: {err}");
        assert!(err.reason.contains(reason), "{filter}: {err}");
    }
}

#[test]
fn wildcards_match_as_mqtt_defines() {
    let yes = [
        ("events/#", "events"),
        ("events/#", "events/a/b"),
        ("a/+/c", "a/b/c"),
        ("a/+/c", "a//c"),
        ("+", ""),
        ("#", "a/b"),
        ("/+", "/x"),
        ("$SYS/#", "$SYS/broker"),
        ("a/b", "a/b"),
    ];
    let no = [
        ("events/#", "eventsX/a"),
        ("events/#", "eventsX"),
        ("a/+/c", "a/b/c/d"),
        ("a/+/c", "a/c"),
        ("+", "a/b"),
        ("#", "$SYS/broker"),
        ("+/broker", "$SYS/broker"),
        ("a/b", "a/b/"),
        ("a/b", "A/b"),
    ];
    for (filter, topic) in yes {
        assert!(matches(filter, topic), "{filter} should match {topic}");
    }
    for (filter, topic) in no {
        assert!(!matches(filter, topic), "{filter} should not match {topic}");
        assert!(
            !matches_const(filter, topic),
            "const: {filter} should not match {topic}"
        );
    }
    for (filter, topic) in yes {
        assert!(
            matches_const(filter, topic),
            "const: {filter} should match {topic}"
        );
    }
}

#[test]
fn shared_filters_route_by_their_inner_filter() {
    assert_eq!(routing_filter("$share/workers/jobs/+"), "jobs/+");
    assert_eq!(routing_filter("jobs/+"), "jobs/+");
    let shared = SharedFilter::parse("$share/g/a/#").unwrap().unwrap();
    assert_eq!((shared.group, shared.filter), ("g", "a/#"));
}
