//! Every message of the [py-tars](https://github.com/ZinkoSoft/py-tars) bus as a Rust
//! type, one module per py-tars contracts module (`tars.contracts.v1.*`).
//!
//! The types follow the pydantic models field for field, so that what a Rust service
//! publishes is what the Python services accept, and what they publish decodes here:
//!
//! - a field with a default takes it when absent (`lang = "en"`, `stream = true`);
//!   `message_id` is a fresh uuid4 in hex and a timestamp is now, as pydantic's default
//!   factories make them;
//! - an optional field is `Option` and is written as `null` when `None`, as pydantic's
//!   `model_dump()` writes it;
//! - a literal is an enum, and a value outside it is refused;
//! - a model that forbids extra fields refuses unknown ones;
//! - numeric bounds (`ge`, `le`) are checked when decoding.
//!
//! A type that travels on a topic of its own derives [`tars::Event`] with the topic and
//! envelope type of the py-tars registry, so a handler takes it and a service publishes
//! it by type:
//!
//! ```no_run
//! use tars_contracts::stt::FinalTranscript;
//! use tars_contracts::tts::TtsSay;
//!
//! #[tars::handler(topic = "stt/final", qos = 1)]
//! async fn echo(transcript: FinalTranscript) -> TtsSay {
//!     TtsSay::new(transcript.text)
//! }
//! ```
//!
//! The tests hold every type against the JSON Schema exported from the pydantic models
//! (`tests/schemas.rs`); see `docs/py-tars.md`.

#![warn(missing_docs)]

pub mod camera;
pub mod health;
pub mod llm;
pub mod mcp;
pub mod memory;
pub mod movement;
pub mod registry;
pub mod stt;
pub mod tts;
pub mod wake;

mod bounds;

use serde::{Deserialize, Serialize};

/// A JSON object of any shape: a pydantic `dict` or `dict[str, Any]`.
pub type Object = serde_json::Map<String, serde_json::Value>;

/// A fresh message id as pydantic's `default_factory=lambda: uuid.uuid4().hex` makes
/// it: 32 lowercase hex digits.
pub fn new_message_id() -> String {
    tars::new_id()
}

/// Now, in seconds since the Unix epoch, as `time.time()` gives it.
pub fn now() -> f64 {
    tars::now_ts()
}

/// A value that is either an object or a text (pydantic `dict[str, Any] | str`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Document {
    /// A JSON object.
    Fields(Object),
    /// A text.
    Text(String),
}
