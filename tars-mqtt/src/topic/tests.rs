use super::*;

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
