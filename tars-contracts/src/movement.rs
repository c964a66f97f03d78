//! The messages of py-tars's `tars.contracts.v1.movement`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{bounds, new_message_id, now, Object};

/// `TOPIC_HEALTH_MOVEMENT_CONTROLLER` of py-tars.
pub const TOPIC_HEALTH_MOVEMENT_CONTROLLER: &str = "system/health/movement-controller";
/// `TOPIC_HEALTH_MOVEMENT_SERVICE` of py-tars.
pub const TOPIC_HEALTH_MOVEMENT_SERVICE: &str = "system/health/movement";
/// `TOPIC_MOVEMENT_COMMAND` of py-tars.
pub const TOPIC_MOVEMENT_COMMAND: &str = "movement/command";
/// `TOPIC_MOVEMENT_FRAME` of py-tars.
pub const TOPIC_MOVEMENT_FRAME: &str = "movement/frame";
/// `TOPIC_MOVEMENT_STATE` of py-tars.
pub const TOPIC_MOVEMENT_STATE: &str = "movement/state";
/// `TOPIC_MOVEMENT_STATUS` of py-tars.
pub const TOPIC_MOVEMENT_STATUS: &str = "movement/status";
/// `TOPIC_MOVEMENT_STOP` of py-tars.
pub const TOPIC_MOVEMENT_STOP: &str = "movement/stop";
/// `TOPIC_MOVEMENT_TEST` of py-tars.
pub const TOPIC_MOVEMENT_TEST: &str = "movement/test";

/// Frame-based movement actions (movement-service).
///
/// These commands are used by the frame-based architecture where the host
/// calculates servo frame sequences and publishes them to ESP32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementAction {
    /// `reset`.
    Reset,
    /// `disable`.
    Disable,
    /// `step_forward`.
    StepForward,
    /// `step_backward`.
    StepBackward,
    /// `turn_left`.
    TurnLeft,
    /// `turn_right`.
    TurnRight,
    /// `balance`.
    Balance,
    /// `laugh`.
    Laugh,
    /// `swing_legs`.
    SwingLegs,
    /// `pose`.
    Pose,
    /// `bow`.
    Bow,
}

/// State events for frame-based architecture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementStateEvent {
    /// `started`.
    Started,
    /// `frame_sent`.
    FrameSent,
    /// `completed`.
    Completed,
    /// `failed`.
    Failed,
    /// `cancelled`.
    Cancelled,
}

/// Status events published by ESP32 tars_controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MovementStatusEvent {
    /// `connected`.
    Connected,
    /// `disconnected`.
    Disconnected,
    /// `command_started`.
    CommandStarted,
    /// `command_completed`.
    CommandCompleted,
    /// `command_failed`.
    CommandFailed,
    /// `emergency_stop`.
    EmergencyStop,
    /// `stop_cleared`.
    StopCleared,
    /// `queue_full`.
    QueueFull,
    /// `battery_low`.
    BatteryLow,
}

/// Command-based movement commands (ESP32 tars_controller).
///
/// These commands are sent to ESP32 which autonomously executes
/// the complete movement sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestMovementCommand {
    /// `reset`.
    Reset,
    /// `step_forward`.
    StepForward,
    /// `step_backward`.
    StepBackward,
    /// `turn_left`.
    TurnLeft,
    /// `turn_right`.
    TurnRight,
    /// `wave`.
    Wave,
    /// `laugh`.
    Laugh,
    /// `swing_legs`.
    SwingLegs,
    /// `pezz`.
    Pezz,
    /// `pezz_dispenser`.
    PezzDispenser,
    /// `now`.
    Now,
    /// `balance`.
    Balance,
    /// `mic_drop`.
    MicDrop,
    /// `monster`.
    Monster,
    /// `pose`.
    Pose,
    /// `bow`.
    Bow,
    /// `disable`.
    Disable,
    /// `stop`.
    Stop,
    /// `move_legs`.
    MoveLegs,
    /// `move_arm`.
    MoveArm,
}

/// Base for all movement messages.
///
/// Provides common fields for correlation and tracing:
/// - message_id: Unique identifier for this message
/// - timestamp: Unix timestamp when message was created
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseMovementMessage {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
}

impl BaseMovementMessage {
    /// A `BaseMovementMessage` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
        }
    }
}

impl Default for BaseMovementMessage {
    fn default() -> Self {
        Self::new()
    }
}

/// Emergency stop command.
///
/// Published to: movement/stop
/// Consumed by: ESP32 tars_controller, movement-service
///
/// Immediately stops all movement and clears queues.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "movement/stop", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct EmergencyStopCommand {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

impl EmergencyStopCommand {
    /// A `EmergencyStopCommand` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            reason: None,
        }
    }
}

impl Default for EmergencyStopCommand {
    fn default() -> Self {
        Self::new()
    }
}

/// Parameters for manual move_arm command.
///
/// All values are percentages (1-100) representing servo positions.
/// At least one arm joint must be specified.
///
/// Right arm (port side):
/// - port_main: Shoulder joint
/// - port_forearm: Elbow joint
/// - port_hand: Wrist/hand joint
///
/// Left arm (starboard side):
/// - star_main: Shoulder joint
/// - star_forearm: Elbow joint
/// - star_hand: Wrist/hand joint
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveArmParams {
    /// Right shoulder, 1 to 100.
    #[serde(default, deserialize_with = "bounds::opt_percent")]
    pub port_main: Option<f64>,
    /// Right elbow, 1 to 100.
    #[serde(default, deserialize_with = "bounds::opt_percent")]
    pub port_forearm: Option<f64>,
    /// Right wrist and hand, 1 to 100.
    #[serde(default, deserialize_with = "bounds::opt_percent")]
    pub port_hand: Option<f64>,
    /// Left shoulder, 1 to 100.
    #[serde(default, deserialize_with = "bounds::opt_percent")]
    pub star_main: Option<f64>,
    /// Left elbow, 1 to 100.
    #[serde(default, deserialize_with = "bounds::opt_percent")]
    pub star_forearm: Option<f64>,
    /// Left wrist and hand, 1 to 100.
    #[serde(default, deserialize_with = "bounds::opt_percent")]
    pub star_hand: Option<f64>,
}

impl MoveArmParams {
    /// A `MoveArmParams` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            port_main: None,
            port_forearm: None,
            port_hand: None,
            star_main: None,
            star_forearm: None,
            star_hand: None,
        }
    }
}

impl Default for MoveArmParams {
    fn default() -> Self {
        Self::new()
    }
}

/// Parameters for manual move_legs command.
///
/// All values are percentages (1-100) representing servo positions:
/// - height_percent: 1=down, 100=up
/// - left_percent: 1=back, 100=forward
/// - right_percent: 1=back, 100=forward
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveLegsParams {
    /// 1 is down, 100 up.
    #[serde(deserialize_with = "bounds::percent")]
    pub height_percent: f64,
    /// 1 is back, 100 forward.
    #[serde(deserialize_with = "bounds::percent")]
    pub left_percent: f64,
    /// 1 is back, 100 forward.
    #[serde(deserialize_with = "bounds::percent")]
    pub right_percent: f64,
}

impl MoveLegsParams {
    /// A `MoveLegsParams` with the given required fields and every other one at its pydantic default.
    pub fn new(height_percent: f64, left_percent: f64, right_percent: f64) -> Self {
        Self {
            height_percent,
            left_percent,
            right_percent,
        }
    }
}

/// Command for frame-based movement architecture.
///
/// Published to: movement/command
/// Consumed by: movement-service
///
/// The service calculates frame sequences and publishes MovementFrame messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "movement/command", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct MovementCommand {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The id of the request or sequence it belongs to.
    #[serde(default = "new_message_id")]
    pub id: String,
    /// The command.
    pub command: MovementAction,
    /// Parameters of their own.
    #[serde(default)]
    pub params: Object,
}

impl MovementCommand {
    /// A `MovementCommand` with the given required fields and every other one at its pydantic default.
    pub fn new(command: MovementAction) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            id: new_message_id(),
            command,
            params: Default::default(),
        }
    }
}

/// Frame for frame-based movement architecture.
///
/// Published to: movement/frame
/// Consumed by: ESP32 (future frame-based firmware)
///
/// Contains pulse widths for servo channels calculated by movement-service.
/// Frames are sequenced (seq/total) and linked to a MovementCommand via id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "movement/frame", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct MovementFrame {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The id of the request or sequence it belongs to.
    pub id: String,
    /// The position in the sequence.
    pub seq: i64,
    /// How many frames the sequence has.
    pub total: i64,
    /// How long the move to this frame takes, in milliseconds.
    pub duration_ms: i64,
    /// How long to hold it, in milliseconds.
    pub hold_ms: i64,
    /// channel_num -> pulse_width_us
    pub channels: BTreeMap<i64, i64>,
    /// Whether to switch the servos off after this frame.
    #[serde(default)]
    pub disable_after: bool,
    /// Whether this is the last one.
    #[serde(default)]
    pub done: bool,
}

impl MovementFrame {
    /// A `MovementFrame` with the given required fields and every other one at its pydantic default.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: impl Into<String>,
        seq: i64,
        total: i64,
        duration_ms: i64,
        hold_ms: i64,
        channels: BTreeMap<i64, i64>,
    ) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            id: id.into(),
            seq,
            total,
            duration_ms,
            hold_ms,
            channels,
            disable_after: Default::default(),
            done: Default::default(),
        }
    }
}

/// State update for frame-based movement architecture.
///
/// Published to: movement/state
/// Consumed by: External services (UI, monitoring)
///
/// Reports progress of frame sequence execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "movement/state", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct MovementState {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The id of the request or sequence it belongs to.
    pub id: String,
    /// What happened.
    pub event: MovementStateEvent,
    /// The position in the sequence.
    #[serde(default)]
    pub seq: Option<i64>,
    /// More about it.
    #[serde(default)]
    pub detail: Option<String>,
}

impl MovementState {
    /// A `MovementState` with the given required fields and every other one at its pydantic default.
    pub fn new(id: impl Into<String>, event: MovementStateEvent) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            id: id.into(),
            event,
            seq: None,
            detail: None,
        }
    }
}

/// Status update from ESP32 controller.
///
/// Published to: movement/status
/// Consumed by: Router, UI, monitoring services
///
/// Reports execution status from ESP32 with correlation to original request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "movement/status", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct MovementStatusUpdate {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// What happened.
    pub event: MovementStatusEvent,
    /// The command.
    #[serde(default)]
    pub command: Option<String>,
    /// More about it.
    #[serde(default)]
    pub detail: Option<String>,
    /// The request this belongs to.
    #[serde(default)]
    pub request_id: Option<String>,
}

impl MovementStatusUpdate {
    /// A `MovementStatusUpdate` with the given required fields and every other one at its pydantic default.
    pub fn new(event: MovementStatusEvent) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            event,
            command: None,
            detail: None,
            request_id: None,
        }
    }
}

/// Command for command-based movement architecture.
///
/// Published to: movement/test
/// Consumed by: ESP32 tars_controller
///
/// ESP32 autonomously executes movement sequences. Speed controls
/// execution speed (0.1 = slow, 1.0 = normal).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "movement/test", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct TestMovementRequest {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The command.
    pub command: TestMovementCommand,
    /// How fast, from 0.1 (slow) to 1.0 (normal).
    #[serde(default = "default_speed", deserialize_with = "bounds::speed")]
    pub speed: f64,
    /// Parameters of their own.
    #[serde(default)]
    pub params: Object,
    /// The request this belongs to.
    #[serde(default)]
    pub request_id: Option<String>,
}

impl TestMovementRequest {
    /// A `TestMovementRequest` with the given required fields and every other one at its pydantic default.
    pub fn new(command: TestMovementCommand) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            command,
            speed: default_speed(),
            params: Default::default(),
            request_id: None,
        }
    }
}

fn default_speed() -> f64 {
    1.0
}
