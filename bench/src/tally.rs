//! What a consumer received: a count and a bitset of sequence numbers, in statics so
//! that `#[tars::handler]` functions and raw loops record the same way.

use std::sync::atomic::{AtomicU64, Ordering};

/// The largest sequence number recorded (exclusive).
pub const MAX_SEQ: u64 = 1 << 21;

const WORDS: usize = (MAX_SEQ / 64) as usize;

static SEEN: [AtomicU64; WORDS] = [const { AtomicU64::new(0) }; WORDS];
static RECEIVED: AtomicU64 = AtomicU64::new(0);
static DISTINCT: AtomicU64 = AtomicU64::new(0);

/// Records one received sequence number.
pub fn record(seq: u64) {
    RECEIVED.fetch_add(1, Ordering::Relaxed);
    if seq < MAX_SEQ {
        let bit = 1u64 << (seq % 64);
        let before = SEEN[(seq / 64) as usize].fetch_or(bit, Ordering::Relaxed);
        if before & bit == 0 {
            DISTINCT.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Messages received, duplicates included.
pub fn received() -> u64 {
    RECEIVED.load(Ordering::Relaxed)
}

/// Distinct sequence numbers received.
pub fn distinct() -> u64 {
    DISTINCT.load(Ordering::Relaxed)
}

/// Forgets everything (between runs).
pub fn reset() {
    for word in &SEEN {
        word.store(0, Ordering::Relaxed);
    }
    RECEIVED.store(0, Ordering::Relaxed);
    DISTINCT.store(0, Ordering::Relaxed);
}
