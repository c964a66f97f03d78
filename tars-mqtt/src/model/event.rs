//! Typed events: a Rust type bound to its topic and event type.

use crate::QoS;

/// A type published and received as the `data` of an envelope on a fixed topic.
///
/// Implement it with `#[derive(Event)]`, or by hand:
///
/// ```
/// #[derive(serde::Serialize, serde::Deserialize)]
/// struct TtsSay {
///     text: String,
/// }
///
/// impl tars::Event for TtsSay {
///     const TOPIC: &'static str = "tts/say";
///     const EVENT_TYPE: &'static str = "tts.say";
///     const QOS: tars::QoS = tars::QoS::AtLeastOnce;
/// }
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a tars event",
    label = "this type does not implement `tars::Event`",
    note = "derive it: `#[derive(Event, Serialize, Deserialize)] #[event(topic = \"a/b\")]`"
)]
pub trait Event {
    /// The topic the event is published on (a topic name, no wildcards).
    const TOPIC: &'static str;
    /// The envelope `type`, by convention the topic with `/` replaced by `.`.
    const EVENT_TYPE: &'static str;
    /// The QoS used when publishing it.
    const QOS: QoS = QoS::AtMostOnce;
    /// Whether the broker retains it.
    const RETAIN: bool = false;
    /// Under MQTT 5, how long the broker may hold a publish of it for a subscriber
    /// before dropping it (`#[event(expiry = "30s")]`; whole seconds on the wire,
    /// rounded up). `None`: it never expires. Not sent under 3.1.1.
    const EXPIRY: Option<std::time::Duration> = None;
}
