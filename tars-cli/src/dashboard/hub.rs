//! The dashboard's state: the fleet, message rates, and the updates pushed to every open
//! page. One task reads the bus (`#`), one ticks every second; pages subscribe to a
//! bounded broadcast (a page that falls behind skips updates, it never slows the bus).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tars::Message;
use tokio::sync::{broadcast, mpsc};

use super::scrape;
use crate::fleet::{Fleet, ServiceView};
use crate::tail::MessageView;
use crate::topology::Graph;

/// Updates buffered per page before a slow page starts skipping.
const UPDATES_BUFFER: usize = 512;
/// Messages forwarded to the pages per second at most (the rest are counted).
const MESSAGES_PER_SECOND: u32 = 200;
/// The window message rates are averaged over.
const RATE_WINDOW: Duration = Duration::from_secs(5);
/// Sources whose rate is tracked at most.
const MAX_SOURCES: usize = 4096;

/// An update for the pages: an SSE event name and its JSON.
#[derive(Debug, Clone)]
pub struct Update {
    pub event: &'static str,
    pub json: Arc<str>,
}

/// One row of the page's services table.
#[derive(Debug, Clone, Serialize)]
pub struct ServiceRow {
    #[serde(flatten)]
    pub view: ServiceView,
    /// Messages per second, when known.
    pub rate: Option<f64>,
    /// Where the rate comes from: `metrics` (handled, from its endpoint) or `observed`
    /// (envelopes it published, seen on the bus).
    pub rate_source: Option<&'static str>,
}

/// A handled total read from a metrics endpoint, and when.
type Reading = (Instant, f64);

/// Counts over a sliding window.
#[derive(Debug, Default)]
struct Rates {
    seen: HashMap<String, VecDeque<Instant>>,
    /// Handled totals read from metrics endpoints: the last reading and the one before.
    scraped: HashMap<String, (Reading, Option<Reading>)>,
}

impl Rates {
    fn observe(&mut self, source: &str, at: Instant) {
        if !self.seen.contains_key(source) && self.seen.len() >= MAX_SOURCES {
            return;
        }
        let times = self.seen.entry(source.to_owned()).or_default();
        times.push_back(at);
        while times
            .front()
            .is_some_and(|t| at.duration_since(*t) > RATE_WINDOW)
        {
            times.pop_front();
        }
    }

    fn observed(&mut self, source: &str, now: Instant) -> Option<f64> {
        let times = self.seen.get_mut(source)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > RATE_WINDOW)
        {
            times.pop_front();
        }
        Some(times.len() as f64 / RATE_WINDOW.as_secs_f64())
    }

    fn scraped(&mut self, client_id: &str, at: Instant, total: f64) {
        let entry = self.scraped.get(client_id).map(|(now, _)| *now);
        self.scraped
            .insert(client_id.to_owned(), ((at, total), entry));
    }

    fn scraped_rate(&self, client_id: &str) -> Option<f64> {
        let ((at, total), Some((before_at, before))) = self.scraped.get(client_id)? else {
            return None;
        };
        let seconds = at.duration_since(*before_at).as_secs_f64();
        (seconds > 0.0).then(|| ((total - before).max(0.0) / seconds * 10.0).round() / 10.0)
    }
}

/// What the dashboard knows, shared by its tasks and pages.
pub struct Hub {
    fleet: Mutex<Fleet>,
    rates: Mutex<Rates>,
    updates: broadcast::Sender<Update>,
    messages_this_second: Mutex<(Instant, u32)>,
}

impl Hub {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            fleet: Mutex::new(Fleet::default()),
            rates: Mutex::new(Rates::default()),
            updates: broadcast::channel(UPDATES_BUFFER).0,
            messages_this_second: Mutex::new((Instant::now(), 0)),
        })
    }

    /// A new page's feed.
    pub fn subscribe(&self) -> broadcast::Receiver<Update> {
        self.updates.subscribe()
    }

    /// The services table now.
    pub fn services(&self) -> Vec<ServiceRow> {
        let now = Instant::now();
        let views = lock(&self.fleet).views(now);
        let mut rates = lock(&self.rates);
        views
            .into_iter()
            .map(|view| {
                let (rate, rate_source) = match rates.scraped_rate(&view.client_id) {
                    Some(rate) => (Some(rate), Some("metrics")),
                    None => match rates.observed(&view.client_id, now) {
                        Some(rate) => (Some(rate), Some("observed")),
                        None => (None, None),
                    },
                };
                ServiceRow {
                    view,
                    rate,
                    rate_source,
                }
            })
            .collect()
    }

    /// The topology now.
    pub fn graph(&self) -> Graph {
        Graph::of(&lock(&self.fleet))
    }

    /// Takes one message from the bus.
    fn ingest(&self, message: &Message) -> bool {
        let now = Instant::now();
        let topic = message.topic();
        let fleet_changed = if topic.starts_with("system/") {
            lock(&self.fleet).apply(topic, message.payload(), now)
        } else {
            false
        };
        let view = MessageView::of(message);
        if view.kind == "envelope" && !topic.starts_with("system/") {
            if let Some(source) = &view.source {
                lock(&self.rates).observe(source, now);
            }
        }
        if self.admit_message(now) {
            self.push("message", &view);
        }
        fleet_changed
    }

    /// Whether this second's allowance of messages for the pages has room.
    fn admit_message(&self, now: Instant) -> bool {
        let mut second = lock(&self.messages_this_second);
        if now.duration_since(second.0) >= Duration::from_secs(1) {
            *second = (now, 0);
        }
        second.1 += 1;
        second.1 <= MESSAGES_PER_SECOND
    }

    fn push(&self, event: &'static str, value: &impl Serialize) {
        if self.updates.receiver_count() == 0 {
            return;
        }
        let json: Arc<str> = serde_json::to_string(value).unwrap_or_default().into();
        let _ = self.updates.send(Update { event, json });
    }

    fn push_services(&self) {
        self.push("services", &self.services());
    }

    fn push_graph(&self) {
        self.push("graph", &self.graph());
    }

    /// Reads the bus until it closes: the fleet, rates and the message feed.
    pub async fn run_ingest(self: Arc<Self>, mut received: mpsc::Receiver<Message>) {
        while let Some(message) = received.recv().await {
            if self.ingest(&message) {
                self.push_services();
                self.push_graph();
            }
        }
    }

    /// Every second: the services table (heartbeat ages and rates move), after reading
    /// the metrics endpoints the manifests name.
    pub async fn run_ticker(self: Arc<Self>) {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let endpoints: Vec<(String, String)> = lock(&self.fleet)
                .manifests()
                .into_iter()
                .filter_map(|m| Some((m.name, m.metrics_addr?)))
                .collect();
            for (client_id, addr) in endpoints {
                if let Some(total) = scrape::handled_total(&addr).await {
                    lock(&self.rates).scraped(&client_id, Instant::now(), total);
                }
            }
            self.push_services();
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observed_rates_count_a_sliding_window() {
        let mut rates = Rates::default();
        let start = Instant::now();
        for i in 0..10 {
            rates.observe("svc", start + Duration::from_millis(i * 100));
        }
        assert_eq!(
            rates.observed("svc", start + Duration::from_secs(1)),
            Some(2.0)
        );
        assert_eq!(
            rates.observed("svc", start + Duration::from_secs(7)),
            Some(0.0)
        );
        assert_eq!(rates.observed("other", start), None);
    }

    #[test]
    fn metric_rates_need_two_readings() {
        let mut rates = Rates::default();
        let start = Instant::now();
        rates.scraped("svc", start, 100.0);
        assert_eq!(rates.scraped_rate("svc"), None);
        rates.scraped("svc", start + Duration::from_secs(2), 150.0);
        assert_eq!(rates.scraped_rate("svc"), Some(25.0));
    }

    #[test]
    fn the_pages_get_at_most_their_allowance_of_messages() {
        let hub = Hub::new();
        let now = Instant::now();
        let admitted = (0..MESSAGES_PER_SECOND + 50)
            .filter(|_| hub.admit_message(now))
            .count();
        assert_eq!(admitted, MESSAGES_PER_SECOND as usize);
        assert!(hub.admit_message(now + Duration::from_secs(1)));
    }
}
