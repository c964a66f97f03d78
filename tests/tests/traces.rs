//! OpenTelemetry export (feature `otel`): two service processes under MQTT 5 send their
//! message spans to an OTLP/HTTP receiver started by the test, and the spans form one
//! trace: the first service's span is a child of the requester's `traceparent`, the
//! second's a child of the first's.

use std::path::Path;

use serde_json::json;
use tars::{MqttVersion, PublishOptions, QoS};
use tars_tests::otlp::{OtlpReceiver, ReceivedSpan};
use tars_tests::process::ServiceProcess;
use tars_tests::{config, init_tracing, Mosquitto, Probe};

use tars_tests::WAIT;

fn start(binary: &Path, id: &str, broker: &Mosquitto, receiver: &OtlpReceiver) -> ServiceProcess {
    ServiceProcess::spawn(
        binary,
        &[
            ("MQTT_URL", &broker.url()),
            ("MQTT_CLIENT_ID", id),
            ("MQTT_VERSION", "5"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver.endpoint()),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    )
}

fn message_span<'a>(spans: &'a [ReceivedSpan], service: &str) -> Option<&'a ReceivedSpan> {
    spans
        .iter()
        .find(|s| s.service == service && s.name == "message")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_services_export_one_trace_parented_on_the_requesters_traceparent() {
    init_tracing();
    let broker = Mosquitto::start();
    let receiver = OtlpReceiver::start().await;
    let mut health = Probe::start(broker.port(), &["system/health/+"]).await;
    let mut relay = start(
        Path::new(env!("CARGO_BIN_EXE_trace-relay")),
        "trace-relay",
        &broker,
        &receiver,
    );
    let mut finish = start(
        Path::new(env!("CARGO_BIN_EXE_trace-finish")),
        "trace-finish",
        &broker,
        &receiver,
    );
    let mut ready = std::collections::HashSet::new();
    while ready.len() < 2 {
        let seen = health.next_within(WAIT).await.unwrap_or_else(|| {
            panic!(
                "both services ready\n{}\n{}",
                relay.output(),
                finish.output()
            )
        });
        ready.insert(seen.topic);
    }

    let mut out = Probe::start(broker.port(), &["trace/out"]).await;
    let requester = tars::Client::connect(
        config(broker.port(), "tracer")
            .mqtt_version(MqttVersion::V5)
            .build()
            .unwrap(),
    )
    .await
    .expect("the requester connects");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let parent_id = "00f067aa0ba902b7";
    let options = PublishOptions::new()
        .qos(QoS::AtLeastOnce)
        .user_property("traceparent", format!("00-{trace_id}-{parent_id}-01"));
    let id = requester
        .publish_event("trace/in", "trace.in", &json!({ "text": "hi" }), options)
        .await
        .expect("published");
    out.expect_on("trace/out", WAIT).await;

    let spans = receiver
        .wait_until(WAIT, |spans| {
            message_span(spans, "trace-relay").is_some()
                && message_span(spans, "trace-finish").is_some()
        })
        .await;
    relay.signal("TERM");
    finish.signal("TERM");
    relay.exit_within(WAIT).await;
    finish.exit_within(WAIT).await;
    let first = message_span(&spans, "trace-relay")
        .unwrap_or_else(|| panic!("no span from trace-relay: {spans:#?}\n{}", relay.output()));
    let second = message_span(&spans, "trace-finish")
        .unwrap_or_else(|| panic!("no span from trace-finish: {spans:#?}\n{}", finish.output()));

    assert_eq!(first.trace_id, trace_id, "{first:#?}");
    assert_eq!(
        first.parent_span_id, parent_id,
        "the requester's span is the parent"
    );
    assert_eq!(first.kind, 5, "a consumer span");
    assert_eq!(first.attribute("topic"), Some("trace/in"));
    assert_eq!(first.attribute("event_type"), Some("trace.in"));
    assert_eq!(first.attribute("envelope_id"), Some(id.as_str()));

    assert_eq!(second.trace_id, trace_id, "one trace across both services");
    assert_eq!(
        second.parent_span_id, first.span_id,
        "the relay's span is the parent"
    );
    assert_eq!(second.attribute("topic"), Some("trace/mid"));
    assert_eq!(second.attribute("event_type"), Some("trace.mid"));
    assert_eq!(
        second.attribute("envelope_id"),
        Some(id.as_str()),
        "a reply keeps the request's id"
    );
    requester.shutdown().await.unwrap();
}
