//! The macros expand against a renamed dependency: the handler runs, the events carry
//! their topics, and the service binary answers its flags.

use bus::testing::{TestBroker, TestClient, TestService};
use tars_renamed_crate::{SttFinal, TtsSay};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_of_a_renamed_dependency_replies() {
    let broker = TestBroker::start().await;
    let bus = TestClient::connect(&broker).await;
    let _service = TestService::with_handlers(&broker, &["shout"]).await;
    let id = bus
        .publish(&SttFinal {
            text: "hello".into(),
        })
        .await;
    let say = bus.next_event::<TtsSay>().await;
    assert_eq!(say.data.text, "HELLO");
    assert_eq!(say.id, id);
}

#[test]
fn the_service_of_a_renamed_dependency_answers_its_flags() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_renamed-service"))
        .arg("--version")
        .output()
        .expect("run the service");
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8_lossy(&output.stdout).trim(),
        format!("renamed-service {}", env!("CARGO_PKG_VERSION"))
    );
}
