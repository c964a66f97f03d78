//! `--asyncapi` prints an AsyncAPI 3.0 document of the service, valid against the
//! official JSON schema (`tests/asyncapi/`), that describes its handlers, events,
//! replies, health and heartbeat.

use serde_json::Value;
use tars_tests::init_tracing;
use tars_tests::process::{example_binary, workspace_root};
use tars_tests::python::{run_script, INSTALL_HINT};

fn document(example: &str) -> Value {
    document_with(example, &[])
}

fn document_with(example: &str, vars: &[(&str, &str)]) -> Value {
    document_of(&example_binary(example), example, vars)
}

fn document_of(binary: &std::path::Path, example: &str, vars: &[(&str, &str)]) -> Value {
    let output = std::process::Command::new(binary)
        .arg("--asyncapi")
        .env_remove("MQTT_URL")
        .env_remove("MQTT_VERSION")
        .envs(vars.iter().copied())
        .output()
        .expect("run the example");
    assert!(
        output.status.success(),
        "{example} --asyncapi failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = String::from_utf8(output.stdout).expect("UTF-8");
    validate(example, &text);
    serde_json::from_str(&text).expect("JSON")
}

fn validate(example: &str, text: &str) {
    let schema = workspace_root().join("tests/asyncapi/asyncapi-3.0.0.schema.json");
    let output = run_script("validate_asyncapi.py", &[schema.as_os_str()], text);
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{example}: the AsyncAPI document is invalid:\n{report}\n(if jsonschema is missing: {INSTALL_HINT})");
}

fn operation<'a>(doc: &'a Value, id: &str) -> &'a Value {
    doc["operations"]
        .get(id)
        .unwrap_or_else(|| panic!("no operation {id} in {}", doc["operations"]))
}

#[test]
fn the_pipeline_is_described_with_its_channels_operations_and_messages() {
    init_tracing();
    let doc = document("pipeline");
    assert_eq!(doc["asyncapi"], "3.0.0");
    assert_eq!(doc["info"]["title"], "tars-pipeline");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    let receive = operation(&doc, "receive_understand");
    assert_eq!(receive["action"], "receive");
    assert_eq!(receive["channel"]["$ref"], "#/channels/stt_final");
    assert_eq!(receive["bindings"]["mqtt"]["qos"], 1);
    assert_eq!(doc["channels"]["stt_final"]["address"], "stt/final");
    let stt = &doc["components"]["messages"]["stt_final"];
    assert_eq!(stt["name"], "stt.final");
    assert_eq!(stt["payload"]["properties"]["type"]["const"], "stt.final");
    assert_eq!(stt["payload"]["additionalProperties"], false);

    let reply = operation(&doc, "reply_understand");
    assert_eq!(reply["action"], "send");
    assert_eq!(doc["channels"]["llm_request"]["address"], "llm/request");

    let voice = &doc["channels"]["pipeline_voice_voice"];
    assert_eq!(voice["address"], "pipeline/voice/{voice}");
    assert!(voice["parameters"]["voice"].is_object());

    assert_eq!(
        operation(&doc, "send_health")["bindings"]["mqtt"]["retain"],
        true
    );
    assert!(doc["channels"]["system_keepalive"]["address"]
        .as_str()
        .unwrap()
        .starts_with("system/keepalive/"));
}

#[test]
fn events_the_service_only_publishes_are_send_operations() {
    init_tracing();
    let doc = document("quickstart");
    assert_eq!(
        operation(&doc, "receive_speak")["channel"]["$ref"],
        "#/channels/stt_final"
    );
    let send = operation(&doc, "send_tts_say");
    assert_eq!(send["action"], "send");
    assert_eq!(doc["channels"]["tts_say"]["address"], "tts/say");
}

#[test]
fn wildcards_templates_and_share_groups_are_described() {
    init_tracing();
    let sensors = document("sensors");
    assert_eq!(
        sensors["channels"]["sensors_room_temperature"]["address"],
        "sensors/{room}/temperature"
    );
    assert_eq!(
        sensors["channels"]["system_health_service"]["address"],
        "system/health/{service}"
    );
    let workers = document("shared_workers");
    assert_eq!(
        operation(&workers, "receive_work")["bindings"]["mqtt"]["x-share-group"],
        "workers"
    );
}

#[test]
fn event_data_schemas_come_from_schemars_when_the_feature_is_on() {
    init_tracing();
    let main_rs = r#"
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize, JsonSchema)]
#[event(topic = "stt/final", qos = 1)]
struct SttFinal { text: String, confidence: f32, words: Vec<Word> }

#[derive(Serialize, Deserialize, JsonSchema)]
struct Word { text: String, start: f32 }

#[tars::handler]
async fn transcript(_ev: SttFinal) {}

#[tars::service(name = "schema-service")]
async fn main() {}
"#;
    let binary = tars_tests::process::scratch_binary(
        "schema-service",
        &["schemars"],
        "serde = { version = \"1\", features = [\"derive\"] }\nschemars = \"1\"",
        main_rs,
    );
    let output = std::process::Command::new(binary)
        .arg("--asyncapi")
        .output()
        .unwrap();
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    validate("schema-service", &text);
    let doc: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["info"]["version"], "1.2.3");
    let data = &doc["components"]["messages"]["stt_final"]["payload"]["properties"]["data"];
    assert_eq!(data["properties"]["text"]["type"], "string", "{data}");
    assert_eq!(data["properties"]["confidence"]["type"], "number", "{data}");
    assert_eq!(
        data["properties"]["words"]["items"]["properties"]["start"]["type"], "number",
        "inlined: {data}"
    );
}

#[test]
fn failure_policies_and_dead_letter_channels_are_described() {
    init_tracing();
    let binary = std::path::Path::new(env!("CARGO_BIN_EXE_flaky-service"));
    let vars = [
        ("TARS_RETRIES", "2"),
        ("TARS_BACKOFF", "250ms"),
        ("TARS_DEAD_LETTER_TOPIC", "dead/flaky"),
    ];
    let doc = document_of(binary, "flaky-service", &vars);
    let policy = &operation(&doc, "receive_flaky")["x-tars-failure-policy"];
    assert_eq!(policy["retries"], 2, "{policy}");
    assert_eq!(policy["backoffMs"], 250, "{policy}");
    assert_eq!(policy["deadLetter"], "dead/flaky", "{policy}");
    let send = operation(&doc, "dead_letter_flaky");
    assert_eq!(send["action"], "send");
    assert_eq!(doc["channels"]["dead_flaky"]["address"], "dead/flaky");

    let output = std::process::Command::new(binary)
        .arg("--asyncapi")
        .env("TARS_RETRIES", "many")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("TARS_RETRIES"), "{stderr}");
}

#[test]
fn the_server_states_the_broker_and_the_mqtt_version() {
    init_tracing();
    let doc = document("pipeline");
    assert_eq!(doc["servers"]["broker"]["protocol"], "mqtt");
    assert_eq!(doc["servers"]["broker"]["protocolVersion"], "3.1.1");
    let doc = document_with(
        "pipeline",
        &[
            ("MQTT_URL", "mqtts://stt:secret@broker.lan:8883"),
            ("MQTT_VERSION", "5"),
        ],
    );
    let server = &doc["servers"]["broker"];
    assert_eq!(server["host"], "broker.lan:8883");
    assert_eq!(server["protocol"], "secure-mqtt");
    assert_eq!(server["protocolVersion"], "5");
    assert!(
        !doc.to_string().contains("secret"),
        "the password stays out of the document"
    );
}
