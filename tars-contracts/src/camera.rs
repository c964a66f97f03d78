//! The messages of py-tars's `tars.contracts.v1.camera`.

use serde::{Deserialize, Serialize};
use tars::Event;

use crate::{bounds, new_message_id, now};

/// `EVENT_TYPE_CAMERA_CAPTURE` of py-tars.
pub const EVENT_TYPE_CAMERA_CAPTURE: &str = "camera.capture";
/// `EVENT_TYPE_CAMERA_IMAGE` of py-tars.
pub const EVENT_TYPE_CAMERA_IMAGE: &str = "camera.image";
/// `TOPIC_CAMERA_CAPTURE` of py-tars.
pub const TOPIC_CAMERA_CAPTURE: &str = "camera/capture";
/// `TOPIC_CAMERA_FRAME` of py-tars.
pub const TOPIC_CAMERA_FRAME: &str = "camera/frame";
/// `TOPIC_CAMERA_IMAGE` of py-tars.
pub const TOPIC_CAMERA_IMAGE: &str = "camera/image";

/// The encoding of a captured image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// `jpeg`.
    Jpeg,
    /// `png`.
    Png,
    /// `raw`.
    Raw,
}

/// The encoding of a streamed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameFormat {
    /// `jpeg`.
    Jpeg,
    /// `png`.
    Png,
}

/// What a camera status update reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraStatusEvent {
    /// `camera_ready`.
    CameraReady,
    /// `camera_unavailable`.
    CameraUnavailable,
    /// `capture_started`.
    CaptureStarted,
    /// `capture_completed`.
    CaptureCompleted,
    /// `capture_failed`.
    CaptureFailed,
}

/// Base for all camera messages.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseCameraMessage {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
}

impl BaseCameraMessage {
    /// A `BaseCameraMessage` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
        }
    }
}

impl Default for BaseCameraMessage {
    fn default() -> Self {
        Self::new()
    }
}

/// Request to capture an image from the camera.
///
/// Published to: camera/capture
/// Consumed by: camera-service
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "camera/capture", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CameraCaptureRequest {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The request this belongs to.
    #[serde(default = "new_message_id")]
    pub request_id: String,
    /// The encoding.
    #[serde(default = "default_format")]
    pub format: ImageFormat,
    /// JPEG quality (1-100)
    #[serde(default = "default_quality", deserialize_with = "bounds::int_1_to_100")]
    pub quality: i64,
    /// Desired width in pixels
    #[serde(default, deserialize_with = "bounds::opt_positive_int")]
    pub width: Option<i64>,
    /// Desired height in pixels
    #[serde(default, deserialize_with = "bounds::opt_positive_int")]
    pub height: Option<i64>,
    /// Purpose of capture (for logging)
    #[serde(default)]
    pub purpose: Option<String>,
}

impl CameraCaptureRequest {
    /// A `CameraCaptureRequest` with the given required fields and every other one at its pydantic default.
    pub fn new() -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            request_id: new_message_id(),
            format: default_format(),
            quality: default_quality(),
            width: None,
            height: None,
            purpose: None,
        }
    }
}

impl Default for CameraCaptureRequest {
    fn default() -> Self {
        Self::new()
    }
}

/// Real-time camera frame for visualization/streaming.
///
/// Published to: camera/frame
/// Consumed by: UI services, visualization
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "camera/frame", qos = 0)]
#[serde(deny_unknown_fields)]
pub struct CameraFrame {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// Base64-encoded frame data
    pub frame_data: String,
    /// The encoding.
    #[serde(default = "default_frame_format")]
    pub format: FrameFormat,
    /// Frame width in pixels
    #[serde(deserialize_with = "bounds::positive_int")]
    pub width: i64,
    /// Frame height in pixels
    #[serde(deserialize_with = "bounds::positive_int")]
    pub height: i64,
    /// Sequential frame number
    #[serde(deserialize_with = "bounds::non_negative_int")]
    pub frame_number: i64,
    /// Frames per second
    #[serde(default, deserialize_with = "bounds::opt_non_negative")]
    pub fps: Option<f64>,
}

impl CameraFrame {
    /// A `CameraFrame` with the given required fields and every other one at its pydantic default.
    pub fn new(frame_data: impl Into<String>, width: i64, height: i64, frame_number: i64) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            frame_data: frame_data.into(),
            format: default_frame_format(),
            width,
            height,
            frame_number,
            fps: None,
        }
    }
}

/// Response containing captured image data.
///
/// Published to: camera/image
/// Consumed by: MCP bridge, other services
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Event)]
#[event(topic = "camera/image", qos = 1)]
#[serde(deny_unknown_fields)]
pub struct CameraImageResponse {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// The request this belongs to.
    pub request_id: String,
    /// Base64-encoded image data
    pub image_data: String,
    /// The encoding.
    pub format: ImageFormat,
    /// Actual width in pixels (0 if failed)
    #[serde(deserialize_with = "bounds::non_negative_int")]
    pub width: i64,
    /// Actual height in pixels (0 if failed)
    #[serde(deserialize_with = "bounds::non_negative_int")]
    pub height: i64,
    /// Size of image data in bytes
    #[serde(deserialize_with = "bounds::non_negative_int")]
    pub size_bytes: i64,
    /// Whether the capture succeeded.
    #[serde(default = "default_success")]
    pub success: bool,
    /// Error message if capture failed
    #[serde(default)]
    pub error: Option<String>,
    /// What the capture is for (for logging).
    #[serde(default)]
    pub purpose: Option<String>,
    /// When the image was captured, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub capture_timestamp: f64,
}

impl CameraImageResponse {
    /// A `CameraImageResponse` with the given required fields and every other one at its pydantic default.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        request_id: impl Into<String>,
        image_data: impl Into<String>,
        format: ImageFormat,
        width: i64,
        height: i64,
        size_bytes: i64,
    ) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            request_id: request_id.into(),
            image_data: image_data.into(),
            format,
            width,
            height,
            size_bytes,
            success: default_success(),
            error: None,
            purpose: None,
            capture_timestamp: now(),
        }
    }
}

/// Status update from camera service.
///
/// Published to: camera/status (if needed)
/// Consumed by: Monitoring services
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraStatusUpdate {
    /// This message's id: a fresh uuid4 in hex unless given (pydantic's default factory).
    #[serde(default = "new_message_id")]
    pub message_id: String,
    /// When it was made, in seconds since the Unix epoch.
    #[serde(default = "now")]
    pub timestamp: f64,
    /// What happened.
    pub event: CameraStatusEvent,
    /// The request this belongs to.
    #[serde(default)]
    pub request_id: Option<String>,
    /// More about it.
    #[serde(default)]
    pub detail: Option<String>,
}

impl CameraStatusUpdate {
    /// A `CameraStatusUpdate` with the given required fields and every other one at its pydantic default.
    pub fn new(event: CameraStatusEvent) -> Self {
        Self {
            message_id: new_message_id(),
            timestamp: now(),
            event,
            request_id: None,
            detail: None,
        }
    }
}

fn default_format() -> ImageFormat {
    ImageFormat::Jpeg
}

fn default_frame_format() -> FrameFormat {
    FrameFormat::Jpeg
}

fn default_quality() -> i64 {
    85
}

fn default_success() -> bool {
    true
}
