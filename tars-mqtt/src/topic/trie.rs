//! A trie of subscription filters: finding the filters that match a topic costs one step
//! per topic level, whatever the number of filters that do not match.

use rustc_hash::FxHashMap;

/// Children by literal level. Fx hashing is several times cheaper than SipHash on short
/// levels; its weakness to chosen keys does not matter here, as the keys are the
/// subscriptions' own levels (a received topic is only looked up, never inserted).
#[derive(Debug)]
struct Node<V> {
    literal: FxHashMap<Box<str>, Node<V>>,
    plus: Option<Box<Node<V>>>,
    /// Values of filters ending with `#` at this node.
    hash: Vec<V>,
    /// Values of filters ending exactly at this node.
    exact: Vec<V>,
}

impl<V> Default for Node<V> {
    fn default() -> Self {
        Self {
            literal: FxHashMap::default(),
            plus: None,
            hash: Vec::new(),
            exact: Vec::new(),
        }
    }
}

impl<V> Node<V> {
    fn is_empty(&self) -> bool {
        self.literal.is_empty()
            && self.plus.is_none()
            && self.hash.is_empty()
            && self.exact.is_empty()
    }
}

/// Filters (already validated, not shared) mapped to values.
#[derive(Debug)]
pub(crate) struct TopicTrie<V> {
    root: Node<V>,
}

impl<V> Default for TopicTrie<V> {
    fn default() -> Self {
        Self {
            root: Node::default(),
        }
    }
}

impl<V: Copy + PartialEq> TopicTrie<V> {
    /// Adds `value` under `filter`.
    pub(crate) fn insert(&mut self, filter: &str, value: V) {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            match level {
                "#" => {
                    node.hash.push(value);
                    return;
                }
                "+" => node = node.plus.get_or_insert_with(Default::default),
                literal => node = node.literal.entry(literal.into()).or_default(),
            }
        }
        node.exact.push(value);
    }

    /// Removes `value` from under `filter`; returns whether it was there.
    pub(crate) fn remove(&mut self, filter: &str, value: V) -> bool {
        let levels: Vec<&str> = filter.split('/').collect();
        remove_at(&mut self.root, &levels, value)
    }

    /// Appends to `out` the value of every filter that matches `topic`.
    pub(crate) fn matches(&self, topic: &str, out: &mut Vec<V>) {
        let mut levels = topic.split('/');
        let first = levels.next().unwrap_or("");
        let root = &self.root;
        // Filters starting with a wildcard do not match topics starting with `$`.
        if !first.starts_with('$') {
            out.extend_from_slice(&root.hash);
            if let Some(plus) = &root.plus {
                collect(plus, levels.clone(), out);
            }
        }
        if let Some(next) = root.literal.get(first) {
            collect(next, levels, out);
        }
    }
}

/// Collects matches below `node`, which matched the previous level.
fn collect<'t, V: Copy>(
    node: &Node<V>,
    mut levels: impl Iterator<Item = &'t str> + Clone,
    out: &mut Vec<V>,
) {
    // `a/#` also matches `a`.
    out.extend_from_slice(&node.hash);
    let Some(level) = levels.next() else {
        out.extend_from_slice(&node.exact);
        return;
    };
    if let Some(plus) = &node.plus {
        collect(plus, levels.clone(), out);
    }
    if let Some(next) = node.literal.get(level) {
        collect(next, levels, out);
    }
}

fn remove_at<V: PartialEq>(node: &mut Node<V>, levels: &[&str], value: V) -> bool {
    let Some((level, rest)) = levels.split_first() else {
        return remove_value(&mut node.exact, value);
    };
    match *level {
        "#" => remove_value(&mut node.hash, value),
        "+" => {
            let Some(plus) = node.plus.as_deref_mut() else {
                return false;
            };
            let removed = remove_at(plus, rest, value);
            if plus.is_empty() {
                node.plus = None;
            }
            removed
        }
        literal => {
            let Some(child) = node.literal.get_mut(literal) else {
                return false;
            };
            let removed = remove_at(child, rest, value);
            if child.is_empty() {
                node.literal.remove(literal);
            }
            removed
        }
    }
}

fn remove_value<V: PartialEq>(values: &mut Vec<V>, value: V) -> bool {
    match values.iter().position(|v| *v == value) {
        Some(at) => {
            values.swap_remove(at);
            true
        }
        None => false,
    }
}
