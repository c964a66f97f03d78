//! Gathering a batch handler's messages into batches: by key, each handed over when it
//! is full or when its window has passed since its first message. No I/O and no clock
//! of its own: the worker says what arrived and when it is.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

use tokio::time::Instant;

/// A batch being gathered: its items, and when it is due.
#[derive(Debug)]
struct Pending<T> {
    items: Vec<T>,
    due: Instant,
}

/// Batches of at most `size` items per key, each handed over `window` after its first
/// item at the latest. At most `bound` items are held across keys: past it, the batch
/// due first is handed over early, so that many keys cannot hold unbounded memory.
#[derive(Debug)]
pub(crate) struct Gatherer<K, T> {
    size: usize,
    window: Duration,
    bound: usize,
    held: usize,
    pending: HashMap<K, Pending<T>>,
}

impl<K: Eq + Hash + Clone, T> Gatherer<K, T> {
    /// Batches of at most `size` (at least 1), due `window` after their first item,
    /// holding at most `bound` items in all (at least `size`).
    pub(crate) fn new(size: usize, window: Duration, bound: usize) -> Self {
        let size = size.max(1);
        Self {
            size,
            window,
            bound: bound.max(size),
            held: 0,
            pending: HashMap::new(),
        }
    }

    /// Adds an item under `key` at `now`; a batch that this fills (or that the bound
    /// pushes out) is handed back.
    pub(crate) fn add(&mut self, key: K, item: T, now: Instant) -> Option<Vec<T>> {
        let window = self.window;
        let pending = self.pending.entry(key.clone()).or_insert_with(|| Pending {
            items: Vec::new(),
            due: now + window,
        });
        pending.items.push(item);
        self.held += 1;
        if pending.items.len() >= self.size {
            return self.take(&key);
        }
        if self.held >= self.bound {
            let oldest = self
                .pending
                .iter()
                .min_by_key(|(_, p)| p.due)
                .map(|(k, _)| k.clone())?;
            return self.take(&oldest);
        }
        None
    }

    /// When the next batch is due; `None` when none is being gathered.
    pub(crate) fn next_due(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.due).min()
    }

    /// A batch whose window has passed at `now`, the earliest first.
    pub(crate) fn take_due(&mut self, now: Instant) -> Option<Vec<T>> {
        let key = self
            .pending
            .iter()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| p.due)
            .map(|(k, _)| k.clone())?;
        self.take(&key)
    }

    /// Every batch being gathered, the earliest first (at shutdown).
    pub(crate) fn take_all(&mut self) -> Vec<Vec<T>> {
        let mut all: Vec<Pending<T>> = self.pending.drain().map(|(_, p)| p).collect();
        all.sort_by_key(|p| p.due);
        self.held = 0;
        all.into_iter().map(|p| p.items).collect()
    }

    /// Whether nothing is being gathered.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    fn take(&mut self, key: &K) -> Option<Vec<T>> {
        let pending = self.pending.remove(key)?;
        self.held -= pending.items.len();
        Some(pending.items)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_millis(20);

    #[test]
    fn a_full_batch_is_handed_over_at_once() {
        let mut gatherer = Gatherer::new(3, WINDOW, 100);
        let now = Instant::now();
        assert_eq!(gatherer.add((), 1, now), None);
        assert_eq!(gatherer.add((), 2, now), None);
        assert_eq!(gatherer.add((), 3, now), Some(vec![1, 2, 3]));
        assert!(gatherer.is_empty());
    }

    #[test]
    fn a_batch_is_due_its_window_after_its_first_item() {
        let mut gatherer = Gatherer::new(10, WINDOW, 100);
        let start = Instant::now();
        gatherer.add((), 1, start);
        gatherer.add((), 2, start + Duration::from_millis(15));
        assert_eq!(gatherer.next_due(), Some(start + WINDOW));
        assert_eq!(gatherer.take_due(start + Duration::from_millis(19)), None);
        assert_eq!(gatherer.take_due(start + WINDOW), Some(vec![1, 2]));
        assert_eq!(gatherer.next_due(), None);
    }

    #[test]
    fn keys_are_gathered_apart() {
        let mut gatherer = Gatherer::new(2, WINDOW, 100);
        let now = Instant::now();
        assert_eq!(gatherer.add("kitchen", 1, now), None);
        assert_eq!(gatherer.add("hall", 2, now), None);
        assert_eq!(gatherer.add("kitchen", 3, now), Some(vec![1, 3]));
        assert_eq!(gatherer.take_all(), vec![vec![2]]);
    }

    #[test]
    fn past_the_bound_the_batch_due_first_goes_early() {
        let mut gatherer = Gatherer::new(2, WINDOW, 3);
        let start = Instant::now();
        gatherer.add("a", 1, start);
        gatherer.add("b", 2, start + Duration::from_millis(1));
        assert_eq!(
            gatherer.add("c", 3, start + Duration::from_millis(2)),
            Some(vec![1])
        );
        let mut rest = gatherer.take_all();
        rest.sort();
        assert_eq!(rest, vec![vec![2], vec![3]]);
    }
}
