//! The `tars` command against mosquitto, with the pipeline example, a second tars
//! service and a Python service on the bus.

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tars::QoS;
use tars_tests::fleet::{tars, tars_ok, Fleet, PYTHON_ID};
use tars_tests::process::{cli_binary, workspace_root};
use tars_tests::python::{run_script, INSTALL_HINT};
use tars_tests::{init_tracing, Probe};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The services `tars services --json` lists, by client id.
fn services(url: &str) -> Vec<Value> {
    let out = tars_ok(&["services", "--json", "--url", url, "--wait", "1s"]);
    serde_json::from_str(out.trim()).expect("services --json is a JSON array")
}

fn service<'a>(all: &'a [Value], client_id: &str) -> &'a Value {
    all.iter()
        .find(|s| s["client_id"] == client_id)
        .unwrap_or_else(|| panic!("{client_id} is not listed: {all:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_lists_tars_and_python_services_and_shows_a_dead_one_as_lost() {
    init_tracing();
    let fleet = Fleet::start().await;
    let url = fleet.url();
    let all = services(&url);
    let pipeline = service(&all, "tars-pipeline");
    assert_eq!(pipeline["status"], "ok");
    assert_eq!(pipeline["event"], "ready");
    assert_eq!(pipeline["version"], "0.1.0");
    assert_eq!(pipeline["handlers"], 4);
    assert!(pipeline["heartbeat_age_s"].as_f64().is_some(), "{pipeline}");
    assert_eq!(service(&all, "tars-tts")["handlers"], 1);
    let python = service(&all, PYTHON_ID);
    assert_eq!(python["status"], "ok");
    assert_eq!(
        python["version"],
        Value::Null,
        "a Python service has no manifest"
    );
    assert!(python["heartbeat_age_s"].as_f64().is_some(), "{python}");

    let table = tars_ok(&["services", "--url", &url]);
    assert!(table.starts_with("CLIENT ID"), "{table}");
    assert!(
        table.contains("tars-pipeline") && table.contains(PYTHON_ID),
        "{table}"
    );

    fleet.pipeline.signal("KILL");
    let mut lost = false;
    for _ in 0..20 {
        if service(&services(&url), "tars-pipeline")["status"] == "lost" {
            lost = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(lost, "a killed service is not shown as lost");
    let table = tars_ok(&["services", "--url", &url]);
    let line = table
        .lines()
        .find(|l| l.starts_with("tars-pipeline"))
        .expect("listed");
    assert!(line.contains("lost"), "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn services_watch_redraws_when_a_service_dies() {
    init_tracing();
    let mut fleet = Fleet::start().await;
    let mut watch = tokio::process::Command::new(cli_binary())
        .args(["services", "--watch", "--json", "--url", &fleet.url()])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start tars services --watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();
    let status_of_python = |line: &str| -> Option<String> {
        let all: Vec<Value> = serde_json::from_str(line).ok()?;
        let python = all.iter().find(|s| s["client_id"] == PYTHON_ID)?;
        python["status"].as_str().map(str::to_owned)
    };
    let first = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("a first drawing within 10 s")
        .unwrap()
        .expect("a line");
    assert_eq!(
        status_of_python(&first).as_deref(),
        Some("ok"),
        "the first drawing: {first}"
    );
    fleet.python.kill().await;
    let redrawn = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if status_of_python(&line).as_deref() == Some("lost") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(
        redrawn,
        Ok(true),
        "--watch never showed the killed Python service as lost"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tail_shows_envelopes_and_raw_payloads_and_stops_after_count() {
    init_tracing();
    let fleet = Fleet::start().await;
    let url = fleet.url();
    let tail = tokio::process::Command::new(cli_binary())
        .args(["tail", "demo/#", "--json", "--count", "2", "--url", &url])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start tars tail");
    // tail has subscribed once a message published now reaches it; retry until then.
    let probe = Probe::start(fleet.broker.port(), &[]).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    tars_ok(&[
        "pub",
        "demo/a",
        "--type",
        "demo.thing",
        "--data",
        r#"{"n": 1}"#,
        "--url",
        &url,
    ]);
    probe
        .publish("demo/raw", QoS::AtLeastOnce, "not an envelope")
        .await;
    let output = tokio::time::timeout(Duration::from_secs(15), tail.wait_with_output())
        .await
        .expect("tail stops after --count 2")
        .unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("--json lines"))
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0]["topic"], "demo/a");
    assert_eq!(lines[0]["type"], "demo.thing");
    assert_eq!(lines[0]["data"]["n"], 1);
    assert_eq!(lines[1]["kind"], "raw");
    assert_eq!(lines[1]["data"], "not an envelope");

    // The human line: topic, type, short id, source, data.
    let human = tokio::process::Command::new(cli_binary())
        .args(["tail", "demo/#", "--count", "1", "--url", &url])
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    tars_ok(&[
        "pub",
        "demo/b",
        "--type",
        "demo.other",
        "--data",
        r#"{"k": "v"}"#,
        "--id",
        "0123456789abcdef0123456789abcdef",
        "--url",
        &url,
    ]);
    let output = tokio::time::timeout(Duration::from_secs(15), human.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&output.stdout).into_owned();
    for part in [
        "demo/b",
        "demo.other",
        "id=01234567",
        "from tars-cli-",
        r#"{"k":"v"}"#,
    ] {
        assert!(line.contains(part), "{part:?} missing from {line:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pub_publishes_exactly_the_five_envelope_fields_and_can_retain() {
    init_tracing();
    let fleet = Fleet::start().await;
    let url = fleet.url();
    let id = "00112233445566778899aabbccddeeff";
    let out = tars_ok(&[
        "pub",
        "demo/retained",
        "--type",
        "demo.kept",
        "--data",
        r#"{"text": "hi"}"#,
        "--id",
        id,
        "--qos",
        "1",
        "--retain",
        "--url",
        &url,
    ]);
    assert!(out.contains(id), "{out}");
    // A subscriber arriving later gets it: retained.
    let mut probe = Probe::start(fleet.broker.port(), &["demo/retained"]).await;
    let seen = probe
        .expect_on("demo/retained", Duration::from_secs(5))
        .await;
    assert!(seen.retain);
    let envelope = seen.json();
    let mut fields: Vec<&str> = envelope
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    fields.sort_unstable();
    assert_eq!(fields, ["data", "id", "source", "ts", "type"]);
    assert_eq!(envelope["id"], id);
    assert_eq!(envelope["type"], "demo.kept");
    assert_eq!(envelope["data"]["text"], "hi");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_prints_the_correlated_reply_on_3_1_1_and_on_v5() {
    init_tracing();
    let fleet = Fleet::start().await;
    let url = fleet.url();
    // 3.1.1, answered by the Python service on its reply topic.
    let out = tars_ok(&[
        "request",
        "py/echo",
        "--type",
        "py.echo",
        "--data",
        r#"{"x": 1}"#,
        "--reply-topic",
        "py/echo/reply",
        "--url",
        &url,
    ]);
    assert!(out.contains("py.echoed from py-llm"), "{out}");
    assert!(out.contains(r#"{"echo":{"x":1}}"#), "{out}");

    // MQTT 5, answered by a v5 tars service on the request's response topic: the
    // reply topic named here gets nothing, so only the v5 path can answer.
    let _v5 = tars_tests::process::ServiceProcess::spawn(
        &tars_tests::process::example_binary("pipeline"),
        &[
            ("MQTT_URL", url.as_str()),
            ("MQTT_VERSION", "5"),
            ("MQTT_CLIENT_ID", "tars-pipeline-v5"),
        ],
    );
    let mut health = Probe::start(fleet.broker.port(), &["system/health/tars-pipeline-v5"]).await;
    health
        .expect_on("system/health/tars-pipeline-v5", Duration::from_secs(30))
        .await;
    let out = tars_ok(&[
        "request",
        "llm/request",
        "--type",
        "llm.request",
        "--data",
        r#"{"prompt": "hi"}"#,
        "--reply-topic",
        "nobody/publishes/here",
        "--reply-type",
        "llm.response",
        "--mqtt-version",
        "5",
        "--json",
        "--url",
        &url,
    ]);
    let reply: Value = serde_json::from_str(&out).expect("--json prints the envelope");
    assert_eq!(reply["type"], "llm.response");
    assert_eq!(reply["data"]["reply"], "Hello! How can I help?");

    // Nobody answers: exit 1, saying so.
    let output = tars(&[
        "request",
        "silent/topic",
        "--type",
        "x.y",
        "--data",
        "{}",
        "--reply-topic",
        "silent/reply",
        "--timeout",
        "500ms",
        "--url",
        &url,
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no reply on silent/reply"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn asyncapi_merges_every_manifest_into_one_valid_document() {
    init_tracing();
    let fleet = Fleet::start().await;
    let out = tars_ok(&["asyncapi", "--url", &fleet.url()]);
    let document: Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(document["asyncapi"], "3.0.0");
    let operations = document["operations"].as_object().unwrap();
    for id in [
        "tars-pipeline_receive_understand",
        "tars-pipeline_send_tts_say",
        "tars-tts_receive_say",
    ] {
        assert!(
            operations.contains_key(id),
            "no {id} in {:?}",
            operations.keys()
        );
    }
    assert!(document["channels"]["tts_say"].is_object());
    let schema = workspace_root().join("tests/asyncapi/asyncapi-3.0.0.schema.json");
    let output = run_script("validate_asyncapi.py", &[schema.as_os_str()], &out);
    assert!(
        output.status.success(),
        "the fleet's AsyncAPI document is invalid:\n{}\n(if jsonschema is missing: {INSTALL_HINT})",
        String::from_utf8_lossy(&output.stdout)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graph_draws_the_edge_between_two_services() {
    init_tracing();
    let fleet = Fleet::start().await;
    let url = fleet.url();
    let graph: Value =
        serde_json::from_str(&tars_ok(&["graph", "--format", "json", "--url", &url])).unwrap();
    let edge = graph["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["to"] == "tars-tts")
        .unwrap_or_else(|| panic!("no edge to tars-tts: {graph}"));
    assert_eq!(edge["from"], "tars-pipeline");
    assert_eq!(edge["event_type"], "tts.say");
    assert_eq!(edge["topic"], "tts/say");
    let python = graph["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == PYTHON_ID)
        .expect("the Python service is a node");
    assert_eq!(python["manifest"], false);

    let mermaid = tars_ok(&["graph", "--url", &url]);
    assert!(mermaid.starts_with("flowchart LR"), "{mermaid}");
    assert!(mermaid.contains("\"tts.say<br/>tts/say\""), "{mermaid}");
    let dot = tars_ok(&["graph", "--format", "dot", "--url", &url]);
    assert!(
        dot.contains("\"tars-pipeline\" -> \"tars-tts\" [label=\"tts.say\\ntts/say\"]"),
        "{dot}"
    );
}

#[test]
fn bad_input_exits_2_and_an_unreachable_broker_exits_1() {
    let url = "mqtt://bob:hunter2@127.0.0.1:9";
    let cases: [(&[&str], &str); 6] = [
        (
            &["pub", "t", "--type", "x", "--data", "{oops", "--url", url],
            "--data is not valid JSON",
        ),
        (
            &["pub", "t", "--type", "x", "--data", "[1]", "--url", url],
            "must be a JSON object",
        ),
        (
            &["pub", "a/#", "--type", "x", "--data", "{}", "--url", url],
            "wildcard",
        ),
        (&["services", "--url", "foo://host"], "unknown scheme"),
        (&["services"], "pass --url or set MQTT_URL"),
        (&["frobnicate", "--url", url], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let output = tars(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "tars {args:?}: {stderr}");
        assert!(stderr.contains(expected), "tars {args:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "the password leaked: {stderr}");
    }
    let output = tars(&["services", "--url", url, "--connect-timeout", "1s"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("cannot reach the broker at mqtt://bob:***@127.0.0.1:9"),
        "{stderr}"
    );
    assert!(!stderr.contains("hunter2"));
    for command in [
        "services",
        "tail",
        "pub",
        "request",
        "asyncapi",
        "graph",
        "dashboard",
    ] {
        let output = tars(&[command, "--help"]);
        assert!(output.status.success(), "tars {command} --help");
        assert!(String::from_utf8_lossy(&output.stdout).contains("Usage: tars"));
    }
}
