//! The messages of py-tars's `tars.contracts.v1.memory`.

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{bounds, new_message_id, Document, Object};

/// `EVENT_TYPE_CHARACTER_CURRENT` of py-tars.
pub const EVENT_TYPE_CHARACTER_CURRENT: &str = "system.character.current";
/// `EVENT_TYPE_CHARACTER_GET` of py-tars.
pub const EVENT_TYPE_CHARACTER_GET: &str = "character.get";
/// `EVENT_TYPE_CHARACTER_RESULT` of py-tars.
pub const EVENT_TYPE_CHARACTER_RESULT: &str = "character.result";
/// `EVENT_TYPE_CHARACTER_UPDATE` of py-tars.
pub const EVENT_TYPE_CHARACTER_UPDATE: &str = "character.update";
/// `EVENT_TYPE_MEMORY_HEALTH` of py-tars.
pub const EVENT_TYPE_MEMORY_HEALTH: &str = "system.health.memory";
/// `EVENT_TYPE_MEMORY_QUERY` of py-tars.
pub const EVENT_TYPE_MEMORY_QUERY: &str = "memory.query";
/// `EVENT_TYPE_MEMORY_RESULTS` of py-tars.
pub const EVENT_TYPE_MEMORY_RESULTS: &str = "memory.results";
/// `TOPIC_CHARACTER_GET` of py-tars.
pub const TOPIC_CHARACTER_GET: &str = "character/get";
/// `TOPIC_CHARACTER_RESULT` of py-tars.
pub const TOPIC_CHARACTER_RESULT: &str = "character/result";
/// `TOPIC_CHARACTER_UPDATE` of py-tars.
pub const TOPIC_CHARACTER_UPDATE: &str = "character/update";
/// `TOPIC_MEMORY_QUERY` of py-tars.
pub const TOPIC_MEMORY_QUERY: &str = "memory/query";
/// `TOPIC_MEMORY_RESULTS` of py-tars.
pub const TOPIC_MEMORY_RESULTS: &str = "memory/results";
/// `TOPIC_SYSTEM_CHARACTER_CURRENT` of py-tars.
pub const TOPIC_SYSTEM_CHARACTER_CURRENT: &str = "system/character/current";

/// The fields every memory message has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseMemoryMessage {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
}

impl BaseMemoryMessage {
    /// A `BaseMemoryMessage` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
        }
    }
}

impl Default for BaseMemoryMessage {
    fn default() -> Self {
        Self::new()
    }
}

/// Asks the memory worker for the character, or one section of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "character/get", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CharacterGetRequest {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The section of the character.
    #[serde(default)]
    pub section: Option<String>,
}

impl CharacterGetRequest {
    /// A `CharacterGetRequest` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
            section: None,
        }
    }
}

impl Default for CharacterGetRequest {
    fn default() -> Self {
        Self::new()
    }
}

/// Reset all traits to defaults from character.toml.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "character/update", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CharacterResetTraits {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// What to do.
    #[serde(default = "default_action")]
    pub action: String,
}

impl CharacterResetTraits {
    /// A `CharacterResetTraits` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
            action: default_action(),
        }
    }
}

impl Default for CharacterResetTraits {
    fn default() -> Self {
        Self::new()
    }
}

/// One section of the character, as asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "character/update", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CharacterSection {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The section of the character.
    pub section: String,
    /// The value.
    #[serde(default)]
    pub value: Option<Document>,
}

impl CharacterSection {
    /// A `CharacterSection` with the given required fields and every other one at its pydantic default.
    pub fn new(section: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            section: section.into(),
            value: None,
        }
    }
}

/// The whole character: its name, prompt, traits, voice and the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "character/result", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CharacterSnapshot {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The name.
    pub name: String,
    /// A description.
    #[serde(default)]
    pub description: Option<String>,
    /// The system prompt.
    #[serde(default)]
    pub systemprompt: Option<String>,
    /// Personality traits, by name.
    #[serde(default)]
    pub traits: Object,
    /// The voice to speak in.
    #[serde(default)]
    pub voice: Object,
    /// Metadata.
    #[serde(default)]
    pub meta: Object,
    /// The scenario.
    #[serde(default)]
    pub scenario: Object,
    /// Notes on the personality.
    #[serde(default)]
    pub personality_notes: Object,
    /// Example interactions.
    #[serde(default)]
    pub example_interactions: Object,
}

impl CharacterSnapshot {
    /// A `CharacterSnapshot` with the given required fields and every other one at its pydantic default.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            name: name.into(),
            description: None,
            systemprompt: None,
            traits: Default::default(),
            voice: Default::default(),
            meta: Default::default(),
            scenario: Default::default(),
            personality_notes: Default::default(),
            example_interactions: Default::default(),
        }
    }
}

/// Update a single character trait value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "character/update", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CharacterTraitUpdate {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The section of the character.
    #[serde(default = "default_section")]
    pub section: String,
    /// The trait to change.
    pub r#trait: String,
    /// The value.
    #[serde(deserialize_with = "bounds::int_0_to_100")]
    pub value: i64,
}

impl CharacterTraitUpdate {
    /// A `CharacterTraitUpdate` with the given required fields and every other one at its pydantic default.
    pub fn new(name: impl Into<String>, value: i64) -> Self {
        Self {
            message_id: new_message_id(),
            section: default_section(),
            r#trait: name.into(),
            value,
        }
    }
}

/// A search of the memory worker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "memory/query", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct MemoryQuery {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The text.
    pub text: String,
    /// How many documents to return, from 1 to 50.
    #[serde(default = "default_top_k", deserialize_with = "bounds::int_1_to_50")]
    pub top_k: i64,
    /// A bound on the tokens of the documents returned.
    #[serde(default, deserialize_with = "bounds::opt_int_1_to_10000")]
    pub max_tokens: Option<i64>,
    /// Whether to return the documents around each match too.
    #[serde(default)]
    pub include_context: bool,
    /// How many documents around each match, from 0 to 5.
    #[serde(
        default = "default_context_window",
        deserialize_with = "bounds::int_0_to_5"
    )]
    pub context_window: i64,
    /// `hybrid`, `recent` or `similarity`.
    #[serde(default = "default_retrieval_strategy")]
    pub retrieval_strategy: String,
}

impl MemoryQuery {
    /// A `MemoryQuery` with the given required fields and every other one at its pydantic default.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            text: text.into(),
            top_k: default_top_k(),
            max_tokens: None,
            include_context: Default::default(),
            context_window: default_context_window(),
            retrieval_strategy: default_retrieval_strategy(),
        }
    }
}

/// One document a memory search found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemoryResult {
    /// The document found.
    pub document: Document,
    /// How well it matched.
    #[serde(default)]
    pub score: Option<f64>,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// `target` (a match), `previous` or `next` (around a match).
    #[serde(default = "default_context_type")]
    pub context_type: String,
    /// Its size in tokens.
    #[serde(default)]
    pub token_count: Option<i64>,
}

impl MemoryResult {
    /// A `MemoryResult` with the given required fields and every other one at its pydantic default.
    pub fn new(document: Document) -> Self {
        Self {
            document,
            score: None,
            timestamp: None,
            context_type: default_context_type(),
            token_count: None,
        }
    }
}

/// The memory worker's answer to a search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "memory/results", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct MemoryResults {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The search text.
    pub query: String,
    /// How many documents were asked for.
    pub k: i64,
    /// The documents found.
    #[serde(default)]
    pub results: Vec<MemoryResult>,
    /// The tokens of every document returned.
    #[serde(default)]
    pub total_tokens: Option<i64>,
    /// The retrieval strategy used.
    #[serde(default = "default_strategy_used")]
    pub strategy_used: String,
    /// Whether the results were cut to fit `max_tokens`.
    #[serde(default)]
    pub truncated: bool,
}

impl MemoryResults {
    /// A `MemoryResults` with the given required fields and every other one at its pydantic default.
    pub fn new(query: impl Into<String>, k: i64) -> Self {
        Self {
            message_id: new_message_id(),
            query: query.into(),
            k,
            results: Default::default(),
            total_tokens: None,
            strategy_used: default_strategy_used(),
            truncated: Default::default(),
        }
    }
}

fn default_action() -> String {
    "reset_traits".to_owned()
}

fn default_context_type() -> String {
    "target".to_owned()
}

fn default_context_window() -> i64 {
    1
}

fn default_retrieval_strategy() -> String {
    "hybrid".to_owned()
}

fn default_section() -> String {
    "traits".to_owned()
}

fn default_strategy_used() -> String {
    "hybrid".to_owned()
}

fn default_top_k() -> i64 {
    5
}

/// The character as it is now, retained on `system/character/current` for the services
/// that start later (the same fields as [`CharacterSnapshot`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CurrentCharacter(pub CharacterSnapshot);

impl Event for CurrentCharacter {
    const TOPIC: &'static str = TOPIC_SYSTEM_CHARACTER_CURRENT;
    const EVENT_TYPE: &'static str = EVENT_TYPE_CHARACTER_CURRENT;
    const QOS: tars::QoS = tars::QoS::AtLeastOnce;
    const RETAIN: bool = true;
}
