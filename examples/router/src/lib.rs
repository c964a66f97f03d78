//! The py-tars router, ported to tars-mqtt: it turns wake events, final transcripts,
//! streamed LLM deltas, LLM responses, cancels, TTS status and movement status into
//! LLM requests and TTS commands, gated by the health of the TTS and STT workers.
//!
//! - [`settings`]: the environment variables of py-tars's `RouterSettings`;
//! - [`policy`]: the decisions of its `RouterPolicy`, pure (an event and the time in,
//!   what to publish out);
//! - [`text`]: its text rules (sentence chunking, commands, intents, the wake phrase);
//! - [`wire`]: how an event is read off the bus and an action published on it.
//!
//! The binary (`src/main.rs`) serves it as the Python router runs: client id
//! `tars-router`, envelope source `router`, one message at a time in arrival order.
//! `README.md` says how to run it beside the Python services and what differs.

pub mod policy;
pub mod settings;
pub mod text;
pub mod wire;
