//! `tars tail`: live messages, one line each, like the demo's trace; also the
//! dashboard's message feed.

use serde::Serialize;
use serde_json::Value;
use tars::Message;

use crate::bus::Broker;
use crate::Failure;

/// The longest payload text a human line shows.
const MAX_SHOWN: usize = 2_000;

/// One received message, described.
#[derive(Debug, Clone, Serialize)]
pub struct MessageView {
    pub topic: String,
    /// `envelope`, `heartbeat` or `raw` (not an envelope).
    pub kind: &'static str,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub event_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The envelope's data, the heartbeat, or the raw payload as text.
    pub data: Value,
    pub qos: u8,
    pub retain: bool,
    /// When it was received, in seconds since the Unix epoch.
    pub received_at: f64,
}

impl MessageView {
    /// Describes a message: an envelope with its fields, else the payload as it is.
    pub fn of(message: &Message) -> Self {
        let mut view = MessageView {
            topic: message.topic().to_owned(),
            kind: "raw",
            event_type: None,
            id: None,
            source: None,
            data: Value::Null,
            qos: message.qos() as u8,
            retain: message.retain(),
            received_at: tars::now_ts(),
        };
        match message.envelope::<Value>() {
            Ok(envelope) => {
                view.kind = "envelope";
                view.event_type = Some(envelope.event_type);
                view.id = Some(envelope.id);
                view.source = Some(envelope.source);
                view.data = envelope.data;
            }
            Err(_) => {
                let text = String::from_utf8_lossy(message.payload());
                view.data = match serde_json::from_str::<Value>(&text) {
                    Ok(json) if message.topic().starts_with("system/keepalive/") => {
                        view.kind = "heartbeat";
                        json
                    }
                    _ => Value::String(text.into_owned()),
                };
            }
        }
        view
    }

    /// The human line: topic, type, short id, source, data.
    pub fn line(&self) -> String {
        let data = match &self.data {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let data = shorten(&data);
        match (&self.event_type, &self.id) {
            (Some(event_type), Some(id)) => {
                let short_id = id.get(..8).unwrap_or(id);
                format!(
                    "{:<32} {:<16} id={short_id:<8} from {:<14} {data}",
                    self.topic,
                    event_type,
                    self.source.as_deref().unwrap_or("-")
                )
            }
            _ => format!("{:<32} {data}", self.topic),
        }
    }
}

fn shorten(text: &str) -> String {
    if text.len() <= MAX_SHOWN {
        return text.to_owned();
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &text[..end], text.len())
}

pub async fn run(
    broker: &Broker,
    filters: &[String],
    json: bool,
    count: Option<u64>,
) -> Result<(), Failure> {
    if count == Some(0) {
        return Err(Failure::Input("--count must be at least 1".into()));
    }
    let filters: Vec<&str> = filters.iter().map(String::as_str).collect();
    let (client, mut received) = broker.subscribe(&filters).await?;
    let mut shown = 0;
    loop {
        let message = tokio::select! {
            message = received.recv() => message,
            _ = tokio::signal::ctrl_c() => None,
        };
        let Some(message) = message else { break };
        let view = MessageView::of(&message);
        if json {
            println!("{}", serde_json::to_string(&view).unwrap_or_default());
        } else {
            println!("{}", view.line());
        }
        shown += 1;
        if count.is_some_and(|n| shown >= n) {
            break;
        }
    }
    let _ = client.disconnect().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_payloads_are_cut_on_a_character_boundary() {
        let text = "é".repeat(MAX_SHOWN);
        let short = shorten(&text);
        assert!(short.ends_with(&format!("({} bytes)", text.len())));
        assert!(short.len() < text.len());
    }
}
