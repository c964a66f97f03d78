//! An AsyncAPI 3.0 description of a service, built from what the macros registered: its
//! handlers (receive operations, on channels with the template parameters), the events
//! linked into it (messages), its replies, health and heartbeat (send operations).
//! A `#[tars::service]` binary prints it when run with `--asyncapi`.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::contract::manifest::{EventInfo, HandlerInfo, ServiceManifest};
use crate::topic::level_spans;

/// What the document says about the service itself.
#[derive(Debug, Clone)]
pub struct ServiceInfo {
    /// The service's name (its default client id).
    pub name: String,
    /// The service's version.
    pub version: String,
    /// The MQTT version it speaks (the server's `protocolVersion`).
    pub mqtt_version: crate::MqttVersion,
    /// The broker, when known (`MQTT_URL`); credentials are never written.
    pub broker: Option<crate::BrokerUrl>,
    /// The service-wide failure policy (`TARS_RETRIES`, ...), filling what each
    /// handler's own leaves out.
    pub failure_defaults: crate::FailurePolicy,
}

/// A name usable as an AsyncAPI id (`[A-Za-z0-9_-]`).
fn id(text: &str) -> String {
    let id: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    id.trim_matches('_')
        .to_owned()
        .chars()
        .take(120)
        .collect::<String>()
        .replace("__", "_")
}

/// The address and parameters of a channel: template segments become parameters named
/// after them; other `+` levels become `level{n}` parameters.
fn address(handler: &HandlerInfo) -> (String, Vec<String>) {
    let mut names = handler.segments.iter();
    let mut parameters = Vec::new();
    let levels: Vec<String> = level_spans(&handler.filter)
        .enumerate()
        .map(|(index, (_, level))| match level {
            "+" => {
                let name = names
                    .next()
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| format!("level{index}"));
                parameters.push(name.clone());
                format!("{{{name}}}")
            }
            other => other.to_owned(),
        })
        .collect();
    (levels.join("/"), parameters)
}

/// The JSON schema of an envelope whose `data` has `data` as schema.
fn envelope_schema(event_type: Option<&str>, data: Value) -> Value {
    let event_type = match event_type {
        Some(t) => json!({"type": "string", "const": t}),
        None => json!({"type": "string"}),
    };
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["id", "type", "ts", "source", "data"],
        "properties": {
            "id": {"type": "string", "pattern": "^[0-9a-f]{32}$", "description": "uuid4 hex; a reply carries its request's id"},
            "type": event_type,
            "ts": {"type": "number", "description": "seconds since the Unix epoch"},
            "source": {"type": "string"},
            "data": data,
        }
    })
}

/// The schema of an event's data: its own (feature `schemars`, subschemas inlined), else
/// any object.
fn data_schema(event: &EventInfo) -> Value {
    match event.schema.clone() {
        Some(Value::Object(mut schema)) => {
            schema.remove("$schema");
            Value::Object(schema)
        }
        _ => json!({"type": "object"}),
    }
}

fn event_message(event: &EventInfo) -> Value {
    json!({
        "name": event.event_type,
        "title": event.type_name,
        "contentType": "application/json",
                "payload": envelope_schema(Some(&event.event_type), data_schema(event)),
    })
}

/// The `tars.dead_letter` message.
fn dead_letter_message() -> Value {
    let data = json!({
        "type": "object",
        "required": ["topic", "handler", "error", "attempts", "first_failed_at", "last_failed_at"],
        "properties": {
            "topic": {"type": "string", "description": "where the message came from"},
            "handler": {"type": "string", "description": "the handler function's name"},
            "error": {"type": "string", "description": "the last error's text, or the panic message"},
            "attempts": {"type": "integer", "minimum": 1, "description": "attempts made, the first included"},
            "envelope": {"description": "the message as received, when it was JSON"},
            "payload_base64": {"type": "string", "description": "the payload in base64, when it was not JSON"},
            "first_failed_at": {"type": "number", "description": "seconds since the Unix epoch"},
            "last_failed_at": {"type": "number", "description": "seconds since the Unix epoch"},
        },
    });
    json!({
        "name": crate::DEAD_LETTER_TYPE,
        "title": "Dead letter",
        "summary": "A message a handler's failure policy gave up on",
        "contentType": "application/json",
        "payload": envelope_schema(Some(crate::DEAD_LETTER_TYPE), data),
    })
}

fn qos_binding(qos: u8, retain: bool) -> Value {
    json!({"mqtt": {"qos": qos, "retain": retain, "bindingVersion": "0.2.0"}})
}

#[derive(Default)]
struct Builder {
    channels: Map<String, Value>,
    operations: Map<String, Value>,
    messages: BTreeMap<String, Value>,
}

impl Builder {
    fn message(&mut self, event_type: &str, message: impl FnOnce() -> Value) -> String {
        let message_id = id(event_type);
        self.messages
            .entry(message_id.clone())
            .or_insert_with(message);
        message_id
    }

    fn channel(
        &mut self,
        channel_id: &str,
        address: &str,
        parameters: &[String],
        message_id: &str,
    ) {
        let channel = self
            .channels
            .entry(channel_id.to_owned())
            .or_insert_with(|| {
                let mut channel = json!({"address": address, "messages": {}});
                if !parameters.is_empty() {
                    let params: Map<String, Value> = parameters
                        .iter()
                        .map(|p| {
                            (
                                p.clone(),
                                json!({"description": format!("the `{p}` level of the topic")}),
                            )
                        })
                        .collect();
                    channel["parameters"] = Value::Object(params);
                }
                channel
            });
        channel["messages"][message_id] =
            json!({"$ref": format!("#/components/messages/{message_id}")});
    }

    fn operation(
        &mut self,
        operation_id: String,
        action: &str,
        channel_id: &str,
        message_id: &str,
        bindings: Value,
        summary: String,
    ) {
        self.operations.insert(
            operation_id,
            json!({
                "action": action,
                "channel": {"$ref": format!("#/channels/{channel_id}")},
                "messages": [{"$ref": format!("#/channels/{channel_id}/messages/{message_id}")}],
                "summary": summary,
                "bindings": bindings,
            }),
        );
    }
}

/// The broker as an AsyncAPI server: its host, the protocol of its URL and the MQTT
/// version spoken.
fn server(info: &ServiceInfo) -> Value {
    let (host, protocol, path) = match &info.broker {
        Some(url) => (
            format!("{}:{}", url.host, url.port),
            match url.transport {
                crate::Transport::Tcp => "mqtt",
                crate::Transport::Tls => "secure-mqtt",
                crate::Transport::Ws => "ws",
                crate::Transport::Wss => "wss",
            },
            url.path.clone(),
        ),
        None => ("localhost:1883".to_owned(), "mqtt", None),
    };
    let mut server = json!({
        "host": host,
        "protocol": protocol,
        "protocolVersion": info.mqtt_version.as_str(),
        "description": "the broker of MQTT_URL; MQTT_VERSION sets the protocol version",
    });
    if let Some(path) = path {
        server["pathname"] = json!(path);
    }
    server
}

/// The AsyncAPI 3.0 document of the handlers and events linked into this binary.
pub fn document(info: &ServiceInfo) -> Value {
    let manifest =
        ServiceManifest::from_registry_with(&info.name, &info.version, &info.failure_defaults);
    let mut b = Builder::default();
    b.service(&manifest, "");
    b.finish(
        json!({
            "title": info.name,
            "version": info.version,
            "description": "A tars-mqtt service. Every message but the heartbeat is an envelope {id, type, ts, source, data}.",
        }),
        server(info),
    )
}

/// One AsyncAPI 3.0 document for a fleet, merged from the services' manifests: every
/// service's operations (their ids prefixed with the service's name), on shared channels
/// and messages. `info` describes the broker they share.
pub fn fleet_document(info: &ServiceInfo, manifests: &[ServiceManifest]) -> Value {
    let mut b = Builder::default();
    for manifest in manifests {
        b.service(manifest, &format!("{}_", id(&manifest.name)));
    }
    let names: Vec<&str> = manifests.iter().map(|m| m.name.as_str()).collect();
    b.finish(
        json!({
            "title": info.name,
            "version": info.version,
            "description": format!(
                "The services on one MQTT bus, from their retained manifests: {}. Every message but the heartbeat is an envelope {{id, type, ts, source, data}}.",
                if names.is_empty() { "none found".to_owned() } else { names.join(", ") }
            ),
        }),
        server(info),
    )
}

impl Builder {
    /// Adds one service's operations; `prefix` keeps operation ids apart in a fleet.
    fn service(&mut self, manifest: &ServiceManifest, prefix: &str) {
        for handler in &manifest.handlers {
            let event = handler
                .event_type
                .as_deref()
                .and_then(|t| manifest.event(t));
            let message_id = match event {
                Some(event) => self.message(&event.event_type, || event_message(event)),
                None => self.message("envelope", || {
                    json!({
                        "name": "envelope",
                        "title": "Any envelope",
                        "contentType": "application/json",
                        "payload": envelope_schema(None, json!({"type": "object"})),
                    })
                }),
            };
            let (address, parameters) = address(handler);
            let channel_id = id(&address);
            self.channel(&channel_id, &address, &parameters, &message_id);
            let mut bindings = qos_binding(handler.qos, false);
            if let Some(group) = &handler.share {
                bindings["mqtt"]["x-share-group"] = json!(group);
            }
            let summary = format!("handled by `{}` ({})", handler.name, handler.subscription());
            let operation_id = format!("{prefix}receive_{}", id(&handler.name));
            self.operation(
                operation_id.clone(),
                "receive",
                &channel_id,
                &message_id,
                bindings,
                summary,
            );
            if let Some(policy) = &handler.failure {
                self.failure_policy(&operation_id, prefix, &handler.name, policy);
            }
            if let (Some(batch), Some(operation)) =
                (&handler.batch, self.operations.get_mut(&operation_id))
            {
                operation["x-tars-batch"] = json!({
                    "size": batch.size,
                    "windowMs": batch.window_ms,
                    "keyLevel": batch.key_level,
                });
            }

            let reply = handler
                .reply
                .as_ref()
                .and_then(|r| Some((&r.topic, manifest.event(&r.event_type)?)));
            if let Some((topic, event)) = reply {
                let message_id = self.message(&event.event_type, || event_message(event));
                let channel_id = id(topic);
                self.channel(&channel_id, topic, &[], &message_id);
                let summary = format!("the reply of `{}`, carrying the request's id", handler.name);
                self.operation(
                    format!("{prefix}reply_{}", id(&handler.name)),
                    "send",
                    &channel_id,
                    &message_id,
                    qos_binding(event.qos, event.retain),
                    summary,
                );
            }
        }

        // Replies to the service's own requests (`#[event(reply_to = ...)]`): received.
        for event in manifest
            .events
            .iter()
            .filter(|e| manifest.awaits_as_reply(e))
        {
            let message_id = self.message(&event.event_type, || event_message(event));
            let channel_id = id(&event.topic);
            self.channel(&channel_id, &event.topic, &[], &message_id);
            self.operation(
                format!("{prefix}await_{message_id}"),
                "receive",
                &channel_id,
                &message_id,
                qos_binding(event.qos, event.retain),
                format!(
                    "replies to the service's `{}` requests (`request()`)",
                    event.reply_to.as_deref().unwrap_or("")
                ),
            );
        }

        // Events linked in but received by no handler: the service publishes them.
        let replies: Vec<&str> = manifest
            .handlers
            .iter()
            .filter_map(|h| h.reply.as_ref().map(|r| r.event_type.as_str()))
            .collect();
        for sent in manifest.publishes() {
            if replies.contains(&sent.event_type.as_str()) {
                continue; // a reply, described above
            }
            let Some(event) = manifest.event(&sent.event_type) else {
                continue;
            };
            let message_id = self.message(&event.event_type, || event_message(event));
            let channel_id = id(&event.topic);
            self.channel(&channel_id, &event.topic, &[], &message_id);
            self.operation(
                format!("{prefix}send_{message_id}"),
                "send",
                &channel_id,
                &message_id,
                qos_binding(event.qos, event.retain),
                format!("`{}` events the service publishes", event.type_name),
            );
        }
    }

    /// A handler's failure policy: an `x-tars-failure-policy` on its receive operation,
    /// and the dead letters it sends.
    fn failure_policy(
        &mut self,
        operation_id: &str,
        prefix: &str,
        handler: &str,
        policy: &crate::EffectivePolicy,
    ) {
        if let Some(operation) = self.operations.get_mut(operation_id) {
            operation["x-tars-failure-policy"] = json!({
                "retries": policy.retries,
                "backoffMs": policy.backoff.as_millis() as u64,
                "maxBackoffMs": policy.max_backoff.as_millis() as u64,
                "deadLetter": policy.dead_letter,
            });
        }
        let Some(topic) = &policy.dead_letter else {
            return;
        };
        let message_id = self.message(crate::DEAD_LETTER_TYPE, dead_letter_message);
        let channel_id = id(topic);
        self.channel(&channel_id, topic, &[], &message_id);
        self.operation(
            format!("{prefix}dead_letter_{}", id(handler)),
            "send",
            &channel_id,
            &message_id,
            qos_binding(1, false),
            format!(
                "messages `{handler}` failed on, once every attempt failed (or at once when undecodable)"
            ),
        );
    }

    /// Health and heartbeat (every service has them), then the document.
    fn finish(mut self, info: Value, server: Value) -> Value {
        let b = &mut self;
        let health = b.message("health.status", || {
        json!({
            "name": "health.status",
            "contentType": "application/json",
            "payload": envelope_schema(Some("health.status"), json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["message_id", "ok", "timestamp"],
                "properties": {
                    "message_id": {"type": "string"},
                    "ok": {"type": "boolean"},
                    "event": {"type": "string", "description": "ready, reconnected, shutdown, lost, …"},
                    "err": {"type": "string"},
                    "timestamp": {"type": "number"},
                }
            })),
        })
    });
        let client = vec!["clientId".to_owned()];
        b.channel(
            "system_health",
            "system/health/{clientId}",
            &client,
            &health,
        );
        b.operation(
            "send_health".into(),
            "send",
            "system_health",
            &health,
            qos_binding(1, true),
            "retained health; `lost` is the last will".into(),
        );
        let heartbeat = b.message("heartbeat", || {
        json!({
            "name": "heartbeat",
            "contentType": "application/json",
            "payload": {
                "type": "object",
                "additionalProperties": false,
                "required": ["ok", "event", "timestamp"],
                "properties": {"ok": {"const": true}, "event": {"const": "heartbeat"}, "timestamp": {"type": "number"}},
            },
        })
    });
        b.channel(
            "system_keepalive",
            "system/keepalive/{clientId}",
            &client,
            &heartbeat,
        );
        b.operation(
            "send_heartbeat".into(),
            "send",
            "system_keepalive",
            &heartbeat,
            qos_binding(0, false),
            "periodic heartbeat".into(),
        );

        json!({
            "asyncapi": "3.0.0",
            "info": info,
            "defaultContentType": "application/json",
            "servers": {"broker": server},
            "channels": self.channels,
            "operations": self.operations,
            "components": {"messages": self.messages},
        })
    }
}
