//! The messages of py-tars's `tars.contracts.v1.llm`.

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{new_message_id, Object};

/// `EVENT_TYPE_LLM_CANCEL` of py-tars.
pub const EVENT_TYPE_LLM_CANCEL: &str = "llm.cancel";
/// `EVENT_TYPE_LLM_REQUEST` of py-tars.
pub const EVENT_TYPE_LLM_REQUEST: &str = "llm.request";
/// `EVENT_TYPE_LLM_RESPONSE` of py-tars.
pub const EVENT_TYPE_LLM_RESPONSE: &str = "llm.response";
/// `EVENT_TYPE_LLM_STREAM` of py-tars.
pub const EVENT_TYPE_LLM_STREAM: &str = "llm.stream";
/// `EVENT_TYPE_TOOLS_REGISTRY` of py-tars.
pub const EVENT_TYPE_TOOLS_REGISTRY: &str = "llm.tools.registry";
/// `EVENT_TYPE_TOOL_CALL_REQUEST` of py-tars.
pub const EVENT_TYPE_TOOL_CALL_REQUEST: &str = "llm.tool.call.request";
/// `EVENT_TYPE_TOOL_CALL_RESULT` of py-tars.
pub const EVENT_TYPE_TOOL_CALL_RESULT: &str = "llm.tool.call.result";
/// `TOPIC_LLM_CANCEL` of py-tars.
pub const TOPIC_LLM_CANCEL: &str = "llm/cancel";
/// `TOPIC_LLM_REQUEST` of py-tars.
pub const TOPIC_LLM_REQUEST: &str = "llm/request";
/// `TOPIC_LLM_RESPONSE` of py-tars.
pub const TOPIC_LLM_RESPONSE: &str = "llm/response";
/// `TOPIC_LLM_STREAM` of py-tars.
pub const TOPIC_LLM_STREAM: &str = "llm/stream";
/// `TOPIC_LLM_TOOLS_REGISTRY` of py-tars.
pub const TOPIC_LLM_TOOLS_REGISTRY: &str = "llm/tools/registry";
/// `TOPIC_LLM_TOOL_CALL_REQUEST` of py-tars.
pub const TOPIC_LLM_TOOL_CALL_REQUEST: &str = "llm/tool.call.request";
/// `TOPIC_LLM_TOOL_CALL_RESULT` of py-tars.
pub const TOPIC_LLM_TOOL_CALL_RESULT: &str = "llm/tool.call.result";

/// Who said a message of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// `user`.
    User,
    /// `assistant`.
    Assistant,
}

/// The fields every LLM message has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseLlmMessage {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
}

impl BaseLlmMessage {
    /// A `BaseLLMMessage` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
        }
    }
}

impl Default for BaseLlmMessage {
    fn default() -> Self {
        Self::new()
    }
}

/// A message in the conversation history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationMessage {
    /// Who said it.
    pub role: Role,
    /// What was said.
    pub content: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default)]
    pub timestamp: Option<f64>,
}

impl ConversationMessage {
    /// A `ConversationMessage` with the given required fields and every other one at its pydantic default.
    pub fn new(role: Role, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
            timestamp: None,
        }
    }
}

/// Asks the LLM worker to stop answering a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/cancel", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct LlmCancel {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The id of the request or sequence it belongs to.
    pub id: String,
}

impl LlmCancel {
    /// A `LLMCancel` with the given required fields and every other one at its pydantic default.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            id: id.into(),
        }
    }
}

/// A question for the LLM worker, with the conversation so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/request", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct LlmRequest {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The id of the request or sequence it belongs to.
    pub id: String,
    /// The text.
    pub text: String,
    /// Whether to stream the answer on `llm/stream` as well.
    #[serde(default = "default_stream")]
    pub stream: bool,
    /// Whether to look in the memory first.
    #[serde(default)]
    pub use_rag: Option<bool>,
    /// How many memory documents to add.
    #[serde(default)]
    pub rag_k: Option<i64>,
    /// A system prompt for this request.
    #[serde(default)]
    pub system: Option<String>,
    /// Parameters of their own.
    #[serde(default)]
    pub params: Option<Object>,
    /// The recent messages of the conversation.
    #[serde(default)]
    pub conversation_history: Option<Vec<ConversationMessage>>,
}

impl LlmRequest {
    /// A `LLMRequest` with the given required fields and every other one at its pydantic default.
    pub fn new(id: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            id: id.into(),
            text: text.into(),
            stream: default_stream(),
            use_rag: None,
            rag_k: None,
            system: None,
            params: None,
            conversation_history: None,
        }
    }
}

/// The LLM worker's whole answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/response", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct LlmResponse {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The id of the request or sequence it belongs to.
    pub id: String,
    /// The answer.
    #[serde(default)]
    pub reply: Option<String>,
    /// What went wrong, when something did.
    #[serde(default)]
    pub error: Option<String>,
    /// The LLM provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The LLM model.
    #[serde(default)]
    pub model: Option<String>,
    /// Token counts, as the provider reports them.
    #[serde(default)]
    pub tokens: Option<Object>,
}

impl LlmResponse {
    /// A `LLMResponse` with the given required fields and every other one at its pydantic default.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            id: id.into(),
            reply: None,
            error: None,
            provider: None,
            model: None,
            tokens: None,
        }
    }
}

/// A piece of the LLM worker's answer, as it streams.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/stream", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct LlmStreamDelta {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The id of the request or sequence it belongs to.
    pub id: String,
    /// The position in the sequence.
    #[serde(default)]
    pub seq: Option<i64>,
    /// The new text.
    #[serde(default)]
    pub delta: Option<String>,
    /// Whether this is the last one.
    #[serde(default)]
    pub done: bool,
    /// The LLM provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The LLM model.
    #[serde(default)]
    pub model: Option<String>,
}

impl LlmStreamDelta {
    /// A `LLMStreamDelta` with the given required fields and every other one at its pydantic default.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            id: id.into(),
            seq: None,
            delta: None,
            done: Default::default(),
            provider: None,
            model: None,
        }
    }
}

/// Request to call a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/tool.call.request", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct ToolCallRequest {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The tool call this belongs to.
    pub call_id: String,
    /// The name.
    pub name: String,
    /// The tool's arguments.
    pub arguments: Object,
}

impl ToolCallRequest {
    /// A `ToolCallRequest` with the given required fields and every other one at its pydantic default.
    pub fn new(call_id: impl Into<String>, name: impl Into<String>, arguments: Object) -> Self {
        Self {
            message_id: new_message_id(),
            call_id: call_id.into(),
            name: name.into(),
            arguments,
        }
    }
}

/// Result of a tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/tool.call.result", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct ToolCallResult {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The tool call this belongs to.
    pub call_id: String,
    /// The tool's result.
    #[serde(default)]
    pub result: Option<Object>,
    /// What went wrong, when something did.
    #[serde(default)]
    pub error: Option<String>,
}

impl ToolCallResult {
    /// A `ToolCallResult` with the given required fields and every other one at its pydantic default.
    pub fn new(call_id: impl Into<String>) -> Self {
        Self {
            message_id: new_message_id(),
            call_id: call_id.into(),
            result: None,
            error: None,
        }
    }
}

/// Specification for a tool that can be called by the LLM.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ToolSpec {
    /// The kind.
    #[serde(default = "default_type")]
    pub r#type: String,
    /// The OpenAI-style function specification.
    pub function: Object,
}

impl ToolSpec {
    /// A `ToolSpec` with the given required fields and every other one at its pydantic default.
    pub fn new(function: Object) -> Self {
        Self {
            r#type: default_type(),
            function,
        }
    }
}

/// Registry of available tools published by MCP bridge.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "llm/tools/registry", qos = 1, retain)]
#[serde(deny_unknown_fields)]
pub struct ToolsRegistry {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// The tools available.
    pub tools: Vec<ToolSpec>,
}

impl ToolsRegistry {
    /// A `ToolsRegistry` with the given required fields and every other one at its pydantic default.
    pub fn new(tools: Vec<ToolSpec>) -> Self {
        Self {
            message_id: new_message_id(),
            tools,
        }
    }
}

fn default_stream() -> bool {
    true
}

fn default_type() -> String {
    "function".to_owned()
}
