//! The router's state and decisions, ported from py-tars's `RouterPolicy`
//! (`tars/domain/router/policy.py`). Pure: each event goes in with the time, and what
//! to publish comes out; `main.rs` does the publishing.

use std::collections::{HashMap, HashSet};

use tars_contracts::health::HealthPing;
use tars_contracts::llm::{
    ConversationMessage, LlmCancel, LlmRequest, LlmResponse, LlmStreamDelta, Role,
};
use tars_contracts::movement::{MovementStatusUpdate, TestMovementRequest};
use tars_contracts::stt::FinalTranscript;
use tars_contracts::tts::{TtsSay, TtsStatus, TtsStatusEvent};
use tars_contracts::wake::WakeEvent;

use crate::settings::RouterSettings;
use crate::text::{self, Intents, WakePhrase};

/// How long after a spoken answer a follow-up is taken without a wake word, in seconds
/// (fixed in py-tars, as the STT worker's window).
pub const RESPONSE_WINDOW_SEC: f64 = 10.0;

/// The messages of the conversation sent with each LLM request.
pub const HISTORY_SENT: usize = 10;

/// The moment an event is handled, as the router reads its clocks.
#[derive(Debug, Clone)]
pub struct Now {
    /// A monotonic clock, in seconds (windows are measured on it).
    pub monotonic: f64,
    /// Seconds since the Unix epoch.
    pub wall: f64,
    /// The local time of day, as `3:07 PM` (for the time intent).
    pub local_time: String,
}

/// What the router publishes in answer to an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// `tts/say`, as an envelope whose id is `correlate`.
    Say {
        /// What to say.
        say: TtsSay,
        /// The id of the event it answers.
        correlate: String,
    },
    /// `llm/request`, as an envelope whose id is `correlate`.
    Ask {
        /// The request.
        request: LlmRequest,
        /// The id of the transcript it answers.
        correlate: String,
    },
    /// A movement py-tars would publish and cannot: its router passes the topic
    /// `movement/test` where an envelope type is expected, the registry has no such
    /// type, and the publish raises before anything is sent. Nothing goes out; the
    /// service logs it, as the Python dispatcher logs the error.
    MovementLost {
        /// The request the Python router builds.
        request: TestMovementRequest,
    },
}

/// The router: which workers are ready, the windows in which a transcript is taken,
/// live mode, streamed answers being spoken, and the conversation.
pub struct Router {
    settings: RouterSettings,
    ready: HashMap<String, bool>,
    announced: bool,
    /// Streamed text not spoken yet, by request id.
    buffers: HashMap<String, String>,
    /// What was spoken of each streamed answer, by request id.
    spoken: HashMap<String, Vec<String>>,
    /// Requests whose stream has ended.
    streamed: HashSet<String>,
    live_mode: bool,
    wake_until: Option<f64>,
    response_until: Option<f64>,
    /// The conversation's last messages (py-tars keeps all and sends the last ten).
    history: Vec<ConversationMessage>,
    ack_turn: usize,
    wake_phrase: WakePhrase,
    intents: Intents,
}

/// `message_id`, else `id`, else `utt_id`: the first that is a non-empty text
/// (`Ctx.id_from`).
fn id_from(candidates: &[Option<&str>]) -> String {
    candidates
        .iter()
        .flatten()
        .find(|id| !id.is_empty())
        .map_or_else(String::new, |id| (*id).to_owned())
}

/// `value` unless it is absent or empty (Python's `value or default`).
fn non_empty(value: &Option<String>) -> Option<String> {
    value.clone().filter(|v| !v.is_empty())
}

/// Eight hex digits of a fresh uuid4, as `uuid.uuid4().hex[:8]`.
fn short_id() -> String {
    tars_contracts::new_message_id()[..8].to_owned()
}

/// What `_speak` says: everything but the text is optional.
#[derive(Default)]
struct Speech<'a> {
    style: Option<&'a str>,
    utt_id: Option<String>,
    wake_ack: Option<bool>,
    system_announce: Option<bool>,
    stt_ts: Option<f64>,
}

impl Router {
    /// A router with nothing ready and nothing heard.
    pub fn new(settings: RouterSettings) -> Self {
        Self {
            ready: HashMap::from([("tts".to_owned(), false), ("stt".to_owned(), false)]),
            announced: false,
            buffers: HashMap::new(),
            spoken: HashMap::new(),
            streamed: HashSet::new(),
            live_mode: settings.live_mode_default,
            wake_until: None,
            response_until: None,
            history: Vec::new(),
            ack_turn: 0,
            wake_phrase: WakePhrase::new(&settings.wake_phrases),
            intents: Intents::default(),
            settings,
        }
    }

    /// The settings it runs with.
    pub fn settings(&self) -> &RouterSettings {
        &self.settings
    }

    /// Whether every transcript is taken, wake word or not.
    pub fn live_mode(&self) -> bool {
        self.live_mode
    }

    fn speak(&self, text: &str, speech: Speech<'_>, correlate: String, out: &mut Vec<Action>) {
        if text.is_empty() {
            return;
        }
        let mut say = TtsSay::new(text);
        say.voice = Some(self.settings.tts_voice.clone());
        say.lang = Some("en".to_owned());
        say.utt_id = speech.utt_id;
        say.style = Some(speech.style.unwrap_or("neutral").to_owned());
        say.wake_ack = speech.wake_ack;
        say.system_announce = speech.system_announce;
        say.stt_ts = speech.stt_ts;
        out.push(Action::Say { say, correlate });
    }

    /// The health of a worker (`tts` or `stt`): once both have been healthy, the boot
    /// announcement, once.
    pub fn on_health(&mut self, service: &str, ping: &HealthPing) -> Vec<Action> {
        let mut out = Vec::new();
        let ready = self.ready.entry(service.to_owned()).or_default();
        let before = *ready;
        *ready = *ready || ping.ok;
        if before != *ready {
            tracing::info!(service, ok = ping.ok, "a worker is ready");
        }
        let both = self.ready.get("tts") == Some(&true) && self.ready.get("stt") == Some(&true);
        if self.settings.online_announce && both && !self.announced {
            self.announced = true;
            tracing::info!("every worker is ready: announcing");
            let speech = Speech {
                utt_id: Some("boot".to_owned()),
                system_announce: Some(true),
                ..Speech::default()
            };
            self.speak(
                &self.settings.online_text,
                speech,
                ping.message_id.clone(),
                &mut out,
            );
        }
        out
    }

    /// A wake event: the wake window opens (`wake`, `interrupt`) or closes (`resume`,
    /// `cancelled`, `timeout`), with the configured words.
    pub fn on_wake(&mut self, event: &WakeEvent, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        let kind = event.r#type.to_lowercase();
        let correlate = id_from(&[Some(&event.message_id)]);
        let tts_id = event.tts_id.clone();
        let s = &self.settings;
        let said = match kind.as_str() {
            "wake" => {
                self.wake_until = Some(now.monotonic + s.wake_window_sec);
                if let Some(ack) = self.next_ack() {
                    let utt_id = non_empty(&tts_id)
                        .unwrap_or_else(|| format!("wake-ack-{}", (now.wall * 1000.0) as i64));
                    let speech = Speech {
                        style: Some(&self.settings.wake_ack_style),
                        utt_id: Some(utt_id),
                        wake_ack: Some(true),
                        ..Speech::default()
                    };
                    self.speak(&ack, speech, correlate.clone(), &mut out);
                }
                &self.settings.wake_reprompt_text
            }
            "interrupt" => {
                self.wake_until = Some(now.monotonic + s.wake_window_sec);
                &self.settings.wake_interrupt_text
            }
            "resume" | "cancelled" | "timeout" => {
                self.wake_until = None;
                match kind.as_str() {
                    "resume" => &self.settings.wake_resume_text,
                    "cancelled" => &self.settings.wake_cancel_text,
                    _ => &self.settings.wake_timeout_text,
                }
            }
            other => {
                tracing::debug!(event = other, "wake event ignored");
                return out;
            }
        };
        let speech = Speech {
            utt_id: tts_id,
            ..Speech::default()
        };
        self.speak(said, speech, correlate, &mut out);
        out
    }

    /// The next wake acknowledgement, the choices in turn.
    fn next_ack(&mut self) -> Option<String> {
        if !self.settings.wake_ack_enabled {
            return None;
        }
        let choices = &self.settings.wake_ack_choices;
        if choices.is_empty() {
            return Some(self.settings.wake_ack_text.clone());
        }
        let ack = choices[self.ack_turn % choices.len()].clone();
        self.ack_turn += 1;
        Some(ack)
    }

    /// A TTS status: the end of an utterance that was not a wake acknowledgement opens
    /// the response window.
    pub fn on_tts_status(&mut self, status: &TtsStatus, now: &Now) -> Vec<Action> {
        if status.event == TtsStatusEvent::SpeakingEnd && status.wake_ack != Some(true) {
            self.response_until = Some(now.monotonic + RESPONSE_WINDOW_SEC);
            tracing::debug!("response window opened");
        }
        Vec::new()
    }

    /// A movement status from the controller: logged.
    pub fn on_movement_status(&mut self, status: &MovementStatusUpdate) -> Vec<Action> {
        tracing::debug!(
            event = ?status.event,
            command = status.command.as_deref(),
            request_id = status.request_id.as_deref(),
            "movement status"
        );
        Vec::new()
    }

    /// A final transcript, taken in live mode or within a window: live mode commands, a
    /// movement, a built-in answer, or a request to the LLM.
    pub fn on_transcript(&mut self, event: &FinalTranscript, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        let text = event.text.trim();
        if text.is_empty() {
            tracing::debug!("empty transcript");
            return out;
        }
        if self.wake_until.is_some_and(|until| now.monotonic > until) {
            tracing::info!("wake window expired");
            self.wake_until = None;
        }
        if self
            .response_until
            .is_some_and(|until| now.monotonic > until)
        {
            tracing::debug!("response window expired");
            self.response_until = None;
        }
        let candidate = match self.wake_phrase.strip(text) {
            Some(rest) if !rest.is_empty() => rest,
            _ => text,
        };
        let (wake, response) = (self.wake_until.is_some(), self.response_until.is_some());
        let gate = if self.live_mode {
            "live-mode"
        } else if wake {
            "wake-event"
        } else if response {
            "response-window"
        } else {
            tracing::info!(reason = "no-wake", "transcript dropped");
            return out;
        };
        let correlate = id_from(&[Some(&event.message_id), event.utt_id.as_deref()]);
        let command = text::normalize_command(candidate);
        let reply = |said: &str| (said.to_owned(), event.utt_id.clone());
        let live = if command == self.settings.live_mode_enter_phrase {
            Some(match self.live_mode {
                true => reply(&self.settings.live_mode_active_hint),
                false => {
                    self.live_mode = true;
                    self.wake_until = None;
                    reply(&self.settings.live_mode_enter_ack)
                }
            })
        } else if command == self.settings.live_mode_exit_phrase {
            Some(match self.live_mode {
                false => reply(&self.settings.live_mode_inactive_hint),
                true => {
                    self.live_mode = false;
                    self.wake_until = None;
                    reply(&self.settings.live_mode_exit_ack)
                }
            })
        } else {
            None
        };
        if let Some((said, utt_id)) = live {
            let speech = Speech {
                utt_id,
                ..Speech::default()
            };
            self.speak(&said, speech, correlate, &mut out);
            return out;
        }
        self.wake_until = None;
        self.response_until = None;
        tracing::debug!(gating = gate, "transcript taken");
        if let Some(command) = text::movement_in(candidate) {
            let mut request = TestMovementRequest::new(command);
            request.speed = 1.0;
            request.request_id =
                Some(non_empty(&event.utt_id).unwrap_or_else(|| format!("mv-{}", short_id())));
            out.push(Action::MovementLost { request });
            return out;
        }
        if let Some(answer) = self.intents.reply(candidate, || now.local_time.clone()) {
            let speech = Speech {
                style: Some(answer.style),
                utt_id: event.utt_id.clone(),
                stt_ts: Some(event.ts),
                ..Speech::default()
            };
            self.speak(&answer.text, speech, correlate, &mut out);
            return out;
        }
        let id = non_empty(&event.utt_id).unwrap_or_else(|| format!("rt-{}", short_id()));
        self.remember(Role::User, candidate, Some(event.ts));
        let mut request = LlmRequest::new(id.clone(), candidate);
        request.stream = true;
        request.conversation_history = Some(self.history.clone());
        tracing::info!(
            id,
            len = candidate.chars().count(),
            reason = gate,
            "asking the LLM"
        );
        out.push(Action::Ask { request, correlate });
        out
    }

    /// Keeps a message of the conversation (the last [`HISTORY_SENT`]).
    fn remember(&mut self, role: Role, content: &str, timestamp: Option<f64>) {
        let mut message = ConversationMessage::new(role, content);
        message.timestamp = timestamp;
        self.history.push(message);
        if self.history.len() > HISTORY_SENT {
            self.history.remove(0);
        }
    }

    /// A cancel: what was buffered or spoken of that request is forgotten.
    pub fn on_cancel(&mut self, cancel: &LlmCancel) -> Vec<Action> {
        let id = cancel.id.trim();
        if self.buffers.remove(id).is_some() {
            tracing::info!(id, "LLM request cancelled");
        }
        if !id.is_empty() {
            self.spoken.remove(id);
            self.streamed.remove(id);
        }
        Vec::new()
    }

    /// The LLM's whole answer: spoken, unless its stream already said it (then only
    /// what the stream did not say).
    pub fn on_response(&mut self, response: &LlmResponse, now: &Now) -> Vec<Action> {
        let mut out = Vec::new();
        let mut text = response.reply.as_deref().unwrap_or("").trim().to_owned();
        let id = response.id.trim().to_owned();
        let streamed = !id.is_empty() && self.streamed.contains(&id);
        if self.settings.llm_tts_stream && streamed {
            let spoken = self.spoken.remove(&id).unwrap_or_default();
            let (rest, matched) = text::residual_after(&text, &spoken);
            if matched && rest.is_empty() {
                tracing::info!(id, "answer already streamed");
                self.streamed.remove(&id);
                return out;
            }
            if matched {
                text = rest.to_owned();
            } else if !spoken.is_empty() {
                tracing::warn!(id, chunks = spoken.len(), "answer differs from its stream");
            }
        } else if !id.is_empty() {
            self.spoken.remove(&id);
        }
        if text.is_empty() {
            return out;
        }
        self.remember(Role::Assistant, &text, Some(now.wall));
        let speech = Speech {
            utt_id: (!id.is_empty()).then(|| id.clone()),
            ..Speech::default()
        };
        let correlate = id_from(&[Some(&response.message_id), Some(&response.id)]);
        self.speak(&text, speech, correlate, &mut out);
        if !id.is_empty() {
            self.streamed.remove(&id);
        }
        out
    }

    /// A piece of a streamed answer: each whole sentence is spoken as it completes, the
    /// rest when the stream is done.
    pub fn on_stream(&mut self, delta: &LlmStreamDelta) -> Vec<Action> {
        let mut out = Vec::new();
        if !self.settings.llm_tts_stream {
            return out;
        }
        let id = delta.id.trim().to_owned();
        if id.is_empty() {
            return out;
        }
        self.streamed.remove(&id);
        let correlate = id_from(&[Some(&delta.message_id), Some(&delta.id)]);
        let piece = delta.delta.as_deref().unwrap_or("");
        let mut buffer = self.buffers.get(&id).cloned().unwrap_or_default();
        if !piece.is_empty() {
            buffer.push_str(piece);
            while self.should_flush(&buffer) {
                let (mut sentence, mut rest) =
                    text::split_on_boundary(&buffer, &self.settings.stream_boundary_chars);
                if sentence.is_empty() {
                    if self.settings.stream_boundary_only {
                        break;
                    }
                    let cut = buffer.chars().count().min(self.settings.stream_max_chars);
                    if cut == 0 {
                        break;
                    }
                    let (head, tail) = text::split_at_char(&buffer, cut);
                    (sentence, rest) = (head.trim(), tail.trim_start());
                    if sentence.is_empty() {
                        break;
                    }
                }
                let (sentence, rest) = (sentence.to_owned(), rest.to_owned());
                self.say_chunk(&id, &sentence, &correlate, &mut out);
                buffer = rest;
            }
            let hard_max = self.settings.stream_hard_max_chars;
            if self.settings.stream_boundary_only && buffer.chars().count() > hard_max {
                let head = text::split_at_char(&buffer, hard_max).0;
                let cut = head
                    .chars()
                    .rev()
                    .position(|c| c == ' ')
                    .map_or(0, |from_end| head.chars().count() - from_end - 1);
                let cut = if cut == 0 { hard_max } else { cut };
                let (sentence, rest) = text::split_at_char(&buffer, cut);
                let (sentence, rest) = (sentence.trim().to_owned(), rest.trim_start().to_owned());
                if !sentence.is_empty() {
                    self.say_chunk(&id, &sentence, &correlate, &mut out);
                    buffer = rest;
                }
            }
            self.buffers.insert(id.clone(), buffer);
        }
        if delta.done {
            let last = self.buffers.remove(&id).unwrap_or_default();
            let last = last.trim();
            if !last.is_empty() {
                self.say_chunk(&id, last, &correlate, &mut out);
            }
            self.streamed.insert(id);
        }
        out
    }

    /// Speaks one chunk of a streamed answer and remembers it was spoken.
    fn say_chunk(&mut self, id: &str, chunk: &str, correlate: &str, out: &mut Vec<Action>) {
        let chunk = chunk.trim();
        if chunk.is_empty() {
            return;
        }
        self.spoken
            .entry(id.to_owned())
            .or_default()
            .push(chunk.to_owned());
        let speech = Speech {
            utt_id: Some(id.to_owned()),
            ..Speech::default()
        };
        self.speak(chunk, speech, correlate.to_owned(), out);
    }

    /// Whether the buffer holds something to speak now (`_should_flush`).
    fn should_flush(&self, buffer: &str) -> bool {
        let s = &self.settings;
        let boundary = buffer.chars().any(|c| s.stream_boundary_chars.contains(c));
        if s.stream_boundary_only {
            return boundary;
        }
        let len = buffer.chars().count();
        boundary || len >= s.stream_min_chars || len >= s.stream_max_chars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Now {
        Now {
            monotonic: 100.0,
            wall: 1_700_000_000.0,
            local_time: "3:07 PM".to_owned(),
        }
    }

    fn delta(id: &str, text: &str, done: bool) -> LlmStreamDelta {
        let mut delta = LlmStreamDelta::new(id);
        delta.delta = Some(text.to_owned());
        delta.done = done;
        delta
    }

    fn said(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Say { say, .. } => Some(say.text.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_stream_without_boundaries_is_cut_at_a_space_past_the_hard_maximum() {
        let settings = RouterSettings {
            stream_hard_max_chars: 20,
            ..RouterSettings::default()
        };
        let mut router = Router::new(settings);
        let out = router.on_stream(&delta("r", "one two three four five six seven", false));
        assert_eq!(said(&out), ["one two three four"]);
        let out = router.on_stream(&delta("r", "", true));
        assert_eq!(said(&out), ["five six seven"]);
    }

    #[test]
    fn without_boundary_only_a_long_buffer_is_spoken_at_the_minimum_length() {
        let settings = RouterSettings {
            stream_boundary_only: false,
            stream_min_chars: 10,
            stream_max_chars: 12,
            ..RouterSettings::default()
        };
        let mut router = Router::new(settings);
        let out = router.on_stream(&delta("r", "abcdefghijklmnop", false));
        assert_eq!(said(&out), ["abcdefghijkl"]);
    }

    #[test]
    fn a_transcript_outside_every_window_is_dropped_and_a_wake_opens_one() {
        let mut router = Router::new(RouterSettings::default());
        let transcript = FinalTranscript::new("tell me a joke");
        assert!(router.on_transcript(&transcript, &now()).is_empty());
        router.on_wake(&WakeEvent::new("wake"), &now());
        let out = router.on_transcript(&transcript, &now());
        assert!(
            matches!(out.as_slice(), [Action::Ask { request, .. }] if request.text == "tell me a joke")
        );
        let later = Now {
            monotonic: 100.0 + 9.0,
            ..now()
        };
        assert!(
            router.on_transcript(&transcript, &later).is_empty(),
            "the window closed once used"
        );
    }

    #[test]
    fn the_history_sent_is_the_last_ten_messages() {
        let mut router = Router::new(RouterSettings {
            live_mode_default: true,
            ..RouterSettings::default()
        });
        let mut last = Vec::new();
        for i in 0..12 {
            last = router.on_transcript(&FinalTranscript::new(format!("question {i}")), &now());
        }
        let [Action::Ask { request, .. }] = last.as_slice() else {
            panic!("{last:?}");
        };
        let history = request.conversation_history.as_ref().unwrap();
        assert_eq!(history.len(), HISTORY_SENT);
        assert_eq!(history.last().unwrap().content, "question 11");
    }
}
