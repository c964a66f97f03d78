//! The TTS worker's binary: it serves the handlers of `tts-core`, with their state. `handlers = [tts_core]`
//! links that library in; without it the linker would leave the library out, and the
//! service would refuse to start (exit 2) rather than run with no handler.

#[tars::service(
    name = "tars-tts",
    handlers = [tts_core],
    state = tts_core::Voice::default,
    drain_timeout = "30s"
)]
async fn main() {}
