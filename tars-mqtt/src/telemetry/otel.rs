//! OpenTelemetry traces (feature `otel`): with `OTEL_EXPORTER_OTLP_ENDPOINT` set, the
//! span tars makes for every handled message is exported over OTLP/HTTP (protobuf).
//!
//! - The span is named `message`, a consumer span with the attributes `topic`,
//!   `event_type` and `envelope_id`.
//! - Under MQTT 5 its parent is the message's `traceparent`; what the handler publishes
//!   carries the span's own ids, so the next service's span is its child.
//! - `OTEL_SERVICE_NAME` names the service (default: the service's name), and the
//!   usual `OTEL_EXPORTER_OTLP_*` and `OTEL_BSP_*` variables apply.
//!
//! The exporter runs on the SDK's batch thread and sends with hyper, on a small runtime
//! of its own, so exporting never takes time from the service's runtime.

use std::time::Duration;

use bytes::Bytes;
use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_http::{HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::WithHttpConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;

use crate::telemetry::trace::TraceContext;

/// The variable that turns the export on.
pub const ENDPOINT_VARIABLE: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
/// The variable that names the service on exported spans.
pub const SERVICE_NAME_VARIABLE: &str = "OTEL_SERVICE_NAME";
/// How long an export request may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The installed exporter; [`Export::shutdown`] flushes what is left.
#[derive(Debug)]
pub struct Export {
    provider: SdkTracerProvider,
}

impl Export {
    /// The exporter, if `OTEL_EXPORTER_OTLP_ENDPOINT` is set; `service_name` unless
    /// `OTEL_SERVICE_NAME` says otherwise.
    pub fn from_env(service_name: &str) -> Result<Option<Self>, String> {
        let set = std::env::var(ENDPOINT_VARIABLE).is_ok_and(|v| !v.trim().is_empty());
        if !set {
            return Ok(None);
        }
        let client = OwnRuntimeClient::new()
            .map_err(|e| format!("could not start the OpenTelemetry exporter: {e}"))?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_http_client(client)
            .build()
            .map_err(|e| format!("{ENDPOINT_VARIABLE} is invalid: {e}"))?;
        let name = std::env::var(SERVICE_NAME_VARIABLE)
            .ok()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| service_name.to_owned());
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(name).build())
            .build();
        Ok(Some(Self { provider }))
    }

    /// The tracing layer that turns tars's message spans into exported spans. Only
    /// those: the rest of the service's spans stay log context.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        let tracer = self.provider.tracer("tars");
        let only_messages = tracing_subscriber::filter::Targets::new()
            .with_target("tars::message", tracing::Level::DEBUG);
        // The span's own fields only: no code location, thread or busy/idle timings.
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            .with_location(false)
            .with_threads(false)
            .with_target(false)
            .with_tracked_inactivity(false)
            .with_filter(only_messages)
    }

    /// Exports what is still buffered (bounded by the exporter's timeout) and stops.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            eprintln!("OpenTelemetry: the last spans may be lost: {error}");
        }
    }
}

/// The trace a handler runs in when its message span is exported: the span's parent is
/// the message's `traceparent` (if any), and the trace context is the span's own ids.
/// `None` when the span is not exported.
pub(crate) fn adopt(
    span: &Span,
    traceparent: Option<&str>,
    tracestate: Option<&str>,
) -> Option<TraceContext> {
    if span.is_disabled() {
        return None;
    }
    let state = tracestate.map(str::to_owned);
    if let Some(parent) = traceparent.and_then(|p| TraceContext::parse(p, state.as_deref())) {
        let (trace_id, span_id, flags) = parent.ids();
        let remote = SpanContext::new(
            TraceId::from(trace_id),
            SpanId::from(span_id),
            TraceFlags::new(flags),
            true,
            TraceState::default(),
        );
        let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
    }
    let context = span.context();
    let own = context.span().span_context().clone();
    if !own.is_valid() {
        return None;
    }
    Some(TraceContext::exported(
        u128::from_be_bytes(own.trace_id().to_bytes()),
        u64::from_be_bytes(own.span_id().to_bytes()),
        own.trace_flags().to_u8(),
        state,
    ))
}

/// hyper's client on a current-thread runtime of its own: the SDK's batch thread calls
/// the exporter outside any runtime.
#[derive(Debug)]
struct OwnRuntimeClient {
    runtime: tokio::runtime::Runtime,
    inner: opentelemetry_http::hyper::HyperClient,
}

impl OwnRuntimeClient {
    fn new() -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let inner = {
            let _inside = runtime.enter();
            opentelemetry_http::hyper::HyperClient::with_default_connector(EXPORT_TIMEOUT, None)
        };
        Ok(Self { runtime, inner })
    }
}

#[async_trait::async_trait]
impl HttpClient for OwnRuntimeClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        self.runtime.block_on(self.inner.send_bytes(request))
    }
}
