//! What a `#[tars::service]` owes the broker around its edges: the acknowledgements of
//! what it finished before a graceful exit, and a loud failure when the broker refuses
//! one of its subscriptions or publishes (`publish_confirmed`).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tars::QoS;
use tars_tests::process::ServiceProcess;
use tars_tests::{init_tracing, Mosquitto, Probe};

use tars_tests::WAIT;

fn busy_service() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_busy-service"))
}

fn handled(output: &str) -> Vec<&str> {
    output
        .lines()
        .filter_map(|l| l.strip_prefix("handled "))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_shutdown_acknowledges_what_it_handled_so_nothing_is_handled_twice() {
    init_tracing();
    let broker = Mosquitto::start();
    let client_id = format!("drain-{}", &tars::new_id()[..8]);
    let url = broker.url();
    let vars = [
        ("MQTT_URL", url.as_str()),
        ("MQTT_CLIENT_ID", client_id.as_str()),
        ("MQTT_CLEAN_SESSION", "false"),
        ("BUSY_MS", "1500"),
        ("RUST_LOG", "info"),
    ];
    let mut service = ServiceProcess::spawn(busy_service(), &vars);
    service.wait_for_output("service ready", WAIT).await;
    let probe = Probe::start(broker.port(), &[]).await;
    probe.publish("busy/work", QoS::AtLeastOnce, "job-1").await;
    probe.publish("busy/work", QoS::AtLeastOnce, "job-2").await;
    service.wait_for_line("started job-1", WAIT).await;
    service.signal("TERM");
    let status = service.exit_within(WAIT).await;
    let first_run = service.output();
    assert!(status.success(), "exit {status}:\n{first_run}");
    assert_eq!(
        handled(&first_run),
        ["job-1", "job-2"],
        "the drain finishes both:\n{first_run}"
    );

    // The same client id again: the broker has nothing left to deliver.
    let mut again = ServiceProcess::spawn(busy_service(), &vars);
    again.wait_for_output("service ready", WAIT).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let second_run = again.output();
    assert!(
        !second_run.contains("started job-"),
        "a message handled before the graceful exit came back:\n{second_run}"
    );
    again.signal("TERM");
    assert!(again.exit_within(WAIT).await.success());
}

/// A mosquitto whose dynamic-security plugin refuses anonymous clients' subscriptions
/// to `acc/#` unless `allow_ping` (mosquitto's `acl_file` never refuses a subscription,
/// it only withholds deliveries). Its folder is writable by the `mosquitto` user, which
/// mosquitto switches to when started as root, and the plugin saves its file there.
struct AclBroker {
    dir: tempfile::TempDir,
    broker: Mosquitto,
}

const DYNAMIC_SECURITY: &str = "/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so";

impl AclBroker {
    fn start(allow_ping: bool) -> Self {
        assert!(
            Path::new(DYNAMIC_SECURITY).is_file(),
            "{DYNAMIC_SECURITY} is missing: install Debian's mosquitto package (apt-get install mosquitto)"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        write_acl(dir.path(), allow_ping);
        let broker = Mosquitto::start_with(&format!(
            "allow_anonymous true\nplugin {DYNAMIC_SECURITY}\nplugin_opt_config_file {}\n",
            dir.path().join("dynsec.json").display()
        ));
        Self { dir, broker }
    }

    fn restart_with(&mut self, allow_ping: bool) {
        self.broker.stop();
        write_acl(self.dir.path(), allow_ping);
        self.broker.restart();
    }
}

fn write_acl(dir: &Path, allow_ping: bool) {
    let dynsec = serde_json::json!({
        "defaultACLAccess": {
            "publishClientSend": true, "publishClientReceive": true,
            "subscribe": true, "unsubscribe": true
        },
        "clients": [],
        "groups": [{"groupname": "anonymous", "roles": [{"rolename": "acc"}]}],
        "roles": [{"rolename": "acc", "acls": [
            {"acltype": "subscribePattern", "topic": "acc/#", "priority": 0, "allow": allow_ping},
            {"acltype": "publishClientSend", "topic": "acc/secret/#", "priority": 0, "allow": false}
        ]}],
        "anonymousGroup": "anonymous"
    });
    let path = dir.join("dynsec.json");
    std::fs::write(&path, dynsec.to_string()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_refused_at_start_stops_the_service_with_exit_1_naming_the_filter() {
    init_tracing();
    let acl = AclBroker::start(false);
    let url = acl.broker.url();
    let mut service = ServiceProcess::spawn(
        busy_service(),
        &[
            ("MQTT_URL", url.as_str()),
            ("MQTT_CLIENT_ID", "deaf-service"),
        ],
    );
    let status = service.exit_within(WAIT).await;
    let output = service.output();
    assert_eq!(status.code(), Some(1), "{output}");
    assert!(
        output.contains("acc/ping"),
        "the filter is named:\n{output}"
    );
    assert!(output.contains("ACL"), "the fix is named:\n{output}");
    assert!(
        output.contains(broker_answer()),
        "the broker's answer is named:\n{output}"
    );
    assert!(!output.contains("service ready"), "{output}");
}

/// How the broker's refusal reads: a return code under 3.1.1, a reason under MQTT 5.
fn broker_answer() -> &'static str {
    match tars_tests::mqtt_version() {
        tars::MqttVersion::V3_1_1 => "SUBACK: failure (0x80)",
        tars::MqttVersion::V5 => "SUBACK: not authorized",
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscription_refused_on_a_reconnect_turns_health_not_ok_naming_the_filter() {
    init_tracing();
    let mut acl = AclBroker::start(true);
    let client_id = format!("acl-{}", &tars::new_id()[..8]);
    let health = tars::health::health_topic(&client_id);
    let url = acl.broker.url();
    let service = ServiceProcess::spawn(
        busy_service(),
        &[
            ("MQTT_URL", url.as_str()),
            ("MQTT_CLIENT_ID", client_id.as_str()),
            ("MQTT_RECONNECT_MIN_DELAY", "0.2"),
            ("MQTT_RECONNECT_MAX_DELAY", "0.5"),
        ],
    );
    service.wait_for_output("service ready", WAIT).await;
    acl.restart_with(false);
    let mut probe = Probe::start(acl.broker.port(), &[&health]).await;
    let deadline = tokio::time::Instant::now() + WAIT;
    let status = loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let seen = probe.expect_on(&health, left).await;
        let data = seen.json()["data"].clone();
        if data["event"] == "reconnected" {
            break data;
        }
    };
    assert_eq!(status["ok"], false, "{status}");
    let err = status["err"].as_str().unwrap_or_default();
    assert!(err.contains("acc/ping") && err.contains("ACL"), "{err}");
    let output = service.output();
    assert!(
        output.contains("ERROR") && output.contains("the broker refused the subscription"),
        "{output}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_subscribe_returns_the_refusal() {
    init_tracing();
    let acl = AclBroker::start(false);
    let config = tars_tests::config(acl.broker.port(), "acl-client")
        .build()
        .unwrap();
    let client = tars::Client::connect(config).await.unwrap();
    let refused = client
        .subscribe("acc/ping", QoS::AtLeastOnce, |_m: tars::Message| async {})
        .await
        .expect_err("the ACL denies reading acc/ping");
    assert!(
        matches!(&refused, tars::Error::SubscriptionRefused { filter, answer } if filter == "acc/ping" && answer == broker_answer()),
        "{refused}"
    );
    client
        .subscribe("busy/ok", QoS::AtLeastOnce, |_m: tars::Message| async {})
        .await
        .expect("an allowed filter still subscribes");
    client.shutdown().await.unwrap();
}

#[derive(tars::Event, serde::Serialize)]
#[event(topic = "acc/open/plan", qos = 1)]
struct OpenPlan {
    text: String,
}

#[derive(tars::Event, serde::Serialize)]
#[event(topic = "acc/secret/plan", qos = 1)]
struct SecretPlan {
    text: String,
}

#[derive(tars::Event, serde::Serialize)]
#[event(topic = "nobody/listens", qos = 1)]
struct Unheard {
    text: String,
}

#[derive(tars::Event, serde::Serialize)]
#[event(topic = "acc/open/level", qos = 0)]
struct Level {
    value: u32,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_confirmed_resolves_on_the_brokers_answer_and_names_a_refusal() {
    init_tracing();
    let acl = AclBroker::start(true);
    let mut probe = Probe::start(acl.broker.port(), &["acc/#"]).await;
    let config = tars_tests::config(acl.broker.port(), "confirming")
        .build()
        .unwrap();
    let client = tars::Client::connect(config).await.unwrap();
    let open = OpenPlan { text: "go".into() };
    assert_eq!(
        client.publish_confirmed(&open).await.unwrap(),
        tars::Confirmation::Acknowledged
    );
    probe.expect_on("acc/open/plan", WAIT).await;
    assert_eq!(
        client.publish_confirmed(&Level { value: 3 }).await.unwrap(),
        tars::Confirmation::Written,
        "QoS 0: written to the socket"
    );
    let unheard = client
        .publish_confirmed(&Unheard {
            text: "hello?".into(),
        })
        .await
        .unwrap();
    let expected = match tars_tests::mqtt_version() {
        // MQTT 5: reason code 0x10, no matching subscribers.
        tars::MqttVersion::V5 => tars::Confirmation::NoSubscribers,
        tars::MqttVersion::V3_1_1 => tars::Confirmation::Acknowledged,
    };
    assert_eq!(unheard, expected);
    let secret = SecretPlan {
        text: "hush".into(),
    };
    let outcome = client.publish_confirmed(&secret).await;
    let metrics = tars::testing::MetricsSnapshot::parse(&client.metrics_text());
    let refused = metrics.value("tars_publish_outcomes_total", &[("outcome", "refused")]);
    match tars_tests::mqtt_version() {
        tars::MqttVersion::V5 => {
            let error = outcome.expect_err("the ACL denies publishing on acc/secret/#");
            assert!(
                matches!(&error, tars::Error::PublishRefused { topic, reason }
                    if topic == "acc/secret/plan" && reason == "not authorized"),
                "{error}"
            );
            assert_eq!(
                error.to_string(),
                "the broker refused the publish on \"acc/secret/plan\": not authorized"
            );
            assert_eq!(refused, Some(1.0));
        }
        tars::MqttVersion::V3_1_1 => {
            // MQTT 3.1.1 has no refusal: mosquitto acknowledges the publish and drops it.
            assert_eq!(outcome.unwrap(), tars::Confirmation::Acknowledged);
            assert_eq!(refused, Some(0.0));
        }
    }
    let later = probe.collect_for(Duration::from_millis(300)).await;
    assert!(
        later.iter().all(|seen| seen.topic != "acc/secret/plan"),
        "the refused publish reached a subscriber"
    );
    let acknowledged = metrics.value(
        "tars_publish_outcomes_total",
        &[("outcome", "acknowledged")],
    );
    assert!(acknowledged >= Some(1.0), "{acknowledged:?}");
    client.shutdown().await.unwrap();
}
