//! The router's settings: the environment variables of py-tars's `RouterSettings`
//! (`tars/domain/router/config.py`), with the same names, aliases and defaults.
//!
//! One difference, on purpose: py-tars falls back to the default when a value does not
//! parse (`ROUTER_STREAM_MIN_CHARS=lots` is silently 60); here it is an error that names
//! the variable, and the service exits 2.

use std::fmt;

/// A variable whose value does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The variable, as set.
    pub variable: &'static str,
    /// Its value.
    pub value: String,
    /// What a valid value looks like.
    pub rule: &'static str,
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is invalid: {}",
            self.variable, self.value, self.rule
        )
    }
}

impl std::error::Error for SettingsError {}

/// Every setting of the router.
#[derive(Debug, Clone, PartialEq)]
pub struct RouterSettings {
    /// `ONLINE_ANNOUNCE`: say `online_text` once the TTS and STT workers are healthy.
    pub online_announce: bool,
    /// `ONLINE_ANNOUNCE_TEXT`.
    pub online_text: String,
    /// `ROUTER_TTS_VOICE` (or `PIPER_VOICE`): the voice of every `tts/say`.
    pub tts_voice: String,
    /// `TOPIC_HEALTH_TTS`: the TTS worker's health.
    pub topic_health_tts: String,
    /// `TOPIC_HEALTH_STT`: the STT worker's health.
    pub topic_health_stt: String,
    /// `TOPIC_HEALTH_ROUTER`: where the router says it is ready.
    pub topic_health_router: String,
    /// `TOPIC_STT_FINAL`.
    pub topic_stt_final: String,
    /// `TOPIC_TTS_SAY`.
    pub topic_tts_say: String,
    /// `TOPIC_TTS_STATUS`.
    pub topic_tts_status: String,
    /// `TOPIC_LLM_REQUEST`.
    pub topic_llm_req: String,
    /// `TOPIC_LLM_RESPONSE`.
    pub topic_llm_resp: String,
    /// `TOPIC_LLM_STREAM`.
    pub topic_llm_stream: String,
    /// `TOPIC_LLM_CANCEL`.
    pub topic_llm_cancel: String,
    /// `TOPIC_WAKE_EVENT`.
    pub topic_wake_event: String,
    /// `TOPIC_MOVEMENT_TEST`.
    pub topic_movement_test: String,
    /// `TOPIC_MOVEMENT_STOP`.
    pub topic_movement_stop: String,
    /// `TOPIC_MOVEMENT_STATUS`.
    pub topic_movement_status: String,
    /// `ROUTER_LLM_TTS_STREAM`: speak streamed answers sentence by sentence.
    pub llm_tts_stream: bool,
    /// `ROUTER_STREAM_MIN_CHARS` (or `STREAM_MIN_CHARS`).
    pub stream_min_chars: usize,
    /// `ROUTER_STREAM_MAX_CHARS` (or `STREAM_MAX_CHARS`).
    pub stream_max_chars: usize,
    /// `ROUTER_STREAM_BOUNDARY_CHARS` (or `STREAM_BOUNDARY_CHARS`): where a sentence ends.
    pub stream_boundary_chars: String,
    /// `ROUTER_STREAM_BOUNDARY_ONLY`: cut streamed text only at those characters.
    pub stream_boundary_only: bool,
    /// `ROUTER_STREAM_HARD_MAX_CHARS`: cut at a space past this many characters.
    pub stream_hard_max_chars: usize,
    /// `ROUTER_WAKE_PHRASES` (or `WAKE_PHRASES`), `|`-separated, lowercased.
    pub wake_phrases: Vec<String>,
    /// `ROUTER_WAKE_WINDOW_SEC`: how long after a wake a transcript is taken.
    pub wake_window_sec: f64,
    /// `ROUTER_WAKE_ACK_ENABLED`: acknowledge a wake aloud.
    pub wake_ack_enabled: bool,
    /// `ROUTER_WAKE_ACK_TEXT`: used when the choices are empty.
    pub wake_ack_text: String,
    /// `ROUTER_WAKE_ACK_CHOICES` (or `WAKE_ACK_CHOICES`), `|`-separated, said in turn.
    pub wake_ack_choices: Vec<String>,
    /// `ROUTER_WAKE_ACK_STYLE`.
    pub wake_ack_style: String,
    /// `ROUTER_WAKE_REPROMPT_TEXT`: said after the acknowledgement, when set.
    pub wake_reprompt_text: String,
    /// `ROUTER_WAKE_INTERRUPT_TEXT`.
    pub wake_interrupt_text: String,
    /// `ROUTER_WAKE_RESUME_TEXT`.
    pub wake_resume_text: String,
    /// `ROUTER_WAKE_CANCEL_TEXT`.
    pub wake_cancel_text: String,
    /// `ROUTER_WAKE_TIMEOUT_TEXT`.
    pub wake_timeout_text: String,
    /// `ROUTER_LIVE_MODE_DEFAULT`: start in live mode (every transcript is taken).
    pub live_mode_default: bool,
    /// `ROUTER_LIVE_MODE_ENTER_PHRASE`, lowercased.
    pub live_mode_enter_phrase: String,
    /// `ROUTER_LIVE_MODE_EXIT_PHRASE`, lowercased.
    pub live_mode_exit_phrase: String,
    /// `ROUTER_LIVE_MODE_ENTER_ACK`.
    pub live_mode_enter_ack: String,
    /// `ROUTER_LIVE_MODE_EXIT_ACK`.
    pub live_mode_exit_ack: String,
    /// `ROUTER_LIVE_MODE_ACTIVE_HINT`.
    pub live_mode_active_hint: String,
    /// `ROUTER_LIVE_MODE_INACTIVE_HINT`.
    pub live_mode_inactive_hint: String,
}

/// Reads variables by name; `None` when unset.
type Lookup<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The first of `names` that is set, with its name.
fn first(lookup: Lookup<'_>, names: &[&'static str]) -> Option<(&'static str, String)> {
    names
        .iter()
        .find_map(|name| lookup(name).map(|value| (*name, value)))
}

fn text(lookup: Lookup<'_>, names: &[&'static str], default: &str) -> String {
    first(lookup, names).map_or_else(|| default.to_owned(), |(_, value)| value)
}

fn flag(lookup: Lookup<'_>, name: &'static str, default: bool) -> Result<bool, SettingsError> {
    let Some((variable, value)) = first(lookup, &[name]) else {
        return Ok(default);
    };
    match value.trim().to_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(SettingsError {
            variable,
            value,
            rule: "must be one of 1/true/yes/on or 0/false/no/off",
        }),
    }
}

fn count(
    lookup: Lookup<'_>,
    names: &[&'static str],
    default: usize,
) -> Result<usize, SettingsError> {
    let Some((variable, value)) = first(lookup, names) else {
        return Ok(default);
    };
    value.trim().parse().map_err(|_| SettingsError {
        variable,
        value,
        rule: "must be a whole number, 0 or more",
    })
}

fn seconds(lookup: Lookup<'_>, name: &'static str, default: f64) -> Result<f64, SettingsError> {
    let Some((variable, value)) = first(lookup, &[name]) else {
        return Ok(default);
    };
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or(SettingsError {
            variable,
            value,
            rule: "must be a number of seconds, 0 or more",
        })
}

/// `raw` split at `|`, each part trimmed, empty ones left out.
fn choices(raw: &str, lowercase: bool) -> Vec<String> {
    raw.split('|')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| {
            if lowercase {
                p.to_lowercase()
            } else {
                p.to_owned()
            }
        })
        .collect()
}

impl RouterSettings {
    /// The settings from the process environment.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&|name| std::env::var(name).ok())
    }

    /// The settings from `lookup` (a variable's value, or `None` when unset); the
    /// normalisation of py-tars's `__post_init__` applied.
    pub fn from_lookup(lookup: Lookup<'_>) -> Result<Self, SettingsError> {
        let t = |names: &[&'static str], default: &str| text(lookup, names, default);
        let wake_ack_enabled = flag(lookup, "ROUTER_WAKE_ACK_ENABLED", true)?;
        let mut wake_ack_text = t(&["ROUTER_WAKE_ACK_TEXT"], "Yes?").trim().to_owned();
        let mut wake_ack_choices = choices(
            &t(
                &["ROUTER_WAKE_ACK_CHOICES", "WAKE_ACK_CHOICES"],
                "Hmm?|Huh?|Yes?",
            ),
            false,
        );
        if wake_ack_choices.is_empty() {
            wake_ack_choices = choices("Hmm?|Huh?|Yes?", false);
        }
        if wake_ack_text.is_empty() {
            wake_ack_text = wake_ack_choices[0].clone();
        }
        if !wake_ack_enabled {
            wake_ack_choices.clear();
            wake_ack_text.clear();
        }
        let mut wake_phrases = choices(
            &t(&["ROUTER_WAKE_PHRASES", "WAKE_PHRASES"], "hey tars"),
            true,
        );
        if wake_phrases.is_empty() {
            wake_phrases.push("hey tars".to_owned());
        }
        let style = t(&["ROUTER_WAKE_ACK_STYLE"], "friendly").trim().to_owned();
        let voice = t(&["ROUTER_TTS_VOICE", "PIPER_VOICE"], "piper/en_US/amy")
            .trim()
            .to_owned();
        Ok(Self {
            online_announce: flag(lookup, "ONLINE_ANNOUNCE", true)?,
            online_text: t(&["ONLINE_ANNOUNCE_TEXT"], "System online."),
            tts_voice: if voice.is_empty() {
                "piper/en_US/amy".to_owned()
            } else {
                voice
            },
            topic_health_tts: t(&["TOPIC_HEALTH_TTS"], "system/health/tars-tts"),
            topic_health_stt: t(&["TOPIC_HEALTH_STT"], "system/health/tars-stt"),
            topic_health_router: t(&["TOPIC_HEALTH_ROUTER"], "system/health/router"),
            topic_stt_final: t(&["TOPIC_STT_FINAL"], "stt/final"),
            topic_tts_say: t(&["TOPIC_TTS_SAY"], "tts/say"),
            topic_tts_status: t(&["TOPIC_TTS_STATUS"], "tts/status"),
            topic_llm_req: t(&["TOPIC_LLM_REQUEST"], "llm/request"),
            topic_llm_resp: t(&["TOPIC_LLM_RESPONSE"], "llm/response"),
            topic_llm_stream: t(&["TOPIC_LLM_STREAM"], "llm/stream"),
            topic_llm_cancel: t(&["TOPIC_LLM_CANCEL"], "llm/cancel"),
            topic_wake_event: t(&["TOPIC_WAKE_EVENT"], "wake/event"),
            topic_movement_test: t(&["TOPIC_MOVEMENT_TEST"], "movement/test"),
            topic_movement_stop: t(&["TOPIC_MOVEMENT_STOP"], "movement/stop"),
            topic_movement_status: t(&["TOPIC_MOVEMENT_STATUS"], "movement/status"),
            llm_tts_stream: flag(lookup, "ROUTER_LLM_TTS_STREAM", true)?,
            stream_min_chars: count(lookup, &["ROUTER_STREAM_MIN_CHARS", "STREAM_MIN_CHARS"], 60)?,
            stream_max_chars: count(
                lookup,
                &["ROUTER_STREAM_MAX_CHARS", "STREAM_MAX_CHARS"],
                240,
            )?,
            stream_boundary_chars: t(
                &["ROUTER_STREAM_BOUNDARY_CHARS", "STREAM_BOUNDARY_CHARS"],
                ".!?;:",
            ),
            stream_boundary_only: flag(lookup, "ROUTER_STREAM_BOUNDARY_ONLY", true)?,
            stream_hard_max_chars: count(lookup, &["ROUTER_STREAM_HARD_MAX_CHARS"], 2000)?,
            wake_phrases,
            wake_window_sec: seconds(lookup, "ROUTER_WAKE_WINDOW_SEC", 8.0)?,
            wake_ack_enabled,
            wake_ack_text,
            wake_ack_choices,
            wake_ack_style: if style.is_empty() {
                "neutral".to_owned()
            } else {
                style
            },
            wake_reprompt_text: t(&["ROUTER_WAKE_REPROMPT_TEXT"], "").trim().to_owned(),
            wake_interrupt_text: t(&["ROUTER_WAKE_INTERRUPT_TEXT"], "").trim().to_owned(),
            wake_resume_text: t(&["ROUTER_WAKE_RESUME_TEXT"], "").trim().to_owned(),
            wake_cancel_text: t(&["ROUTER_WAKE_CANCEL_TEXT"], "").trim().to_owned(),
            wake_timeout_text: t(&["ROUTER_WAKE_TIMEOUT_TEXT"], "").trim().to_owned(),
            live_mode_default: flag(lookup, "ROUTER_LIVE_MODE_DEFAULT", false)?,
            live_mode_enter_phrase: t(&["ROUTER_LIVE_MODE_ENTER_PHRASE"], "enter live mode")
                .trim()
                .to_lowercase(),
            live_mode_exit_phrase: t(&["ROUTER_LIVE_MODE_EXIT_PHRASE"], "exit live mode")
                .trim()
                .to_lowercase(),
            live_mode_enter_ack: t(&["ROUTER_LIVE_MODE_ENTER_ACK"], "Live mode enabled."),
            live_mode_exit_ack: t(&["ROUTER_LIVE_MODE_EXIT_ACK"], "Live mode disabled."),
            live_mode_active_hint: t(
                &["ROUTER_LIVE_MODE_ACTIVE_HINT"],
                "Live mode is already active.",
            ),
            live_mode_inactive_hint: t(
                &["ROUTER_LIVE_MODE_INACTIVE_HINT"],
                "Live mode is already off.",
            ),
        })
    }

    /// The topic of each envelope type the router publishes (py-tars's `as_topic_map`,
    /// registered over the registry).
    pub fn topic_of(&self, event_type: &str) -> Option<&str> {
        match event_type {
            "tts.say" => Some(&self.topic_tts_say),
            "llm.request" => Some(&self.topic_llm_req),
            "system.health.router" => Some(&self.topic_health_router),
            "movement.test" => Some(&self.topic_movement_test),
            "movement.stop" => Some(&self.topic_movement_stop),
            _ => tars_contracts::registry::topic_of(event_type),
        }
    }
}

impl Default for RouterSettings {
    /// The defaults, as with an empty environment.
    fn default() -> Self {
        Self::from_lookup(&|_| None).expect("the defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(vars: &[(&str, &str)]) -> Result<RouterSettings, SettingsError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        RouterSettings::from_lookup(&|name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn the_defaults_are_py_tars_defaults() {
        let s = RouterSettings::default();
        assert_eq!(s.online_text, "System online.");
        assert_eq!(s.tts_voice, "piper/en_US/amy");
        assert_eq!(s.wake_phrases, ["hey tars"]);
        assert_eq!(s.wake_ack_choices, ["Hmm?", "Huh?", "Yes?"]);
        assert_eq!(s.wake_ack_text, "Yes?");
        assert_eq!(s.wake_ack_style, "friendly");
        assert_eq!(
            (
                s.stream_min_chars,
                s.stream_max_chars,
                s.stream_hard_max_chars
            ),
            (60, 240, 2000)
        );
        assert_eq!(s.stream_boundary_chars, ".!?;:");
        assert!(
            s.llm_tts_stream && s.stream_boundary_only && s.online_announce && !s.live_mode_default
        );
        assert_eq!(s.topic_of("tts.say"), Some("tts/say"));
        assert_eq!(s.topic_of("movement/test"), None);
    }

    #[test]
    fn aliases_are_read_and_the_first_name_wins() {
        let s = with(&[("PIPER_VOICE", "v1"), ("STREAM_MIN_CHARS", "10")]).unwrap();
        assert_eq!((s.tts_voice.as_str(), s.stream_min_chars), ("v1", 10));
        let s = with(&[("PIPER_VOICE", "v1"), ("ROUTER_TTS_VOICE", "v2")]).unwrap();
        assert_eq!(s.tts_voice, "v2");
    }

    #[test]
    fn disabling_the_wake_ack_empties_its_choices_and_text() {
        let s = with(&[("ROUTER_WAKE_ACK_ENABLED", "off")]).unwrap();
        assert!(s.wake_ack_choices.is_empty() && s.wake_ack_text.is_empty());
        let s = with(&[
            ("ROUTER_WAKE_ACK_CHOICES", " | "),
            ("ROUTER_WAKE_ACK_TEXT", ""),
        ])
        .unwrap();
        assert_eq!(
            (s.wake_ack_choices.len(), s.wake_ack_text.as_str()),
            (3, "Hmm?")
        );
    }

    #[test]
    fn a_value_that_does_not_parse_is_an_error_naming_its_variable() {
        let error = with(&[("STREAM_MAX_CHARS", "lots")]).unwrap_err();
        assert_eq!(error.variable, "STREAM_MAX_CHARS");
        assert_eq!(
            with(&[("ONLINE_ANNOUNCE", "maybe")]).unwrap_err().variable,
            "ONLINE_ANNOUNCE"
        );
        assert_eq!(
            with(&[("ROUTER_WAKE_WINDOW_SEC", "-1")])
                .unwrap_err()
                .variable,
            "ROUTER_WAKE_WINDOW_SEC"
        );
    }
}
