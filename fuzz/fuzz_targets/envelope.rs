//! Arbitrary payloads through every decoder a received message meets: the typed
//! handler's decode, the whole-envelope decode and the dedup check. Errors are fine;
//! a panic is a bug.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|payload: &[u8]| {
    let message = tars::bench::message("fuzz/topic", bytes::Bytes::copy_from_slice(payload));
    let _ = tars::bench::decode_event::<serde_json::Value>(&message);
    let _ = message.envelope::<serde_json::Value>();
    let mut dedup = tars::bench::Dedup::new(std::time::Duration::from_secs(1), 16);
    let _ = dedup.is_duplicate(payload);
});
