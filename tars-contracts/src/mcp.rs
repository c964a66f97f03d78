//! The messages of py-tars's `tars.contracts.v1.mcp`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Object;

/// `EVENT_TYPE_TOOLS_REGISTRY` of py-tars.
pub const EVENT_TYPE_TOOLS_REGISTRY: &str = "llm/tools/registry";
/// `EVENT_TYPE_TOOL_CALL_REQUEST` of py-tars.
pub const EVENT_TYPE_TOOL_CALL_REQUEST: &str = "llm/tool.call.request";
/// `EVENT_TYPE_TOOL_CALL_RESULT` of py-tars.
pub const EVENT_TYPE_TOOL_CALL_RESULT: &str = "llm/tool.call.result";

/// Request to execute a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallRequest {
    /// Unique identifier for this tool call
    pub call_id: String,
    /// Tool name in format 'mcp:server:tool'
    pub name: String,
    /// Tool arguments
    #[serde(default)]
    pub arguments: Object,
}

impl ToolCallRequest {
    /// A `ToolCallRequest` with the given required fields and every other one at its pydantic default.
    pub fn new(call_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            call_id: call_id.into(),
            name: name.into(),
            arguments: Default::default(),
        }
    }
}

/// Result of a tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolCallResult {
    /// Unique identifier for this tool call
    pub call_id: String,
    /// Tool execution result
    #[serde(default)]
    pub result: Option<Value>,
    /// Error message if execution failed
    #[serde(default)]
    pub error_msg: Option<String>,
}

impl ToolCallResult {
    /// A `ToolCallResult` with the given required fields and every other one at its pydantic default.
    pub fn new(call_id: impl Into<String>) -> Self {
        Self {
            call_id: call_id.into(),
            result: None,
            error_msg: None,
        }
    }
}

/// Specification for a tool function.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The kind.
    #[serde(default = "default_type")]
    pub r#type: String,
    /// OpenAI-style function specification
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

/// Registry of available tools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolsRegistry {
    /// List of available tools
    #[serde(default)]
    pub tools: Vec<ToolSpec>,
}

impl ToolsRegistry {
    /// A `ToolsRegistry` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            tools: Default::default(),
        }
    }
}

impl Default for ToolsRegistry {
    fn default() -> Self {
        Self::new()
    }
}

fn default_type() -> String {
    "function".to_owned()
}
