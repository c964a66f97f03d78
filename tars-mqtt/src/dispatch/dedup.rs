//! Dropping redelivered envelopes, keyed as the Python deduplicator keys them:
//! `{type}|{id}|seq={data.seq}` when `data.seq` is an integer, else
//! `{type}|{id}|hash={digest of data with sorted keys}`. Bounded in time and size.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;

#[derive(Deserialize)]
struct Keyed {
    id: String,
    #[serde(rename = "type")]
    event_type: String,
    #[serde(default)]
    data: Value,
}

/// The dedup key of an envelope payload; `None` when it is not an envelope.
pub(crate) fn key_of(payload: &[u8]) -> Option<String> {
    let env: Keyed = serde_json::from_slice(payload).ok()?;
    if env.id.is_empty() {
        return None;
    }
    let suffix = match env.data.get("seq") {
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => format!("seq={n}"),
        _ => format!("hash={:016x}", digest(&env.data)),
    };
    Some(format!("{}|{}|{}", env.event_type, env.id, suffix))
}

/// A stable digest of a JSON value in which object keys are taken in sorted order.
fn digest(value: &Value) -> u64 {
    let mut hasher = DefaultHasher::new();
    hash_value(value, &mut hasher);
    hasher.finish()
}

fn hash_value(value: &Value, h: &mut DefaultHasher) {
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => (2u8, n.to_string()).hash(h),
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            items.iter().for_each(|v| hash_value(v, h));
        }
        Value::Object(map) => {
            (5u8, map.len()).hash(h);
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_unstable();
            for key in keys {
                key.hash(h);
                hash_value(&map[key], h);
            }
        }
    }
}

/// Remembers keys for `ttl`, at most `max_entries` of them (oldest forgotten first).
/// Seeing a key again refreshes it, as in the Python deduplicator.
#[derive(Debug)]
pub(crate) struct Deduplicator {
    ttl: Duration,
    max_entries: usize,
    /// Key → generation of its newest entry in `order`.
    seen: HashMap<String, u64>,
    /// Entries oldest first; an entry whose generation is not the key's newest is stale.
    order: VecDeque<(String, Instant, u64)>,
    generation: u64,
}

impl Deduplicator {
    pub(crate) fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            ttl,
            max_entries,
            seen: HashMap::new(),
            order: VecDeque::new(),
            generation: 0,
        }
    }

    /// Whether the payload was seen within the ttl; records it either way.
    /// Payloads that are not envelopes are never duplicates.
    pub(crate) fn is_duplicate(&mut self, payload: &[u8]) -> bool {
        match key_of(payload) {
            Some(key) => self.check_key(key, Instant::now()),
            None => false,
        }
    }

    fn check_key(&mut self, key: String, now: Instant) -> bool {
        self.evict_expired(now);
        self.generation += 1;
        let duplicate = self.seen.insert(key.clone(), self.generation).is_some();
        self.order.push_back((key, now, self.generation));
        while self.seen.len() > self.max_entries {
            self.pop_oldest();
        }
        if self.order.len() > 2 * self.max_entries + 16 {
            self.compact();
        }
        duplicate
    }

    fn evict_expired(&mut self, now: Instant) {
        while let Some((_, at, _)) = self.order.front() {
            if now.duration_since(*at) < self.ttl {
                break;
            }
            self.pop_oldest();
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((key, _, generation)) = self.order.pop_front() {
            if self.seen.get(&key) == Some(&generation) {
                self.seen.remove(&key);
            }
        }
    }

    /// Drops stale entries so that `order` stays proportional to `max_entries`.
    fn compact(&mut self) {
        let seen = &self.seen;
        self.order
            .retain(|(key, _, generation)| seen.get(key) == Some(generation));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.seen.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_python_format() {
        let k = key_of(br#"{"id":"a1","type":"llm.stream","data":{"seq":3,"delta":"x"}}"#);
        assert_eq!(k.as_deref(), Some("llm.stream|a1|seq=3"));
        let k = key_of(br#"{"id":"a1","type":"t","data":{"seq":"3"}}"#).unwrap();
        assert!(k.starts_with("t|a1|hash="), "{k}");
        assert_eq!(key_of(b"not json"), None);
        assert_eq!(key_of(br#"{"type":"t","data":{}}"#), None);
    }

    #[test]
    fn the_digest_ignores_key_order_but_not_values() {
        let a = key_of(br#"{"id":"1","type":"t","data":{"a":1,"b":{"x":1,"y":2}}}"#);
        let b = key_of(br#"{"id":"1","type":"t","data":{"b":{"y":2,"x":1},"a":1}}"#);
        let c = key_of(br#"{"id":"1","type":"t","data":{"a":2,"b":{"x":1,"y":2}}}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn repeats_within_the_ttl_are_duplicates() {
        let mut d = Deduplicator::new(Duration::from_secs(30), 10);
        let msg = br#"{"id":"1","type":"t","data":{"seq":1}}"#;
        assert!(!d.is_duplicate(msg));
        assert!(d.is_duplicate(msg));
        assert!(!d.is_duplicate(br#"{"id":"1","type":"t","data":{"seq":2}}"#));
        assert!(!d.is_duplicate(b"plain text"));
        assert!(!d.is_duplicate(b"plain text"));
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let mut d = Deduplicator::new(Duration::from_secs(1), 10);
        let t0 = Instant::now();
        assert!(!d.check_key("k".into(), t0));
        assert!(d.check_key("k".into(), t0 + Duration::from_millis(500)));
        // Refreshed at 0.5 s, so still known at 1.2 s, forgotten at 1.6 s.
        assert!(d.check_key("k".into(), t0 + Duration::from_millis(1200)));
        assert!(!d.check_key("k".into(), t0 + Duration::from_millis(2300)));
    }

    #[test]
    fn size_is_bounded_and_oldest_go_first() {
        let mut d = Deduplicator::new(Duration::from_secs(60), 3);
        let now = Instant::now();
        for key in ["a", "b", "c", "d"] {
            assert!(!d.check_key(key.into(), now));
        }
        assert_eq!(d.len(), 3);
        assert!(!d.check_key("a".into(), now), "a was evicted");
        for _ in 0..1000 {
            d.check_key("b".into(), now);
        }
        assert!(d.order.len() <= 2 * 3 + 16 + 1);
        assert!(d.len() <= 3);
    }
}
