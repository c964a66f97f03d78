//! Every argument kind, return kind and attribute form of `#[tars::handler]`.
use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "stt/final", event_type = "stt.final", qos = 1)]
struct SttFinal {
    text: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "llm/response", retain = false, qos = 2)]
struct LlmResponse {
    reply: String,
}

#[derive(Event, Serialize, Deserialize)]
#[event(topic = "sensors/kitchen/temperature", expiry = "30s")]
struct Temperature {
    celsius: f32,
}

// Topic omitted: the event's own topic.
#[tars::handler(qos = 1)]
async fn default_topic(_ev: SttFinal) {}

// Arguments in any order; a template segment parsed with FromStr.
#[tars::handler(topic = "sensors/{room}/temperature")]
async fn template(ctx: Context, room: String, reading: Temperature, msg: Message) -> Result<(), String> {
    let _ = (ctx, room, reading.celsius, msg.topic());
    Ok(())
}

// Two segments with other types; a wildcard next to them.
#[tars::handler(topic = "rooms/{_floor}/{_room}/#")]
async fn two_segments(_floor: u8, _room: String) {}

// The whole envelope, with typed data or any JSON.
#[tars::handler(topic = "stt/#")]
async fn whole_envelope(_env: Envelope<serde_json::Value>) {}

#[tars::handler(topic = "stt/final")]
async fn typed_envelope(_env: Envelope<SttFinal>) {}

// The envelope of a plain (non-event) type, on a written topic.
#[derive(Deserialize)]
struct Reading {
    _celsius: f32,
}

#[tars::handler(topic = "sensors/{_room}/temperature")]
async fn plain_envelope(_room: String, _reading: Envelope<Reading>) {}

// Topic omitted with the envelope of an event: the event's topic.
#[tars::handler]
async fn typed_envelope_default_topic(_env: Envelope<SttFinal>) {}

// Returning an event replies with the request's id.
#[tars::handler(topic = "llm/request")]
async fn reply(env: Envelope<serde_json::Value>) -> LlmResponse {
    LlmResponse { reply: env.id }
}

#[tars::handler(topic = "llm/maybe")]
async fn maybe_reply(_msg: Message) -> Option<LlmResponse> {
    None
}

#[tars::handler(topic = "stt/final", share = "llm-workers")]
async fn fallible_reply(ev: SttFinal) -> tars::Result<LlmResponse> {
    Ok(LlmResponse { reply: ev.text })
}

// A filter that matches the event's topic through wildcards.
#[tars::handler(topic = "stt/+")]
async fn wildcard_for_event(_ev: SttFinal) {}

// Flow control: four at once, a small queue that keeps the latest messages.
#[tars::handler(topic = "stt/partial", concurrency = 4, queue = 16, overflow = "drop_oldest", intake_bytes = "512KiB")]
async fn partials(_msg: Message) {}

#[tars::handler(topic = "#")]
async fn everything(_msg: Message) {}

// An argument may share the handler's name.
#[tars::handler(topic = "stt/final")]
async fn final_text(final_text: SttFinal) {
    let _ = final_text.text;
}

#[tars::handler(topic = "llm/request", retries = 2, backoff = "50ms", max_backoff = "1s", dead_letter = "dead/llm")]
async fn with_failure_policy(_msg: Message) -> Result<(), String> {
    Ok(())
}

#[tars::handler(topic = "llm/cancel", dead_letter = "dead/llm")]
async fn dead_letter_only(_msg: Message) -> Result<(), String> {
    Ok(())
}

#[tars::handler(topic = "camera/frame", intake_bytes = 16777216)]
async fn large_intake(_msg: Message) {}

#[tars::handler(topic = "voice/set", group = "voice")]
async fn grouped(_msg: Message) {}

#[tars::handler(topic = "stt/#", any_type = true)]
async fn any_type_taken(_ev: SttFinal) {}

// The handler stays an ordinary function that can be called directly.
async fn call_directly() {
    default_topic(SttFinal { text: String::new() }).await;
}

fn main() {
    let _ = call_directly;
    let handlers = tars::registry::handlers();
    assert!(handlers.iter().any(|h| h.name == "template" && h.filter == "sensors/+/temperature"));
    assert!(handlers.iter().any(|h| h.name == "default_topic" && h.filter == "stt/final"));
    let partials = handlers.iter().find(|h| h.name == "partials").unwrap();
    assert_eq!(
        partials.options,
        tars::HandlerOptions {
            concurrency: 4,
            queue_capacity: Some(16),
            overflow: tars::Overflow::DropOldest,
            intake_bytes: Some(512 * 1024),
            failure: tars::FailurePolicy::default(),
            group: None,
            subscribe: tars::SubscribeOptions::default(),
        }
    );
    let echo = handlers.iter().find(|h| h.name == "own_echo_ignored").unwrap();
    assert_eq!(
        echo.options.subscribe,
        tars::SubscribeOptions {
            no_local: true,
            retain_as_published: true,
            retain_handling: tars::RetainHandling::OnNewSubscription,
        }
    );
    let large = handlers.iter().find(|h| h.name == "large_intake").unwrap();
    assert_eq!(large.options.intake_bytes, Some(16 << 20));
    let policy = &handlers.iter().find(|h| h.name == "with_failure_policy").unwrap().options.failure;
    assert_eq!(
        *policy,
        tars::FailurePolicy {
            retries: Some(2),
            backoff: Some(std::time::Duration::from_millis(50)),
            max_backoff: Some(std::time::Duration::from_secs(1)),
            dead_letter: Some("dead/llm".into()),
        }
    );
    let policy = &handlers.iter().find(|h| h.name == "dead_letter_only").unwrap().options.failure;
    assert_eq!((policy.retries, policy.dead_letter.as_deref()), (None, Some("dead/llm")));
    assert!(handlers.iter().any(|h| h.name == "typed_envelope_default_topic" && h.filter == "stt/final"));
    assert!(handlers.iter().any(|h| h.name == "fallible_reply" && h.subscription() == "$share/llm-workers/stt/final"));
}

// MQTT 5 subscription options: No Local, Retain As Published, Retain Handling.
#[tars::handler(
    topic = "movement/status",
    no_local = true,
    retain_as_published = true,
    retain_handling = "on_new_subscription"
)]
async fn own_echo_ignored(_msg: Message) {}

#[tars::handler(topic = "system/character/current", retain_handling = "never")]
async fn only_new_characters(_msg: Message) {}
