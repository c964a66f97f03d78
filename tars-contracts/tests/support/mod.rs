//! What the schema tests share: the exported schemas, each model's Rust type, and
//! JSON values generated from a schema.

use std::path::PathBuf;

use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Map, Value};

/// The folder of the schemas exported from py-tars's pydantic models:
/// `TARS_PY_TARS_CONTRACTS`, or `../shared/py-tars-contracts` beside this checkout or
/// beside the local repository it was cloned from (as `scripts/audit.sh` finds the
/// advisory snapshot).
pub fn schema_dir() -> PathBuf {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut candidates: Vec<PathBuf> = std::env::var_os("TARS_PY_TARS_CONTRACTS")
        .map(PathBuf::from)
        .into_iter()
        .collect();
    candidates.push(workspace.join("../shared/py-tars-contracts"));
    let origin = std::process::Command::new("git")
        .args(["remote", "get-url", "origin"])
        .current_dir(&workspace)
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .filter(|url| !url.is_empty());
    if let Some(origin) = origin {
        candidates.push(PathBuf::from(origin).join("../shared/py-tars-contracts"));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("README.md").is_file())
        .unwrap_or_else(|| {
            panic!(
                "the py-tars schemas are not in ../shared/py-tars-contracts (beside this \
                 checkout or the repository it was cloned from); set TARS_PY_TARS_CONTRACTS \
                 to the folder"
            )
        })
}

/// The schema file of one py-tars module.
pub fn module_schema(module: &str) -> Value {
    let path = schema_dir().join(format!("{module}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

/// Decodes `value` as `T` and encodes it again: what a Rust service would publish after
/// receiving it.
fn round_trip<T: Serialize + DeserializeOwned>(value: &Value) -> Result<Value, String> {
    let decoded: T = serde_json::from_value(value.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&decoded).map_err(|e| e.to_string())
}

/// One pydantic model and its Rust type.
pub struct Contract {
    /// The py-tars module (`stt`, `llm`, ...).
    pub module: &'static str,
    /// The pydantic model's name.
    pub model: &'static str,
    /// Decodes a value as the Rust type and encodes it back.
    pub round_trip: fn(&Value) -> Result<Value, String>,
    /// A value built in Rust with the type's constructor (its defaults filled by Rust),
    /// encoded.
    pub built: fn() -> Value,
}

macro_rules! contracts {
    ($($module:ident :: $rust:ident = $model:literal => $built:expr),* $(,)?) => {
        /// Every pydantic model of the py-tars contracts with its Rust type.
        pub const CONTRACTS: &[Contract] = &[$(Contract {
            module: stringify!($module),
            model: $model,
            round_trip: round_trip::<tars_contracts::$module::$rust>,
            built: || {
                use tars_contracts::*;
                serde_json::to_value($built).expect("encodes")
            },
        }),*];
    };
}

contracts! {
    camera::BaseCameraMessage = "BaseCameraMessage" => camera::BaseCameraMessage::new(),
    camera::CameraCaptureRequest = "CameraCaptureRequest" => camera::CameraCaptureRequest::new(),
    camera::CameraFrame = "CameraFrame" => camera::CameraFrame::new("/9j/4AAQ", 640, 480, 0),
    camera::CameraImageResponse = "CameraImageResponse" => camera::CameraImageResponse::new("r1", "iVBORw0", camera::ImageFormat::Png, 320, 240, 7),
    camera::CameraStatusUpdate = "CameraStatusUpdate" => camera::CameraStatusUpdate::new(camera::CameraStatusEvent::CaptureFailed),
    health::HealthPing = "HealthPing" => health::HealthPing::new(true),
    llm::BaseLlmMessage = "BaseLLMMessage" => llm::BaseLlmMessage::new(),
    llm::ConversationMessage = "ConversationMessage" => llm::ConversationMessage::new(llm::Role::Assistant, "hi"),
    llm::LlmCancel = "LLMCancel" => llm::LlmCancel::new("rt-1"),
    llm::LlmRequest = "LLMRequest" => llm::LlmRequest::new("rt-1", "what time is it"),
    llm::LlmResponse = "LLMResponse" => llm::LlmResponse::new("rt-1"),
    llm::LlmStreamDelta = "LLMStreamDelta" => llm::LlmStreamDelta::new("rt-1"),
    llm::ToolCallRequest = "ToolCallRequest" => llm::ToolCallRequest::new("c1", "mcp:fs:read", tars_contracts::Object::new()),
    llm::ToolCallResult = "ToolCallResult" => llm::ToolCallResult::new("c1"),
    llm::ToolSpec = "ToolSpec" => llm::ToolSpec::new(tars_contracts::Object::new()),
    llm::ToolsRegistry = "ToolsRegistry" => llm::ToolsRegistry::new(vec![llm::ToolSpec::new(tars_contracts::Object::new())]),
    mcp::ToolCallRequest = "ToolCallRequest" => mcp::ToolCallRequest::new("c1", "mcp:fs:read"),
    mcp::ToolCallResult = "ToolCallResult" => mcp::ToolCallResult::new("c1"),
    mcp::ToolSpec = "ToolSpec" => mcp::ToolSpec::new(tars_contracts::Object::new()),
    mcp::ToolsRegistry = "ToolsRegistry" => mcp::ToolsRegistry::new(),
    memory::BaseMemoryMessage = "BaseMemoryMessage" => memory::BaseMemoryMessage::new(),
    memory::CharacterGetRequest = "CharacterGetRequest" => memory::CharacterGetRequest::new(),
    memory::CharacterResetTraits = "CharacterResetTraits" => memory::CharacterResetTraits::new(),
    memory::CharacterSection = "CharacterSection" => memory::CharacterSection::new("traits"),
    memory::CharacterSnapshot = "CharacterSnapshot" => memory::CharacterSnapshot::new("TARS"),
    memory::CharacterTraitUpdate = "CharacterTraitUpdate" => memory::CharacterTraitUpdate::new("humor", 75),
    memory::MemoryQuery = "MemoryQuery" => memory::MemoryQuery::new("robots"),
    memory::MemoryResult = "MemoryResult" => memory::MemoryResult::new(tars_contracts::Document::Text("a note".into())),
    memory::MemoryResults = "MemoryResults" => memory::MemoryResults::new("robots", 5),
    movement::BaseMovementMessage = "BaseMovementMessage" => movement::BaseMovementMessage::new(),
    movement::EmergencyStopCommand = "EmergencyStopCommand" => movement::EmergencyStopCommand::new(),
    movement::MoveArmParams = "MoveArmParams" => movement::MoveArmParams::new(),
    movement::MoveLegsParams = "MoveLegsParams" => movement::MoveLegsParams::new(50.0, 1.0, 100.0),
    movement::MovementCommand = "MovementCommand" => movement::MovementCommand::new(movement::MovementAction::StepForward),
    movement::MovementFrame = "MovementFrame" => movement::MovementFrame::new("cmd1", 0, 5, 400, 0, [(0, 1500), (1, 1500)].into()),
    movement::MovementState = "MovementState" => movement::MovementState::new("cmd1", movement::MovementStateEvent::FrameSent),
    movement::MovementStatusUpdate = "MovementStatusUpdate" => movement::MovementStatusUpdate::new(movement::MovementStatusEvent::CommandStarted),
    movement::TestMovementRequest = "TestMovementRequest" => movement::TestMovementRequest::new(movement::TestMovementCommand::Wave),
    stt::AudioFftData = "AudioFFTData" => stt::AudioFftData::new(vec![0.5, 1.0], 16000),
    stt::FinalTranscript = "FinalTranscript" => stt::FinalTranscript::new("hey tars"),
    stt::PartialTranscript = "PartialTranscript" => stt::PartialTranscript::new("hey"),
    tts::TtsControlCommand = "TtsControlCommand" => tts::TtsControlCommand::new(tts::TtsAction::Pause),
    tts::TtsSay = "TtsSay" => tts::TtsSay::new("Hello"),
    tts::TtsStatus = "TtsStatus" => tts::TtsStatus::new(tts::TtsStatusEvent::SpeakingEnd),
    wake::WakeEvent = "WakeEvent" => wake::WakeEvent::new("wake"),
    wake::WakeMicCommand = "WakeMicCommand" => wake::WakeMicCommand::new(wake::MicAction::Mute),
}

/// The py-tars modules with models.
pub const MODULES: &[&str] = &[
    "camera", "health", "llm", "mcp", "memory", "movement", "stt", "tts", "wake",
];

impl Contract {
    /// The model's JSON Schema, as exported.
    pub fn schema(&self) -> Value {
        let module = module_schema(self.module);
        module["models"][self.model].clone()
    }

    /// `module.Model`, for messages.
    pub fn name(&self) -> String {
        format!("{}.{}", self.module, self.model)
    }
}

/// A node of `schema` with its `$ref` followed (to `root`'s `$defs`).
fn resolve<'a>(node: &'a Value, root: &'a Value) -> &'a Value {
    match node.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference.rsplit('/').next().unwrap_or_default();
            &root["$defs"][name]
        }
        None => node,
    }
}

/// A short text.
fn text() -> BoxedStrategy<Value> {
    "[a-zA-Z0-9 ._-]{0,12}".prop_map(Value::from).boxed()
}

/// A value of any JSON kind, shallow: what a pydantic `Any` or `dict[str, Any]` holds.
fn anything() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-1000i64..1000).prop_map(Value::from),
        (-1e6f64..1e6).prop_map(Value::from),
        text(),
        prop::collection::vec(text(), 0..3).prop_map(Value::from),
    ]
    .boxed()
}

fn number(node: &Value) -> BoxedStrategy<Value> {
    let min = node.get("minimum").and_then(Value::as_f64).unwrap_or(-1e6);
    let max = node.get("maximum").and_then(Value::as_f64).unwrap_or(1e6);
    prop_oneof![Just(min), Just(max), min..=max]
        .prop_map(Value::from)
        .boxed()
}

fn integer(node: &Value) -> BoxedStrategy<Value> {
    let min = node
        .get("minimum")
        .and_then(Value::as_i64)
        .unwrap_or(-1_000_000);
    let max = node
        .get("maximum")
        .and_then(Value::as_i64)
        .unwrap_or(1_000_000);
    prop_oneof![Just(min), Just(max), min..=max]
        .prop_map(Value::from)
        .boxed()
}

/// An object of the model `node`: each required property, and each optional one
/// present or absent.
fn object(node: &Value, root: &Value) -> BoxedStrategy<Value> {
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return match node.get("additionalProperties") {
            // `dict[int, int]`: pydantic takes only keys that read as integers.
            Some(values @ Value::Object(_)) => prop::collection::btree_map(
                (0i64..64).prop_map(|k| k.to_string()),
                values_of(values, root),
                0..4,
            )
            .prop_map(|map| Value::Object(map.into_iter().collect()))
            .boxed(),
            _ => prop::collection::btree_map("[a-z_]{1,8}", anything(), 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect()))
                .boxed(),
        };
    };
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    for (name, property) in properties {
        let value = values_of(property, root);
        let name = name.clone();
        if required.contains(&name.as_str()) {
            fields.push(value.prop_map(move |v| Some((name.clone(), v))).boxed());
        } else {
            fields.push(
                prop::option::of(value)
                    .prop_map(move |v| v.map(|v| (name.clone(), v)))
                    .boxed(),
            );
        }
    }
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

/// Values that `node` (a part of the schema `root`) accepts.
pub fn values_of(node: &Value, root: &Value) -> BoxedStrategy<Value> {
    let node = resolve(node, root);
    if let Some(options) = node.get("anyOf").and_then(Value::as_array) {
        let options: Vec<BoxedStrategy<Value>> =
            options.iter().map(|o| values_of(o, root)).collect();
        return proptest::strategy::Union::new(options).boxed();
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return prop::sample::select(values.clone()).boxed();
    }
    match node.get("type").and_then(Value::as_str) {
        Some("string") => text(),
        Some("number") => number(node),
        Some("integer") => integer(node),
        Some("boolean") => any::<bool>().prop_map(Value::from).boxed(),
        Some("null") => Just(Value::Null).boxed(),
        Some("array") => prop::collection::vec(values_of(&node["items"], root), 0..3)
            .prop_map(Value::from)
            .boxed(),
        Some("object") => object(node, root),
        None if node.as_object().is_some_and(Map::is_empty) => anything(),
        other => panic!("the schema generator does not know {other:?} in {node}"),
    }
}

/// A value that breaks the model in one place, or that the model still accepts: a
/// property dropped, one added, or one replaced by a value of another kind.
pub fn mutations_of(valid: Value) -> BoxedStrategy<Value> {
    let keys: Vec<String> = valid
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    let strange = prop_oneof![
        Just(Value::Null),
        Just(json!(true)),
        Just(json!(7)),
        Just(json!(1.5)),
        Just(json!(-3)),
        Just(json!(1000)),
        Just(json!("not-a-literal")),
        Just(json!([])),
        Just(json!({})),
        Just(json!({"k": 1})),
    ];
    let original = valid.clone();
    let dropped = valid.clone();
    let added = valid.clone();
    let mut choices: Vec<BoxedStrategy<Value>> = vec![(strange.clone())
        .prop_map(move |v| {
            let mut value = added.clone();
            value["unknown_field"] = v;
            value
        })
        .boxed()];
    if !keys.is_empty() {
        let keys_dropped = keys.clone();
        choices.push(
            prop::sample::select(keys_dropped)
                .prop_map(move |key| {
                    let mut value = dropped.clone();
                    value.as_object_mut().map(|o| o.remove(&key));
                    value
                })
                .boxed(),
        );
        choices.push(
            (prop::sample::select(keys), strange)
                .prop_map(move |(key, v)| {
                    let mut value = original.clone();
                    value[key.as_str()] = v;
                    value
                })
                .boxed(),
        );
    }
    proptest::strategy::Union::new(choices).boxed()
}
