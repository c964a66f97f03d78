//! What the benchmark's processes share: the burst every inbound row publishes, built
//! the same way by the benchmark itself and by `bench-publisher`.

use bytes::Bytes;

/// Envelopes of about 150 bytes, numbered, serialized before any clock starts.
pub fn burst_payloads(count: u64) -> Vec<Bytes> {
    (0..count)
        .map(|seq| {
            let data = serde_json::json!({"seq": seq, "text": "the quick brown fox jumps over the lazy dog"});
            let envelope = tars::Envelope::new("bench.proc", "bench-publisher", data);
            Bytes::from(serde_json::to_vec(&envelope).expect("serializes"))
        })
        .collect()
}
