//! Every service key: tuning, linking library handlers, state, and an empty service
//! allowed.

#[derive(Default)]
struct Voices {
    _current: std::sync::Mutex<String>,
}

#[tars::service(
    name = "tars-tuned",
    worker_threads = 2,
    drain_timeout = "30s",
    request_timeout = "2s",
    queue = 64,
    handlers = [serde],
    state = Voices::default,
    allow_empty
)]
async fn service() {}

// trybuild runs pass cases: keep the generated service (which would connect) uncalled.
fn main() {
    let _ = service;
}
