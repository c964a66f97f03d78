//! A `#[tars::service]` whose handler answers a question with an event (the reply path),
//! and publishes what it saw of the question's MQTT 5 properties on `v5/seen`. Run it
//! with `MQTT_VERSION=5` to test answers on a requester's response topic.

use serde::{Deserialize, Serialize};
use tars::prelude::*;

/// The question, with the envelope type the Python requesters send.
#[derive(Event, Serialize, Deserialize)]
#[event(topic = "v5/question", event_type = "question", qos = 1)]
struct Question {
    text: String,
}

/// The answer: published on `v5/answer`, or on the requester's response topic.
#[derive(Event, Serialize, Deserialize)]
#[event(topic = "v5/answer", qos = 1)]
struct Answer {
    text: String,
}

/// What the handler saw of the question's properties.
#[derive(Event, Serialize, Deserialize)]
#[event(topic = "v5/seen")]
struct Seen {
    user_properties: Vec<(String, String)>,
    content_type: Option<String>,
    response_topic: Option<String>,
    expiry_secs: Option<u64>,
}

#[tars::handler]
async fn answer(question: Question, message: Message, ctx: Context) -> tars::Result<Answer> {
    let seen = Seen {
        user_properties: message.user_properties().to_vec(),
        content_type: message.content_type().map(str::to_owned),
        response_topic: message.response_topic().map(str::to_owned),
        expiry_secs: message.message_expiry().map(|d| d.as_secs()),
    };
    ctx.publish(&seen).await?;
    Ok(Answer {
        text: format!("{}!", question.text),
    })
}

#[tars::service(name = "answering-service")]
async fn main() {}
