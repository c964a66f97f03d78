//! What a client reports of itself: its counters ([`Stats`](crate::Stats)), and with
//! the `metrics` feature the Prometheus rendering of what the session, the dispatcher and the
//! handlers count, and the HTTP endpoint that serves it with the health probes.
//!
//! Counters that already exist (`Stats`, the handler queues') are read when scraped, so
//! metrics add nothing to the hot paths but a handler's duration, timed only when
//! metrics are on ([`Config::metrics_on`](crate::Config::metrics_on)).

#[cfg(feature = "metrics")]
mod render;
#[cfg(feature = "metrics")]
pub(crate) mod server;
#[cfg(all(feature = "metrics", feature = "testing"))]
mod snapshot;
pub(crate) mod stats;

#[cfg(feature = "metrics")]
pub(crate) use render::render;
#[cfg(all(feature = "metrics", feature = "testing"))]
pub use snapshot::MetricsSnapshot;
