//! A client's metrics read back as values, for tests: [`MetricsSnapshot`].

use std::collections::BTreeMap;

/// Every sample of a client's metrics at one moment, as `/metrics` would serve them.
///
/// ```no_run
/// # async fn demo(service: tars::testing::TestService) {
/// let metrics = service.metrics();
/// assert_eq!(metrics.handler_messages("speak", "ok"), 1);
/// assert_eq!(metrics.value("tars_connected", &[]), Some(1.0));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSnapshot {
    samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

impl MetricsSnapshot {
    /// Reads a Prometheus text exposition (as [`Client::metrics_text`](crate::Client::metrics_text)
    /// renders it); lines it cannot read are skipped.
    pub fn parse(exposition: &str) -> Self {
        let samples = exposition
            .lines()
            .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
            .filter_map(parse_sample)
            .collect();
        Self { samples }
    }

    /// The value of the sample `name` with exactly these labels, if there is one.
    pub fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.samples
            .iter()
            .find(|s| {
                s.name == name
                    && s.labels.len() == labels.len()
                    && labels
                        .iter()
                        .all(|(k, v)| s.labels.get(*k).is_some_and(|x| x == v))
            })
            .map(|s| s.value)
    }

    /// `tars_handler_messages_total{handler, outcome}` (0 when absent). Outcomes: `ok`,
    /// `error`, `panic`, `undecodable`, `dropped`, `dead_lettered`.
    pub fn handler_messages(&self, handler: &str, outcome: &str) -> u64 {
        let value = self.value(
            "tars_handler_messages_total",
            &[("handler", handler), ("outcome", outcome)],
        );
        value.unwrap_or(0.0) as u64
    }

    /// `tars_handler_retries_total{handler}` (0 when absent).
    pub fn handler_retries(&self, handler: &str) -> u64 {
        let value = self.value("tars_handler_retries_total", &[("handler", handler)]);
        value.unwrap_or(0.0) as u64
    }

    /// `tars_published_messages_total{event_type}` (0 when absent).
    pub fn published(&self, event_type: &str) -> u64 {
        let value = self.value(
            "tars_published_messages_total",
            &[("event_type", event_type)],
        );
        value.unwrap_or(0.0) as u64
    }
}

/// `name{key="value",...} value` or `name value`.
fn parse_sample(line: &str) -> Option<Sample> {
    let (name, rest) = match line.find(['{', ' ']) {
        Some(at) => line.split_at(at),
        None => return None,
    };
    let (labels, value) = if let Some(inside) = rest.strip_prefix('{') {
        parse_labels(inside)?
    } else {
        (BTreeMap::new(), rest)
    };
    let value = match value.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        number => number.parse().ok()?,
    };
    Some(Sample {
        name: name.to_owned(),
        labels,
        value,
    })
}

/// The labels up to the closing `}`, and what follows it.
fn parse_labels(mut text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    loop {
        text = text.trim_start_matches(',');
        if let Some(rest) = text.strip_prefix('}') {
            return Some((labels, rest));
        }
        let (key, rest) = text.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = rest.char_indices();
        let end = loop {
            match chars.next()? {
                (i, '"') => break i,
                (_, '\\') => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    other => value.push(other),
                },
                (_, c) => value.push(c),
            }
        };
        labels.insert(key.to_owned(), value);
        text = &rest[end + 1..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_with_their_labels_and_escapes() {
        let text = "# HELP x a help\n# TYPE x counter\n\
                    x_total{handler=\"a\\\"b\",outcome=\"ok\"} 3\n\
                    tars_connected 1\n\
                    h_bucket{le=\"+Inf\"} 2\n";
        let snapshot = MetricsSnapshot::parse(text);
        assert_eq!(
            snapshot.value("x_total", &[("handler", "a\"b"), ("outcome", "ok")]),
            Some(3.0)
        );
        assert_eq!(snapshot.value("x_total", &[("handler", "a\"b")]), None);
        assert_eq!(snapshot.value("tars_connected", &[]), Some(1.0));
        assert_eq!(snapshot.value("h_bucket", &[("le", "+Inf")]), Some(2.0));
    }
}
