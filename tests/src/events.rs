//! The events the tests send and expect, as the Python stack defines them. Implemented
//! by hand (no `#[derive(Event)]`), so that linking this crate registers nothing in the
//! manifests and AsyncAPI documents of the test services.

use serde::{Deserialize, Serialize};
use tars::{Event, QoS};

/// A final transcript: `stt.final` on `stt/final`, QoS 1.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SttFinal {
    /// What was said.
    pub text: String,
    /// How sure the recogniser is, 0 to 1.
    #[serde(default)]
    pub confidence: f32,
}

impl Event for SttFinal {
    const TOPIC: &'static str = "stt/final";
    const EVENT_TYPE: &'static str = "stt.final";
    const QOS: QoS = QoS::AtLeastOnce;
}
