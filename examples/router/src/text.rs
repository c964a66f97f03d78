//! Text rules of the py-tars router, on characters as Python counts them (not bytes):
//! sentence boundaries in streamed answers, the wake phrase, commands and intents.

use regex::Regex;
use tars_contracts::movement::TestMovementCommand;

/// The byte offset of character `index` of `text` (its length past the end).
fn byte_at(text: &str, index: usize) -> usize {
    text.char_indices()
        .nth(index)
        .map_or(text.len(), |(offset, _)| offset)
}

/// Python's `text[:index]` and `text[index:]`, `index` counted in characters.
pub fn split_at_char(text: &str, index: usize) -> (&str, &str) {
    text.split_at(byte_at(text, index))
}

/// The last sentence boundary of `text` and the text around it (`_split_on_boundary`):
/// the last boundary character followed by a space or the end; else the last boundary
/// character anywhere (py-tars cuts `3.14` there too). `("", text)` without one.
pub fn split_on_boundary<'a>(text: &'a str, boundaries: &str) -> (&'a str, &'a str) {
    let chars: Vec<char> = text.chars().collect();
    let followed_by_space = (0..chars.len()).rev().find(|&i| {
        boundaries.contains(chars[i]) && chars.get(i + 1).is_none_or(|next| next.is_whitespace())
    });
    let last_anywhere = || {
        (0..chars.len())
            .rev()
            .find(|&i| boundaries.contains(chars[i]))
    };
    match followed_by_space.or_else(last_anywhere) {
        Some(index) => {
            let (sentence, rest) = split_at_char(text, index + 1);
            (sentence.trim(), rest.trim_start())
        }
        None => ("", text),
    }
}

/// `text` after the chunks already spoken, when it begins with them in order
/// (`_residual_after_stream`): the rest and `true`; else `text` and `false`.
pub fn residual_after<'a>(text: &'a str, spoken: &[String]) -> (&'a str, bool) {
    let mut rest = text;
    for chunk in spoken.iter().map(|c| c.trim()).filter(|c| !c.is_empty()) {
        rest = rest.trim_start();
        match rest.strip_prefix(chunk) {
            Some(after) => rest = after,
            None => return (text, false),
        }
    }
    (rest.trim_start(), true)
}

/// Lowercase, without punctuation, single spaces (`_normalize_command`).
pub fn normalize_command(text: &str) -> String {
    let kept: String = text
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c.is_whitespace())
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The phrases of each movement command, in py-tars's order: the first command one of
/// whose phrases occurs anywhere in the text wins (`_detect_movement_command`).
const MOVEMENTS: &[(TestMovementCommand, &[&str])] = &[
    (
        TestMovementCommand::Wave,
        &["wave", "wave your hand", "wave hello"],
    ),
    (
        TestMovementCommand::Laugh,
        &["laugh", "do a laugh", "laugh animation"],
    ),
    (TestMovementCommand::Bow, &["bow", "take a bow", "bow down"]),
    (
        TestMovementCommand::SwingLegs,
        &["swing legs", "swing your legs", "leg swing"],
    ),
    (
        TestMovementCommand::Balance,
        &["balance", "stand up", "balance yourself"],
    ),
    (
        TestMovementCommand::Pose,
        &["pose", "strike a pose", "do a pose"],
    ),
    (
        TestMovementCommand::StepForward,
        &["step forward", "walk forward", "move forward"],
    ),
    (
        TestMovementCommand::StepBackward,
        &["step backward", "step back", "walk backward", "move back"],
    ),
    (TestMovementCommand::TurnLeft, &["turn left", "rotate left"]),
    (
        TestMovementCommand::TurnRight,
        &["turn right", "rotate right"],
    ),
    (
        TestMovementCommand::Reset,
        &["reset", "reset position", "go to reset"],
    ),
    (
        TestMovementCommand::Disable,
        &["disable", "turn off", "power down"],
    ),
    (TestMovementCommand::Stop, &["stop", "stop moving", "halt"]),
    (TestMovementCommand::MicDrop, &["mic drop", "drop the mic"]),
    (TestMovementCommand::Monster, &["monster", "monster pose"]),
    (
        TestMovementCommand::PezzDispenser,
        &["pez", "pez dispenser", "pezz"],
    ),
    (TestMovementCommand::Now, &["now", "now pose"]),
];

/// The movement a transcript asks for, by substring as py-tars matches it ("I know"
/// asks for `now`).
pub fn movement_in(text: &str) -> Option<TestMovementCommand> {
    let text = text.trim().to_lowercase();
    MOVEMENTS
        .iter()
        .find(|(_, phrases)| phrases.iter().any(|p| text.contains(p)))
        .map(|(command, _)| *command)
}

/// A built-in answer: its text and speaking style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// What to say.
    pub text: String,
    /// How to say it.
    pub style: &'static str,
}

/// The router's rules before the LLM (`_rule_route`): the time, `say ...`, a greeting.
pub struct Intents {
    greeting: Regex,
}

impl Default for Intents {
    fn default() -> Self {
        Self {
            greeting: Regex::new(r"\b(hello|hi|hey|hiya|howdy)\b").expect("a valid pattern"),
        }
    }
}

impl Intents {
    /// The built-in answer to `text`, if one applies; `local_time` gives the time of
    /// day as `3:07 PM`.
    pub fn reply(&self, text: &str, local_time: impl FnOnce() -> String) -> Option<Reply> {
        let lower = text.trim().to_lowercase();
        if lower.contains("what time") || lower.contains("time is it") {
            return Some(Reply {
                text: format!("It is {}.", local_time()),
                style: "neutral",
            });
        }
        if lower.starts_with("say ") {
            return Some(Reply {
                text: split_at_char(text, 4).1.to_owned(),
                style: "neutral",
            });
        }
        self.greeting.is_match(&lower).then(|| Reply {
            text: "Hello! How can I help?".to_owned(),
            style: "friendly",
        })
    }
}

/// Strips a leading wake phrase, as py-tars's pattern would.
///
/// py-tars builds it as `rf"^\s*(?:{phrases})\\b[\s,]*"`: in a raw string `\\b` is a
/// backslash and a `b`, not a word boundary, so the phrase is stripped only when a
/// literal `\b` follows it, which no transcript has. The pattern is kept as written, so
/// that "hey tars, what time is it" reaches the rules whole, as in the Python router.
pub struct WakePhrase {
    pattern: Regex,
}

impl WakePhrase {
    /// The pattern of `phrases` (case-insensitive).
    pub fn new(phrases: &[String]) -> Self {
        let alternatives: Vec<String> = phrases.iter().map(|p| regex::escape(p)).collect();
        let pattern = format!(r"(?i)^\s*(?:{})\\b[\s,]*", alternatives.join("|"));
        Self {
            pattern: Regex::new(&pattern).expect("escaped phrases make a valid pattern"),
        }
    }

    /// What follows the wake phrase, when `text` starts with it (empty when nothing does).
    pub fn strip<'a>(&self, text: &'a str) -> Option<&'a str> {
        self.pattern.find(text).map(|m| text[m.end()..].trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stream_is_cut_after_the_last_sentence_that_ends_before_a_space() {
        assert_eq!(
            split_on_boundary("One. Two! Thr", ".!?"),
            ("One. Two!", "Thr")
        );
        assert_eq!(split_on_boundary("Hi there.", ".!?"), ("Hi there.", ""));
        assert_eq!(split_on_boundary("Pi is 3.14", ".!?"), ("Pi is 3.", "14"));
        assert_eq!(split_on_boundary("no end", ".!?"), ("", "no end"));
        assert_eq!(split_on_boundary("Ça va? Très", "?"), ("Ça va?", "Très"));
    }

    #[test]
    fn a_response_after_its_stream_leaves_what_was_not_spoken() {
        let spoken = ["Hello there.".to_owned(), "How are you?".to_owned()];
        assert_eq!(
            residual_after("Hello there. How are you? Fine.", &spoken),
            ("Fine.", true)
        );
        assert_eq!(
            residual_after("Hello there. How are you?", &spoken),
            ("", true)
        );
        assert_eq!(
            residual_after("Something else.", &spoken),
            ("Something else.", false)
        );
    }

    #[test]
    fn commands_are_compared_lowercase_without_punctuation() {
        assert_eq!(normalize_command("  Enter   Live-Mode! "), "enter livemode");
        assert_eq!(normalize_command("Exit live mode."), "exit live mode");
    }

    #[test]
    fn movements_match_anywhere_in_the_text_in_py_tars_order() {
        assert_eq!(
            movement_in("Please wave hello"),
            Some(TestMovementCommand::Wave)
        );
        assert_eq!(movement_in("I know"), Some(TestMovementCommand::Now));
        assert_eq!(
            movement_in("my elbow hurts"),
            Some(TestMovementCommand::Bow)
        );
        assert_eq!(movement_in("what is the weather"), None);
    }

    #[test]
    fn the_rules_answer_the_time_say_and_greetings() {
        let intents = Intents::default();
        let time = || "3:07 PM".to_owned();
        assert_eq!(
            intents.reply("What time is it?", time).unwrap().text,
            "It is 3:07 PM."
        );
        assert_eq!(
            intents.reply("say Hello World", time).unwrap().text,
            "Hello World"
        );
        assert_eq!(intents.reply("hey tars", time).unwrap().style, "friendly");
        assert!(intents.reply("this is fine", time).is_none());
    }

    #[test]
    fn the_wake_phrase_is_stripped_only_before_a_literal_backslash_b() {
        let wake = WakePhrase::new(&["hey tars".to_owned()]);
        assert_eq!(wake.strip("hey tars, what time is it"), None);
        assert_eq!(wake.strip(r"Hey TARS\b, what"), Some("what"));
    }
}
