//! `tars pub` and `tars request`: one event in a valid envelope, and a request with its
//! correlated reply.

use std::time::Duration;

use clap::Args;
use serde_json::Value;
use tars::{DynamicRequest, PublishOptions, QoS};

use crate::bus::Broker;
use crate::Failure;

/// The event to send.
#[derive(Debug, Args)]
pub struct EventArgs {
    /// The envelope's `type`, e.g. stt.final.
    #[arg(long = "type", value_name = "T")]
    event_type: String,
    /// The envelope's `data`: a JSON object, e.g. '{"text": "hello"}'.
    #[arg(long, value_name = "JSON")]
    data: String,
    /// The envelope's id (a reply carries its request's); default: a new uuid4.
    #[arg(long, value_name = "ID")]
    id: Option<String>,
    /// The QoS to publish with.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    qos: u8,
}

/// An event whose input was checked.
#[derive(Debug)]
pub struct Event {
    event_type: String,
    data: Value,
    id: Option<String>,
    qos: QoS,
}

impl EventArgs {
    /// Checks the type, the JSON and the id; an error says what is wrong.
    pub fn validate(self) -> Result<Event, Failure> {
        let event_type = self.event_type.trim().to_owned();
        if event_type.is_empty() {
            return Err(Failure::Input("--type must not be empty".into()));
        }
        let data: Value = serde_json::from_str(&self.data)
            .map_err(|error| Failure::Input(format!("--data is not valid JSON: {error}")))?;
        if !data.is_object() {
            return Err(Failure::Input(format!(
                "--data must be a JSON object (an event's fields), not {}",
                kind(&data)
            )));
        }
        if let Some(id) = &self.id {
            if id.trim().is_empty() {
                return Err(Failure::Input("--id must not be empty".into()));
            }
        }
        let qos = match self.qos {
            0 => QoS::AtMostOnce,
            1 => QoS::AtLeastOnce,
            _ => QoS::ExactlyOnce,
        };
        Ok(Event {
            event_type,
            data,
            id: self.id,
            qos,
        })
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_topic(topic: &str) -> Result<(), Failure> {
    tars::topic::validate_topic_name(topic)
        .map_err(|error| Failure::Input(format!("{topic:?} is not a topic to publish on: {error}")))
}

/// `tars pub`: publishes and prints the envelope id.
pub async fn publish(
    broker: &Broker,
    topic: &str,
    event: &Event,
    retain: bool,
) -> Result<(), Failure> {
    check_topic(topic)?;
    let client = broker.connect().await?;
    let mut options = PublishOptions::new().qos(event.qos).retain(retain);
    if let Some(id) = &event.id {
        options = options.correlation_id(id.clone());
    }
    let published = client
        .publish_event(topic, &event.event_type, &event.data, options)
        .await;
    // Waits for the broker's acknowledgement of a QoS 1/2 publish.
    let _ = client.shutdown().await;
    let id = published.map_err(|error| Failure::Runtime(format!("publishing failed: {error}")))?;
    println!("published {} on {topic} id={id}", event.event_type);
    Ok(())
}

/// What `tars request` sends and waits for.
#[derive(Debug)]
pub struct Request<'a> {
    pub topic: &'a str,
    pub event: &'a Event,
    pub reply_topic: &'a str,
    pub reply_type: Option<&'a str>,
    pub timeout: Duration,
}

/// `tars request`: prints the reply's data (or the whole envelope with `--json`).
pub async fn request(broker: &Broker, request: Request<'_>, json: bool) -> Result<(), Failure> {
    check_topic(request.topic)?;
    tars::topic::validate_topic_name(request.reply_topic).map_err(|error| {
        Failure::Input(format!(
            "--reply-topic {:?} is not a topic: {error}",
            request.reply_topic
        ))
    })?;
    if request.event.id.is_some() {
        return Err(Failure::Input(
            "--id is not taken by `request`: the request's id is new, and the reply carries it"
                .into(),
        ));
    }
    let client = broker.connect().await?;
    let outcome = client
        .request_dynamic(
            DynamicRequest {
                topic: request.topic,
                event_type: &request.event.event_type,
                data: &request.event.data,
                qos: request.event.qos,
                reply_topic: request.reply_topic,
                reply_type: request.reply_type,
            },
            request.timeout,
        )
        .await;
    let _ = client.disconnect().await;
    match outcome {
        Ok(reply) if json => {
            println!(
                "{}",
                serde_json::to_string_pretty(&reply).unwrap_or_default()
            );
            Ok(())
        }
        Ok(reply) => {
            println!("{} from {}: {}", reply.event_type, reply.source, reply.data);
            Ok(())
        }
        Err(tars::Error::Timeout { after, .. }) => Err(Failure::Runtime(format!(
            "no reply on {} within {after:?} (is a service answering {}?)",
            request.reply_topic, request.topic
        ))),
        Err(error) => Err(Failure::Runtime(format!("the request failed: {error}"))),
    }
}
