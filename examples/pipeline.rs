//! A voice pipeline, stt → llm → tts, as three typed handlers:
//!
//! - `understand` takes final transcripts and, when confident enough, returns an
//!   `LlmRequest`: a returned event is published as the reply, with the transcript's
//!   envelope id (the correlation convention of the Python stack);
//! - `think` answers each request with an `LlmResponse`, again by return value, so the
//!   response carries the request's id;
//! - `speak` turns responses into `TtsSay` in the voice currently selected;
//! - `select_voice` listens on the template topic `pipeline/voice/{voice}` and receives
//!   the voice name as an argument.
//!
//! ```sh
//! MQTT_URL=mqtt://localhost:1883 cargo run --example pipeline
//! ```

use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "stt/final", qos = 1)]
pub struct SttFinal {
    pub text: String,
    pub confidence: f32,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "llm/request", qos = 1)]
pub struct LlmRequest {
    pub prompt: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "llm/response", qos = 1)]
pub struct LlmResponse {
    pub reply: String,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "tts/say", qos = 1)]
pub struct TtsSay {
    pub text: String,
    pub voice: String,
}

/// Transcripts below this confidence are ignored.
const MIN_CONFIDENCE: f32 = 0.5;

static VOICE: RwLock<String> = RwLock::new(String::new());

#[tars::handler(qos = 1)]
async fn understand(ev: SttFinal) -> Option<LlmRequest> {
    if ev.confidence < MIN_CONFIDENCE {
        tracing::info!(
            text = ev.text,
            confidence = ev.confidence,
            "ignoring an unsure transcript"
        );
        return None;
    }
    Some(LlmRequest { prompt: ev.text })
}

#[tars::handler(qos = 1)]
async fn think(request: LlmRequest) -> LlmResponse {
    // A stand-in for a language model.
    let reply = match request
        .prompt
        .trim_end_matches(['?', '!', '.'])
        .to_lowercase()
        .as_str()
    {
        "hello" | "hi" => "Hello! How can I help?".to_owned(),
        "what time is it" => "Time for tea.".to_owned(),
        other => format!("You said: {other}"),
    };
    LlmResponse { reply }
}

#[tars::handler(qos = 1)]
async fn speak(response: Envelope<LlmResponse>, ctx: Context) -> tars::Result<()> {
    let voice = VOICE.read().map(|v| v.clone()).unwrap_or_default();
    let voice = if voice.is_empty() {
        "default".to_owned()
    } else {
        voice
    };
    let say = TtsSay {
        text: response.data.reply,
        voice,
    };
    let options = PublishOptions::new()
        .qos(QoS::AtLeastOnce)
        .correlation_id(response.id);
    ctx.publish_event(TtsSay::TOPIC, TtsSay::EVENT_TYPE, &say, options)
        .await
        .map(drop)
}

#[tars::handler(topic = "pipeline/voice/{voice}", qos = 1)]
async fn select_voice(voice: String) {
    tracing::info!(voice, "voice selected");
    if let Ok(mut current) = VOICE.write() {
        *current = voice;
    }
}

#[tars::service(name = "tars-pipeline")]
async fn main() {}
