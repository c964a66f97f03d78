//! The wire contract with the Python stack and the fleet's tools: the envelope, MQTT 5
//! properties, health, the service manifest and its AsyncAPI description.

pub mod asyncapi;
pub(crate) mod envelope;
pub mod health;
pub mod manifest;
pub(crate) mod properties;
