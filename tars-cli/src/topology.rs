//! `tars graph` and the dashboard's graph: which service sends which events to which,
//! from the manifests. An edge goes from a service that publishes an event (a handler's
//! reply, or a linked event none of its handlers takes) to every service with a handler
//! whose filter matches its topic and that takes its type (or any type).

use std::fmt::Write;

use serde::Serialize;

use crate::fleet::Fleet;

/// A service on the graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Its client id.
    pub id: String,
    /// Whether it announced a manifest; a service without one (a Python service) has
    /// no known edges.
    pub manifest: bool,
    /// What it subscribes (share groups as `$share/…`).
    pub subscribes: Vec<String>,
    /// What it publishes: `type on topic`.
    pub publishes: Vec<String>,
}

/// Events flowing from one service to another.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub topic: String,
    pub event_type: String,
}

/// The fleet's topology.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

impl Graph {
    /// The topology of what the fleet announced.
    pub fn of(fleet: &Fleet) -> Self {
        let manifests = fleet.manifests();
        let mut graph = Graph::default();
        for client_id in fleet.client_ids() {
            let manifest = manifests.iter().find(|m| m.name == client_id);
            graph.nodes.push(Node {
                id: client_id.to_owned(),
                manifest: fleet.has_manifest(client_id),
                subscribes: manifest
                    .map(|m| m.handlers.iter().map(|h| h.subscription()).collect())
                    .unwrap_or_default(),
                publishes: manifest
                    .map(|m| {
                        m.publishes()
                            .into_iter()
                            .map(|p| format!("{} on {}", p.event_type, p.topic))
                            .collect()
                    })
                    .unwrap_or_default(),
            });
        }
        for sender in &manifests {
            for sent in sender.publishes() {
                for receiver in &manifests {
                    if receiver
                        .handlers
                        .iter()
                        .any(|h| h.takes(&sent.topic, &sent.event_type))
                    {
                        let edge = Edge {
                            from: sender.name.clone(),
                            to: receiver.name.clone(),
                            topic: sent.topic.clone(),
                            event_type: sent.event_type.clone(),
                        };
                        if !graph.edges.contains(&edge) {
                            graph.edges.push(edge);
                        }
                    }
                }
            }
        }
        graph
    }

    /// A Mermaid flowchart.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for (index, node) in self.nodes.iter().enumerate() {
            let shape = if node.manifest {
                ("[", "]")
            } else {
                ("([", "])")
            };
            let _ = writeln!(
                out,
                "  n{index}{}\"{}\"{}",
                shape.0,
                escape_mermaid(&node.id),
                shape.1
            );
        }
        for edge in &self.edges {
            let (Some(from), Some(to)) = (self.index(&edge.from), self.index(&edge.to)) else {
                continue;
            };
            let _ = writeln!(
                out,
                "  n{from} -->|\"{}<br/>{}\"| n{to}",
                escape_mermaid(&edge.event_type),
                escape_mermaid(&edge.topic)
            );
        }
        out
    }

    /// A Graphviz digraph.
    pub fn dot(&self) -> String {
        let mut out = String::from("digraph tars {\n  rankdir=LR;\n  node [shape=box];\n");
        for node in &self.nodes {
            let style = if node.manifest { "" } else { ", style=rounded" };
            let _ = writeln!(
                out,
                "  \"{}\" [label=\"{}\"{style}];",
                escape_dot(&node.id),
                escape_dot(&node.id)
            );
        }
        for edge in &self.edges {
            let _ = writeln!(
                out,
                "  \"{}\" -> \"{}\" [label=\"{}\\n{}\"];",
                escape_dot(&edge.from),
                escape_dot(&edge.to),
                escape_dot(&edge.event_type),
                escape_dot(&edge.topic)
            );
        }
        out.push_str("}\n");
        out
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.id == id)
    }
}

fn escape_mermaid(text: &str) -> String {
    text.replace('"', "#quot;")
}

fn escape_dot(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Instant;

    fn manifest(topic: &str, handlers: serde_json::Value, events: serde_json::Value) -> Vec<u8> {
        let _ = topic;
        json!({"id": "x", "type": "service.manifest", "ts": 1.0, "source": "s", "data": {
            "name": "n", "version": "1", "handlers": handlers, "event_types": [],
            "events": events, "started_at": 1.0}})
        .to_string()
        .into_bytes()
    }

    fn fleet() -> Fleet {
        let mut fleet = Fleet::default();
        let now = Instant::now();
        fleet.apply(
            "system/services/stt",
            &manifest("stt", json!([]), json!([
                {"type_name": "SttFinal", "topic": "stt/final", "event_type": "stt.final", "qos": 1}
            ])),
            now,
        );
        fleet.apply(
            "system/services/router",
            &manifest("router", json!([
                {"name": "understand", "filter": "stt/+", "qos": 1, "event_type": "stt.final",
                 "reply": {"topic": "llm/request", "event_type": "llm.request"}}
            ]), json!([
                {"type_name": "SttFinal", "topic": "stt/final", "event_type": "stt.final", "qos": 1},
                {"type_name": "LlmRequest", "topic": "llm/request", "event_type": "llm.request", "qos": 1}
            ])),
            now,
        );
        fleet
    }

    #[test]
    fn an_edge_joins_a_publisher_to_a_matching_handler() {
        let graph = Graph::of(&fleet());
        assert_eq!(
            graph.edges,
            [Edge {
                from: "stt".into(),
                to: "router".into(),
                topic: "stt/final".into(),
                event_type: "stt.final".into()
            }]
        );
        let router = graph.nodes.iter().find(|n| n.id == "router").unwrap();
        assert_eq!(router.publishes, ["llm.request on llm/request"]);
        assert!(graph.mermaid().contains("-->|\"stt.final<br/>stt/final\"|"));
        assert!(graph.dot().contains("\"stt\" -> \"router\""));
    }
}
