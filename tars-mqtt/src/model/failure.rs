//! A handler's failures: the error it reports ([`HandlerError`], of a [`FailureKind`]),
//! the policy that says how often it is tried again and how long it waits in between
//! ([`FailurePolicy`]), and where a message goes when every attempt failed (its
//! [`DeadLetter`]).
//!
//! A handler declares its policy (`#[tars::handler(retries = 2, backoff = "50ms",
//! dead_letter = "dead/tts")]`); what it leaves out comes from the service-wide defaults
//! (`TARS_RETRIES`, `TARS_BACKOFF`, `TARS_DEAD_LETTER_TOPIC`), then from tars' own
//! (no retries, 100 ms, at most 30 s, no dead letter). See `docs/failure-policies.md`.
//!
//! The words for failure, in the order a failure meets them:
//! - a handler reports a [`HandlerError`], of a [`FailureKind`];
//! - its [`FailurePolicy`] as declared, settled with the defaults into an
//!   [`EffectivePolicy`], is applied by the dispatcher per handler (`HandlerPolicy`,
//!   with the handler's name; `WorkerPolicy` when a group's worker serves several);
//! - a message's `FailedAttempts` travel with it while it waits for another attempt;
//! - after the last one, its [`DeadLetter`].

use std::borrow::Cow;
use std::fmt::{self, Display};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::Envelope;

/// The envelope `type` of dead letters.
pub const DEAD_LETTER_TYPE: &str = "tars.dead_letter";
/// The first retry delay when neither the handler nor `TARS_BACKOFF` sets one.
pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(100);
/// The longest retry delay when the handler sets none.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The most retries a policy may ask for.
pub const MAX_RETRIES: u32 = 1_000;

/// A handler's failure policy. Each field left `None` takes the service-wide default
/// (see `ConfigBuilder::failure_policy`).
///
/// ```
/// use std::time::Duration;
/// use tars::{FailurePolicy, HandlerOptions};
///
/// let options = HandlerOptions {
///     failure: FailurePolicy {
///         retries: Some(2),
///         backoff: Some(Duration::from_millis(50)),
///         dead_letter: Some("dead/tts".into()),
///         ..FailurePolicy::default()
///     },
///     ..HandlerOptions::default()
/// };
/// assert_eq!(options.failure.retries, Some(2));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailurePolicy {
    /// Attempts after the first (`TARS_RETRIES`, else 0).
    pub retries: Option<u32>,
    /// The first delay before a retry; later ones double, with jitter, up to
    /// `max_backoff` (`TARS_BACKOFF`, else 100 ms).
    pub backoff: Option<Duration>,
    /// The longest delay before a retry (else 30 s).
    pub max_backoff: Option<Duration>,
    /// Where a message goes once every attempt failed, or at once when its payload does
    /// not decode (`TARS_DEAD_LETTER_TOPIC`, else nowhere: it is logged and skipped).
    pub dead_letter: Option<Cow<'static, str>>,
}

impl FailurePolicy {
    /// This policy, with each field it leaves out taken from `defaults`.
    pub fn or(&self, defaults: &FailurePolicy) -> FailurePolicy {
        FailurePolicy {
            retries: self.retries.or(defaults.retries),
            backoff: self.backoff.or(defaults.backoff),
            max_backoff: self.max_backoff.or(defaults.max_backoff),
            dead_letter: self.dead_letter.clone().or(defaults.dead_letter.clone()),
        }
    }

    /// The policy as it applies: tars' own defaults for what is still left out.
    pub fn effective(&self) -> EffectivePolicy {
        let backoff = self.backoff.unwrap_or(DEFAULT_BACKOFF);
        EffectivePolicy {
            retries: self.retries.unwrap_or(0),
            backoff,
            max_backoff: self.max_backoff.unwrap_or(DEFAULT_MAX_BACKOFF).max(backoff),
            dead_letter: self.dead_letter.as_deref().map(str::to_owned),
        }
    }

    /// The first broken rule, if any: how to fix it, in a few words.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.retries.is_some_and(|n| n > MAX_RETRIES) {
            return Err(format!("retries must be at most {MAX_RETRIES}"));
        }
        if self.backoff.is_some_and(|d| d < Duration::from_millis(1)) {
            return Err("backoff must be at least 1 ms".to_owned());
        }
        if let (Some(backoff), Some(max)) = (self.backoff, self.max_backoff) {
            if max < backoff {
                return Err(format!(
                    "max_backoff ({max:?}) must be at least backoff ({backoff:?})"
                ));
            }
        }
        if let Some(topic) = &self.dead_letter {
            crate::topic::validate_topic_name(topic)
                .map_err(|e| format!("dead letter topic {topic:?}: {}", e.reason))?;
        }
        Ok(())
    }
}

/// A failure policy with every value settled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EffectivePolicy {
    /// Attempts after the first.
    pub retries: u32,
    /// The first delay before a retry.
    #[serde(with = "millis", rename = "backoff_ms")]
    pub backoff: Duration,
    /// The longest delay before a retry.
    #[serde(with = "millis", rename = "max_backoff_ms")]
    pub max_backoff: Duration,
    /// Where dead letters go, if anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<String>,
}

impl EffectivePolicy {
    /// No retries, no dead letter: a failure is logged and the message skipped.
    pub fn none() -> Self {
        FailurePolicy::default().effective()
    }

    /// Whether a failure does anything but log and skip.
    pub fn is_active(&self) -> bool {
        self.retries > 0 || self.dead_letter.is_some()
    }

    /// The delay before retry number `retry` (1 for the first): `backoff` doubled for
    /// each retry before it, capped at `max_backoff`, drawn at random from the upper
    /// half of that step (never below `backoff`), so that failing messages do not all
    /// come back at once.
    pub fn delay(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        let ceiling = self
            .backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff);
        let floor = (ceiling / 2).max(self.backoff);
        if ceiling <= floor {
            return floor;
        }
        floor + (ceiling - floor).mul_f64(fastrand::f64())
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

/// The data of a dead letter: an envelope of type [`DEAD_LETTER_TYPE`] that tars
/// publishes (QoS 1) on the handler's dead-letter topic once every attempt failed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The topic the message came on.
    pub topic: String,
    /// The handler function's name (the subscription's filter for a closure).
    pub handler: String,
    /// The last error's text, or the panic message.
    pub error: String,
    /// Attempts made, the first included.
    pub attempts: u32,
    /// The message as received, when its payload was JSON (normally an envelope).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub envelope: Option<Box<RawValue>>,
    /// The payload in standard base64, when it was not JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_base64: Option<String>,
    /// When the first attempt failed, in seconds since the Unix epoch.
    pub first_failed_at: f64,
    /// When the last attempt failed, in seconds since the Unix epoch.
    pub last_failed_at: f64,
}

impl DeadLetter {
    /// The original envelope, decoded with `T` data.
    pub fn envelope<T: serde::de::DeserializeOwned>(&self) -> Option<Envelope<T>> {
        serde_json::from_str(self.envelope.as_ref()?.get()).ok()
    }

    /// The original payload's bytes, JSON or not.
    pub fn payload(&self) -> Vec<u8> {
        use base64::Engine as _;
        match (&self.envelope, &self.payload_base64) {
            (Some(json), _) => json.get().as_bytes().to_vec(),
            (None, Some(encoded)) => base64::engine::general_purpose::STANDARD
                .decode(encoded)
                .unwrap_or_default(),
            (None, None) => Vec::new(),
        }
    }
}

/// Seconds since the Unix epoch, as envelope timestamps are written.
pub(crate) fn epoch_seconds(at: SystemTime) -> f64 {
    at.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Why a message was not handled. The worker logs it with the message's topic and
/// envelope id; the service goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerError {
    kind: FailureKind,
    reason: String,
}

/// The kinds of [`HandlerError`], logged differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The payload did not decode into what the handler takes (logged at warn).
    Malformed,
    /// The handler returned an error (logged at error).
    Failed,
}

impl HandlerError {
    /// A handler's own error.
    pub fn failed(reason: impl Display) -> Self {
        Self {
            kind: FailureKind::Failed,
            reason: reason.to_string(),
        }
    }

    /// A payload the handler cannot take.
    pub fn malformed(reason: impl Display) -> Self {
        Self {
            kind: FailureKind::Malformed,
            reason: reason.to_string(),
        }
    }

    /// Which kind of failure it is.
    pub fn kind(&self) -> FailureKind {
        self.kind
    }
}

impl Display for HandlerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

/// The outcome of handling one message.
pub type HandlerResult = Result<(), HandlerError>;

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(retries: u32, backoff_ms: u64, max_ms: u64) -> EffectivePolicy {
        FailurePolicy {
            retries: Some(retries),
            backoff: Some(Duration::from_millis(backoff_ms)),
            max_backoff: Some(Duration::from_millis(max_ms)),
            dead_letter: None,
        }
        .effective()
    }

    #[test]
    fn a_handler_value_wins_over_the_service_default() {
        let service = FailurePolicy {
            retries: Some(5),
            backoff: Some(Duration::from_secs(1)),
            max_backoff: None,
            dead_letter: Some("dead/all".into()),
        };
        let handler = FailurePolicy {
            retries: Some(0),
            dead_letter: Some("dead/tts".into()),
            ..FailurePolicy::default()
        };
        let effective = handler.or(&service).effective();
        assert_eq!(effective.retries, 0);
        assert_eq!(effective.backoff, Duration::from_secs(1));
        assert_eq!(effective.max_backoff, DEFAULT_MAX_BACKOFF);
        assert_eq!(effective.dead_letter.as_deref(), Some("dead/tts"));
        assert_eq!(EffectivePolicy::none().retries, 0);
        assert!(!EffectivePolicy::none().is_active());
    }

    #[test]
    fn delays_double_with_jitter_up_to_the_ceiling() {
        let p = policy(10, 100, 1_000);
        assert_eq!(p.delay(1), Duration::from_millis(100));
        for _ in 0..50 {
            let second = p.delay(2);
            assert!((100..=200).contains(&second.as_millis()), "{second:?}");
            let third = p.delay(3);
            assert!((200..=400).contains(&third.as_millis()), "{third:?}");
            let late = p.delay(30);
            assert!((500..=1_000).contains(&late.as_millis()), "{late:?}");
        }
        let spread: std::collections::HashSet<_> = (0..20).map(|_| p.delay(4)).collect();
        assert!(spread.len() > 1, "jitter spreads delays");
    }

    #[test]
    fn broken_rules_say_what_to_fix() {
        let bad = |p: FailurePolicy| p.check().unwrap_err();
        assert!(bad(FailurePolicy {
            retries: Some(MAX_RETRIES + 1),
            ..Default::default()
        })
        .contains("at most"));
        assert!(bad(FailurePolicy {
            backoff: Some(Duration::from_secs(2)),
            max_backoff: Some(Duration::from_secs(1)),
            ..Default::default()
        })
        .contains("max_backoff"));
        assert!(bad(FailurePolicy {
            dead_letter: Some("dead/+".into()),
            ..Default::default()
        })
        .contains("dead/+"));
        assert!(FailurePolicy::default().check().is_ok());
    }

    #[test]
    fn a_dead_letter_gives_back_the_original_payload() {
        let json = DeadLetter {
            topic: "t".into(),
            handler: "h".into(),
            error: "e".into(),
            attempts: 1,
            envelope: Some(RawValue::from_string(r#"{"id":"1","data":{}}"#.into()).unwrap()),
            payload_base64: None,
            first_failed_at: 1.0,
            last_failed_at: 1.0,
        };
        assert_eq!(json.payload(), br#"{"id":"1","data":{}}"#);
        let raw = DeadLetter {
            envelope: None,
            payload_base64: Some("/wA=".into()),
            ..json
        };
        assert_eq!(raw.payload(), [0xff, 0x00]);
    }
}
