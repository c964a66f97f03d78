//! The py-tars registry of envelope types and their topics
//! (`tars.contracts.registry`), as the Python services resolve a topic from a type.

/// Each envelope type of the registry with its topic, as py-tars ships it.
pub const EVENT_TO_TOPIC: &[(&str, &str)] = &[
    ("stt.final", "stt/final"),
    ("stt.partial", "stt/partial"),
    ("tts.say", "tts/say"),
    ("tts.status", "tts/status"),
    ("llm.request", "llm/request"),
    ("llm.response", "llm/response"),
    ("llm.stream", "llm/stream"),
    ("llm.cancel", "llm/cancel"),
    ("wake.event", "wake/event"),
    ("wake.mic", "wake/mic"),
    ("system.health.tts", "system/health/tts"),
    ("system.health.stt", "system/health/stt"),
    ("system.health.router", "system/health/router"),
    ("memory.query", "memory/query"),
    ("memory.results", "memory/results"),
    ("system.health.memory", "system/health/memory"),
    ("character.get", "character/get"),
    ("character.result", "character/result"),
    ("system.character.current", "system/character/current"),
];

/// The topic of envelope type `event_type` in the registry.
pub fn topic_of(event_type: &str) -> Option<&'static str> {
    EVENT_TO_TOPIC
        .iter()
        .find(|(t, _)| *t == event_type)
        .map(|(_, topic)| *topic)
}
