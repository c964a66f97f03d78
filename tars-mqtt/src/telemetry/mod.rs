//! Instrumentation that the layers below the API record into: message spans, W3C trace
//! context, OpenTelemetry export (feature `otel`) and duration histograms. What reads it
//! back for the outside world is in `metrics/`.

pub(crate) mod batch_sizes;
pub(crate) mod histogram;
#[cfg(feature = "otel")]
pub mod otel;
pub(crate) mod span;
pub mod trace;
