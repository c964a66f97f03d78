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

/// Deterministic pseudo-random generator for the trie-versus-model comparison.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

const WORDS: [&str; 5] = ["a", "b", "", "$x", "c"];

fn random_topic(rng: &mut Lcg) -> String {
    let levels = 1 + rng.below(4);
    (0..levels)
        .map(|_| WORDS[rng.below(5) as usize])
        .collect::<Vec<_>>()
        .join("/")
}

fn random_filter(rng: &mut Lcg) -> String {
    let levels = 1 + rng.below(4);
    let mut parts: Vec<&str> = (0..levels)
        .map(|_| match rng.below(7) {
            0 | 1 => "+",
            n => WORDS[(n - 2) as usize],
        })
        .collect();
    if rng.below(3) == 0 {
        parts.push("#");
    }
    parts.join("/")
}

#[test]
fn the_trie_agrees_with_the_reference_matcher() {
    let mut rng = Lcg(7);
    for _round in 0..200 {
        let filters: Vec<String> = (0..12).map(|_| random_filter(&mut rng)).collect();
        let mut trie = TopicTrie::default();
        for (i, f) in filters.iter().enumerate() {
            trie.insert(f, i);
        }
        for _ in 0..30 {
            let topic = random_topic(&mut rng);
            let mut got = Vec::new();
            trie.matches(&topic, &mut got);
            got.sort_unstable();
            let want: Vec<usize> = (0..filters.len())
                .filter(|&i| matches(&filters[i], &topic))
                .collect();
            assert_eq!(got, want, "topic {topic:?} filters {filters:?}");
        }
    }
}

#[test]
fn overlapping_filters_all_match_and_removal_is_exact() {
    let mut trie = TopicTrie::default();
    trie.insert("a/b", 1);
    trie.insert("a/+", 2);
    trie.insert("a/#", 3);
    trie.insert("#", 4);
    trie.insert("a/b", 5);
    let mut got = Vec::new();
    trie.matches("a/b", &mut got);
    got.sort_unstable();
    assert_eq!(got, [1, 2, 3, 4, 5]);
    assert!(trie.remove("a/b", 1));
    assert!(!trie.remove("a/b", 1));
    assert!(trie.remove("a/+", 2));
    got.clear();
    trie.matches("a/b", &mut got);
    got.sort_unstable();
    assert_eq!(got, [3, 4, 5]);
}
