//! The Prometheus text exposition (format 0.0.4) of a client's metrics, encoded with
//! the Prometheus project's `prometheus-client`. Every value is read when scraped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Registry;

use crate::dispatch::queue::HandlerQueue;
use crate::runtime::Shared;
use crate::telemetry::batch_sizes::BatchSizes;
use crate::telemetry::histogram::{DurationHistogram, HistogramSnapshot};

/// The `Content-Type` of [`render`]'s output.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// Every metric of the client, in the Prometheus text format.
pub(crate) fn render(shared: &Arc<Shared>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(ClientCollector(shared.clone())));
    let mut text = String::new();
    // Writing into a String does not fail, and our collector does not either.
    let _ = prometheus_client::encoding::prometheus_text::encode(&mut text, &registry);
    text
}

/// Reads a client's counters at scrape time.
#[derive(Debug)]
struct ClientCollector(Arc<Shared>);

/// One handler's figures, summed over its subscriptions (a handler name may serve
/// several filters).
#[derive(Default)]
struct HandlerFigures {
    outcomes: [u64; OUTCOMES.len()],
    retries: u64,
    queued: u64,
    durations: HistogramSnapshot,
    /// Messages per call, for a batch handler.
    batch_sizes: Option<HistogramSnapshot>,
}

/// The `outcome` label values, in the order of [`HandlerFigures::outcomes`]. A message
/// counts once, by its final outcome (a retried message is not an error until its last
/// attempt failed).
const OUTCOMES: [&str; 6] = [
    "ok",
    "error",
    "panic",
    "undecodable",
    "dropped",
    "dead_lettered",
];

impl ClientCollector {
    fn handlers(&self) -> BTreeMap<String, HandlerFigures> {
        let mut figures: BTreeMap<String, HandlerFigures> = BTreeMap::new();
        let routes = self.0.dispatch.routes_read();
        // The handlers of an ordered group share one queue, counted once, under the
        // group's name.
        let mut counted: Vec<*const HandlerQueue> = Vec::new();
        for route in routes.iter() {
            let queue = Arc::as_ptr(&route.queue);
            if counted.contains(&queue) {
                continue;
            }
            counted.push(queue);
            let counters = &route.queue.counters;
            let load = |n: &AtomicU64| n.load(Ordering::Relaxed);
            let ok = load(&counters.handled).saturating_sub(counters.failed());
            let entry = figures.entry(route.handler.clone()).or_default();
            let counts = [
                ok,
                load(&counters.errors),
                load(&counters.panics),
                load(&counters.undecodable),
                load(&counters.dropped),
                load(&counters.dead_lettered),
            ];
            for (total, n) in entry.outcomes.iter_mut().zip(counts) {
                *total += n;
            }
            entry.retries += load(&counters.retries);
            entry.queued += route.queue.len() as u64;
            entry
                .durations
                .add(&DurationHistogram::merged(counters.durations.iter()));
            if counters.batch_sizes.in_use() {
                entry
                    .batch_sizes
                    .get_or_insert_with(|| BatchSizes::default().snapshot())
                    .add(&counters.batch_sizes.snapshot());
            }
        }
        figures
    }
}

/// One labelled value of a counter family.
fn counter_of(
    metric: &mut MetricEncoder<'_>,
    labels: &impl EncodeLabelSet,
    value: u64,
) -> Result<(), std::fmt::Error> {
    metric
        .encode_family(labels)?
        .encode_counter::<NoLabelSet, _, u64>(&value, None)
}

fn histogram(
    encoder: &mut MetricEncoder<'_>,
    durations: &HistogramSnapshot,
) -> Result<(), std::fmt::Error> {
    encoder.encode_histogram::<NoLabelSet>(durations.sum, durations.count, &durations.buckets, None)
}

impl Collector for ClientCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let shared = &self.0;
        let connection = &shared.connection;
        let config = &connection.config;
        let status = connection.status();
        let counters = &connection.counters;
        let load = |n: &AtomicU64| n.load(Ordering::Relaxed);

        let info = [
            ("service", config.source_name()),
            ("version", connection.presence.version.as_str()),
            ("client_id", config.client_id()),
            ("mqtt_version", config.mqtt_version().as_str()),
        ];
        let mut metric = encoder.encode_descriptor(
            "tars_info",
            "The service: its name (envelope source), version, client id and MQTT version",
            None,
            MetricType::Gauge,
        )?;
        metric.encode_family(&info)?.encode_gauge(&1u64)?;

        let handlers = self.handlers();
        let mut metric = encoder.encode_descriptor(
            "tars_handler_messages",
            "Messages per handler and final outcome (ok, error, panic, undecodable, dropped, dead_lettered)",
            None,
            MetricType::Counter,
        )?;
        for (handler, figures) in &handlers {
            for (outcome, n) in OUTCOMES.iter().zip(figures.outcomes) {
                let labels = [("handler", handler.as_str()), ("outcome", outcome)];
                counter_of(&mut metric, &labels, n)?;
            }
        }
        let mut metric = encoder.encode_descriptor(
            "tars_handler_duration_seconds",
            "How long each handler took per message, or per batch for a batch handler (recorded while metrics are on)",
            None,
            MetricType::Histogram,
        )?;
        for (handler, figures) in &handlers {
            let labels = [("handler", handler.as_str())];
            histogram(&mut metric.encode_family(&labels)?, &figures.durations)?;
        }
        let mut metric = encoder.encode_descriptor(
            "tars_handler_batch_size",
            "Messages per call of each batch handler",
            None,
            MetricType::Histogram,
        )?;
        for (handler, figures) in &handlers {
            if let Some(sizes) = &figures.batch_sizes {
                let labels = [("handler", handler.as_str())];
                histogram(&mut metric.encode_family(&labels)?, sizes)?;
            }
        }
        let mut metric = encoder.encode_descriptor(
            "tars_handler_retries",
            "Attempts after the first, per handler (its failure policy's retries)",
            None,
            MetricType::Counter,
        )?;
        for (handler, figures) in &handlers {
            let labels = [("handler", handler.as_str())];
            counter_of(&mut metric, &labels, figures.retries)?;
        }
        let mut metric = encoder.encode_descriptor(
            "tars_handler_queue_depth",
            "Messages waiting in each handler's queue (parked retries included)",
            None,
            MetricType::Gauge,
        )?;
        for (handler, figures) in &handlers {
            let labels = [("handler", handler.as_str())];
            metric
                .encode_family(&labels)?
                .encode_gauge(&figures.queued)?;
        }

        let mut metric = encoder.encode_descriptor(
            "tars_published_messages",
            "Messages published, per event type (raw publishes: event_type=\"\")",
            None,
            MetricType::Counter,
        )?;
        for (event_type, n) in connection.events.published_counts() {
            let labels = [("event_type", event_type.as_str())];
            counter_of(&mut metric, &labels, n)?;
        }
        let mut metric = encoder.encode_descriptor(
            "tars_request_duration_seconds",
            "Round trips of request(), per request event type, until the reply",
            None,
            MetricType::Histogram,
        )?;
        for (event_type, durations) in connection.events.request_durations() {
            let labels = [("event_type", event_type.as_str())];
            let durations: &DurationHistogram = &durations;
            histogram(&mut metric.encode_family(&labels)?, &durations.snapshot())?;
        }

        let connected = u64::from(status.connected);
        gauge(
            &mut encoder,
            "tars_connected",
            "1 while connected to the broker",
            connected,
        )?;
        let reconnects = load(&counters.connections).saturating_sub(1);
        counter(
            &mut encoder,
            "tars_reconnects",
            "Connections to the broker after the first",
            reconnects,
        )?;
        let lane = connection.data.max_capacity() - connection.data.capacity();
        let outbox = load(&counters.outbox) + lane as u64;
        gauge(
            &mut encoder,
            "tars_outbox_messages",
            "Publishes not yet acknowledged by the broker: waiting to be written, in flight, or kept for the next connection",
            outbox,
        )?;
        if let Some(durable) = &connection.durable {
            let outbox = &durable.outbox;
            gauge(
                &mut encoder,
                "tars_outbox_durable_messages",
                "Publishes the durable outbox (TARS_OUTBOX_DIR) holds until the broker acknowledges them",
                outbox.owed() as u64,
            )?;
            gauge(
                &mut encoder,
                "tars_outbox_durable_bytes",
                "Bytes of the publishes the durable outbox holds (bounded by TARS_OUTBOX_MAX_BYTES)",
                outbox.owed_bytes(),
            )?;
            counter(
                &mut encoder,
                "tars_outbox_dropped",
                "Publishes the full durable outbox dropped (TARS_OUTBOX_FULL=drop_oldest)",
                load(&outbox.counters.dropped),
            )?;
            counter(
                &mut encoder,
                "tars_outbox_torn_records",
                "Torn records (writes cut short) the durable outbox skipped when it opened",
                load(&outbox.counters.torn),
            )?;
        }
        let mut metric = encoder.encode_descriptor(
            "tars_publish_outcomes",
            "QoS 1/2 publishes the broker answered: acknowledged, or refused (MQTT 5 reason code)",
            None,
            MetricType::Counter,
        )?;
        for (outcome, counter) in [
            ("acknowledged", &counters.publishes_acknowledged),
            ("refused", &counters.publishes_refused),
        ] {
            counter_of(&mut metric, &[("outcome", outcome)], load(counter))?;
        }
        counter(
            &mut encoder,
            "tars_dedup_skipped",
            "Messages skipped as duplicates (MQTT_DEDUPE_TTL)",
            load(&shared.dispatch.counters.duplicates),
        )?;
        Ok(())
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    metric.encode_gauge(&value)
}

fn counter(
    encoder: &mut DescriptorEncoder,
    name: &'static str,
    help: &str,
    value: u64,
) -> Result<(), std::fmt::Error> {
    let mut metric = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    metric.encode_counter::<NoLabelSet, _, u64>(&value, None)
}
