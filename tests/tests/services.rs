//! The example services built with the macros, run as processes against a mosquitto
//! started by the test: what they publish, how they stop, how they fail.

use std::time::Duration;

use serde_json::{json, Value};
use tars_tests::process::{example_binary, scratch_binary, workspace_root, ServiceProcess};
use tars_tests::{init_tracing, python_style_envelope, Mosquitto, Probe, Seen};

use tars_tests::WAIT;
/// The drain bound (5 s) plus the final health flush, with room for a busy machine.
const STOP_BOUND: Duration = Duration::from_secs(9);

fn client_id(name: &str) -> String {
    format!("{name}-{}", &tars::new_id()[..8])
}

/// Starts `binary` against `broker` and waits for its retained health `ready`.
async fn start_service(
    binary: &std::path::Path,
    broker: &Mosquitto,
    id: &str,
) -> (ServiceProcess, Probe) {
    let health = format!("system/health/{id}");
    let mut probe = Probe::start(broker.port(), &[&health]).await;
    let url = broker.url();
    let service = ServiceProcess::spawn(binary, &[("MQTT_URL", &url), ("MQTT_CLIENT_ID", id)]);
    let ready = probe.expect_on(&health, WAIT).await.json();
    assert_eq!(ready["data"]["event"], "ready", "{ready}");
    (service, probe)
}

fn assert_envelope(seen: &Seen, event_type: &str, source: &str) -> Value {
    let envelope = seen.json();
    let mut keys: Vec<&str> = envelope
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["data", "id", "source", "ts", "type"], "{envelope}");
    let id = envelope["id"].as_str().unwrap();
    assert!(
        id.len() == 32
            && id
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
        "{id}"
    );
    assert_eq!(envelope["type"], event_type);
    assert_eq!(envelope["source"], source);
    let ts = envelope["ts"].as_f64().unwrap();
    assert!((ts - tars::now_ts()).abs() < 10.0, "ts {ts}");
    envelope
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quickstart_turns_stt_final_into_tts_say() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("quickstart");
    let (_service, _health) = start_service(&example_binary("quickstart"), &broker, &id).await;
    let mut probe = Probe::start(broker.port(), &["tts/say"]).await;

    let stt = python_style_envelope(
        "stt.final",
        json!({"text": "turn on the lights", "confidence": 0.93}),
        None,
    );
    probe
        .publish("stt/final", rumqttc::QoS::AtLeastOnce, stt)
        .await;

    let say = probe.expect_on("tts/say", WAIT).await;
    let envelope = assert_envelope(&say, "tts.say", &id);
    assert_eq!(envelope["data"], json!({"text": "turn on the lights"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_message_spans_on_a_handler_logs_in_its_message_topic_type_and_id() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("spans");
    let mut probe = Probe::start(broker.port(), &["tts/say"]).await;
    let url = broker.url();
    let mut service = ServiceProcess::spawn(
        &example_binary("quickstart"),
        &[
            ("MQTT_URL", &url),
            ("MQTT_CLIENT_ID", &id),
            ("RUST_LOG", "info,tars::message=debug,tars::publish=debug"),
        ],
    );
    let request_id = tars::new_id();
    let stt = python_style_envelope(
        "stt.final",
        json!({"text": "lights", "confidence": 0.9}),
        Some(&request_id),
    );
    // Published until the service is subscribed (it may still be starting).
    let mut answered = false;
    for _ in 0..20 {
        probe
            .publish("stt/final", rumqttc::QoS::AtLeastOnce, stt.clone())
            .await;
        if probe
            .next_within(Duration::from_millis(500))
            .await
            .is_some()
        {
            answered = true;
            break;
        }
    }
    assert!(answered, "no tts/say; output:\n{}", service.output());
    service.signal("TERM");
    service.exit_within(STOP_BOUND).await;
    let output = service.output();
    // The span's fields (MQTT 5 adds its trace_id among them), then the event.
    let fields = [
        "topic=\"stt/final\"".to_owned(),
        "event_type=\"stt.final\"".to_owned(),
        format!("envelope_id=\"{request_id}\""),
    ];
    let in_span = |line: &str| {
        let Some(span) = line
            .split_once("message{")
            .and_then(|(_, rest)| rest.split_once("}:"))
            .map(|(span, _)| span)
        else {
            return false;
        };
        fields.iter().all(|field| span.contains(field.as_str()))
    };
    assert!(
        output
            .lines()
            .any(|line| in_span(line) && line.contains("published")),
        "no `published` line inside a message span with {fields:?}:\n{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_service_with_exit_0_and_retained_health_shutdown() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("term");
    let (mut service, mut health) =
        start_service(&example_binary("quickstart"), &broker, &id).await;

    service.signal("TERM");
    let status = service.exit_within(STOP_BOUND).await;
    assert_eq!(status.code(), Some(0), "output:\n{}", service.output());
    let topic = format!("system/health/{id}");
    let shutdown = health.expect_on(&topic, WAIT).await.json();
    assert_eq!(
        (
            shutdown["data"]["ok"].as_bool(),
            shutdown["data"]["event"].as_str()
        ),
        (Some(false), Some("shutdown"))
    );
    let mut late = Probe::start(broker.port(), &[&topic]).await;
    assert_eq!(
        late.expect_on(&topic, WAIT).await.json()["data"]["event"],
        "shutdown",
        "retained"
    );
    assert!(
        health
            .collect_for(Duration::from_millis(500))
            .await
            .is_empty(),
        "no last will after a clean stop"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_also_stops_the_service_gracefully() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("int");
    let (mut service, _health) = start_service(&example_binary("quickstart"), &broker, &id).await;
    service.signal("INT");
    assert_eq!(
        service.exit_within(STOP_BOUND).await.code(),
        Some(0),
        "{}",
        service.output()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_leaves_the_last_will_lost_retained() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("kill");
    let (mut service, mut health) =
        start_service(&example_binary("quickstart"), &broker, &id).await;
    service.signal("KILL");
    service.exit_within(WAIT).await;
    let topic = format!("system/health/{id}");
    let lost = health.expect_on(&topic, WAIT).await.json();
    assert_eq!(
        (lost["data"]["ok"].as_bool(), lost["data"]["event"].as_str()),
        (Some(false), Some("lost"))
    );
    let mut late = Probe::start(broker.port(), &[&topic]).await;
    assert_eq!(
        late.expect_on(&topic, WAIT).await.json()["data"]["event"],
        "lost",
        "retained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configuration_errors_exit_2_naming_the_variable() {
    init_tracing();
    let binary = example_binary("quickstart");
    let cases: [(&[(&str, &str)], &str); 3] = [
        (&[], "MQTT_URL is not set"),
        (
            &[("MQTT_URL", "http://localhost")],
            "MQTT_URL=\"http://localhost\" is invalid",
        ),
        (
            &[
                ("MQTT_URL", "mqtt://127.0.0.1:1"),
                ("MQTT_CLIENT_ID", "x"),
                ("MQTT_KEEPALIVE", "soon"),
            ],
            "MQTT_KEEPALIVE=\"soon\" is invalid",
        ),
    ];
    for (vars, expected) in cases {
        let mut service = ServiceProcess::spawn(&binary, vars);
        let status = service.exit_within(WAIT).await;
        tokio::time::sleep(Duration::from_millis(100)).await; // let the output be collected
        let output = service.output();
        assert_eq!(status.code(), Some(2), "{vars:?}: {output}");
        assert!(
            output.contains(expected),
            "{vars:?}: expected {expected:?} in:\n{output}"
        );
        assert_eq!(output.trim().lines().count(), 1, "one line: {output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pipeline_replies_with_the_request_id_at_every_step() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("pipeline");
    let (_service, _health) = start_service(&example_binary("pipeline"), &broker, &id).await;
    let mut probe = Probe::start(broker.port(), &["llm/#", "tts/say"]).await;

    let request_id = tars::new_id();
    let stt = python_style_envelope(
        "stt.final",
        json!({"text": "Hello?", "confidence": 0.9}),
        Some(&request_id),
    );
    probe
        .publish("stt/final", rumqttc::QoS::AtLeastOnce, stt)
        .await;

    let request = assert_envelope(
        &probe.expect_on("llm/request", WAIT).await,
        "llm.request",
        &id,
    );
    assert_eq!(
        request["id"],
        request_id.as_str(),
        "a returned event carries the request's id"
    );
    assert_eq!(request["data"], json!({"prompt": "Hello?"}));
    let response = assert_envelope(
        &probe.expect_on("llm/response", WAIT).await,
        "llm.response",
        &id,
    );
    assert_eq!(response["id"], request_id.as_str());
    assert_eq!(response["data"]["reply"], "Hello! How can I help?");
    let say = assert_envelope(&probe.expect_on("tts/say", WAIT).await, "tts.say", &id);
    assert_eq!(say["id"], request_id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_template_handler_receives_its_segment() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("voice");
    let (_service, _health) = start_service(&example_binary("pipeline"), &broker, &id).await;
    let mut probe = Probe::start(broker.port(), &["tts/say", "llm/request"]).await;

    probe
        .publish("pipeline/voice/robot", rumqttc::QoS::AtLeastOnce, "{}")
        .await;
    // An unsure transcript produces nothing; a sure one goes through in the new voice.
    let unsure = python_style_envelope(
        "stt.final",
        json!({"text": "mumble", "confidence": 0.2}),
        None,
    );
    probe
        .publish("stt/final", rumqttc::QoS::AtLeastOnce, unsure)
        .await;
    let sure = python_style_envelope(
        "stt.final",
        json!({"text": "what time is it", "confidence": 0.8}),
        None,
    );
    probe
        .publish("stt/final", rumqttc::QoS::AtLeastOnce, sure)
        .await;

    let request = probe.expect_on("llm/request", WAIT).await.json();
    assert_eq!(
        request["data"]["prompt"], "what time is it",
        "the unsure transcript was dropped"
    );
    let say = probe.expect_on("tts/say", WAIT).await.json();
    assert_eq!(
        say["data"],
        json!({"text": "Time for tea.", "voice": "robot"})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_design_service_builds_in_a_crate_that_depends_only_on_tars_and_serde() {
    init_tracing();
    let quickstart =
        std::fs::read_to_string(workspace_root().join("examples/quickstart.rs")).unwrap();
    let binary = scratch_binary(
        "ten-lines",
        &[],
        r#"serde = { version = "1", features = ["derive"] }"#,
        &quickstart,
    );

    let broker = Mosquitto::start();
    let id = client_id("ten-lines");
    let (_service, _health) = start_service(&binary, &broker, &id).await;
    let mut probe = Probe::start(broker.port(), &["tts/say"]).await;
    let stt = python_style_envelope(
        "stt.final",
        json!({"text": "ten lines", "confidence": 1.0}),
        None,
    );
    probe
        .publish("stt/final", rumqttc::QoS::AtLeastOnce, stt)
        .await;
    assert_eq!(
        probe.expect_on("tts/say", WAIT).await.json()["data"]["text"],
        "ten lines"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dot_env_file_configures_the_service_and_real_variables_win() {
    init_tracing();
    let broker = Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let (from_file, from_env) = (client_id("dotenv-file"), client_id("dotenv-env"));
    std::fs::write(
        dir.path().join(".env"),
        format!(
            "MQTT_URL={}\nMQTT_CLIENT_ID={from_file}\nMQTT_SOURCE_NAME=from-dotenv\n",
            broker.url()
        ),
    )
    .unwrap();
    let binary = example_binary("quickstart");
    let health = format!("system/health/{from_env}");
    let mut probe = Probe::start(broker.port(), &[&health, "tts/say"]).await;

    // MQTT_URL and MQTT_SOURCE_NAME come from the file; MQTT_CLIENT_ID from the environment.
    let _service = ServiceProcess::spawn_in(&binary, dir.path(), &[("MQTT_CLIENT_ID", &from_env)]);
    assert_eq!(
        probe.expect_on(&health, WAIT).await.json()["data"]["event"],
        "ready"
    );
    let stt = python_style_envelope("stt.final", json!({"text": "hi", "confidence": 1.0}), None);
    probe
        .publish("stt/final", rumqttc::QoS::AtLeastOnce, stt)
        .await;
    assert_eq!(
        probe.expect_on("tts/say", WAIT).await.json()["source"],
        "from-dotenv"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tars_log_format_json_writes_json_lines() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("json-logs");
    let health = format!("system/health/{id}");
    let mut probe = Probe::start(broker.port(), &[&health]).await;
    let url = broker.url();
    let mut service = ServiceProcess::spawn(
        &example_binary("quickstart"),
        &[
            ("MQTT_URL", &url),
            ("MQTT_CLIENT_ID", &id),
            ("TARS_LOG_FORMAT", "json"),
        ],
    );
    probe.expect_on(&health, WAIT).await;
    service.signal("TERM");
    assert_eq!(service.exit_within(STOP_BOUND).await.code(), Some(0));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let output = service.output();
    let lines: Vec<Value> = output
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["fields"]["message"] == "service ready"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_announces_a_retained_manifest_and_clears_it_on_shutdown() {
    init_tracing();
    let broker = Mosquitto::start();
    let id = client_id("manifest");
    let (mut service, _health) = start_service(&example_binary("pipeline"), &broker, &id).await;
    let topic = format!("system/services/{id}");

    let mut late = Probe::start(broker.port(), &[&topic]).await;
    let seen = late.expect_on(&topic, WAIT).await;
    assert!(seen.retain, "the manifest is retained");
    let manifest = assert_envelope(&seen, "service.manifest", &id)["data"].clone();
    assert_eq!(manifest["name"], id.as_str());
    let mut handlers: Vec<&str> = manifest["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    handlers.sort_unstable();
    assert_eq!(handlers, ["select_voice", "speak", "think", "understand"]);
    let voice = manifest["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["name"] == "select_voice")
        .unwrap();
    assert_eq!(
        (voice["filter"].as_str(), voice["qos"].as_u64()),
        (Some("pipeline/voice/+"), Some(1))
    );
    let types: Vec<&str> = manifest["event_types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"stt.final") && types.contains(&"tts.say"),
        "{types:?}"
    );
    assert!(manifest["started_at"].as_f64().unwrap() > 0.0);

    service.signal("TERM");
    assert_eq!(service.exit_within(STOP_BOUND).await.code(), Some(0));
    let cleared = late.expect_on(&topic, WAIT).await;
    assert!(
        cleared.payload.is_empty(),
        "an empty retained message clears the manifest"
    );
    let mut after = Probe::start(broker.port(), &[&topic]).await;
    assert!(
        after
            .collect_for(std::time::Duration::from_millis(500))
            .await
            .is_empty(),
        "nothing retained"
    );
}
