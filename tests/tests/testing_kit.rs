//! `TestClient::reply_to` answers a request a service sends, as a Python responder
//! does, and `Context::request_envelope` hands the handler the whole reply.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tars::testing::{TestClient, TestService};
use tars::{Context, Event};
use tars_tests::{init_tracing, test_broker, WAIT};

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "kit/question", qos = 1)]
struct Question {
    text: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "kit/llm/request", qos = 1)]
struct LlmRequest {
    prompt: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "kit/llm/response", qos = 1, reply_to = LlmRequest)]
struct LlmResponse {
    reply: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "kit/answer", qos = 1)]
struct Answer {
    text: String,
    answered_by: String,
}

/// Asks the LLM and passes its answer on, with who answered.
#[tars::handler(qos = 1)]
async fn relay(ev: Question, ctx: Context) -> tars::Result<Answer> {
    let reply = ctx
        .request_envelope::<LlmRequest, LlmResponse>(
            &LlmRequest { prompt: ev.text },
            Duration::from_secs(10),
        )
        .await?;
    Ok(Answer {
        text: reply.data.reply,
        answered_by: reply.source,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_client_answers_the_request_a_handler_sends() {
    init_tracing();
    let broker = test_broker().await;
    let bus = TestClient::connect(&broker).await.with_timeout(WAIT);
    let _service = TestService::with_handlers(&broker, &["relay"]).await;
    bus.publish(&Question {
        text: "tea?".into(),
    })
    .await;
    let request = bus.next_event::<LlmRequest>().await;
    assert_eq!(request.data.prompt, "tea?");
    bus.reply_to(
        &request,
        &LlmResponse {
            reply: "yes".into(),
        },
    )
    .await;
    let answer = bus.next_event::<Answer>().await;
    assert_eq!(answer.data.text, "yes");
    assert_eq!(answer.data.answered_by, "test-client");
}

#[test]
fn the_reply_a_service_awaits_is_described_as_received_not_sent() {
    let info = tars::asyncapi::ServiceInfo {
        name: "kit".into(),
        version: "1".into(),
        mqtt_version: tars::MqttVersion::V3_1_1,
        broker: None,
        failure_defaults: tars::FailurePolicy::default(),
    };
    let document = tars::asyncapi::document(&info);
    let operations = document["operations"].as_object().unwrap();
    let awaited = &operations["await_kit_llm_response"];
    assert_eq!(awaited["action"], "receive");
    assert!(
        !operations.contains_key("send_kit_llm_response"),
        "the reply is not something the service sends: {operations:?}"
    );
    assert_eq!(operations["send_kit_llm_request"]["action"], "send");
}
