//! Inbound: one raw publisher sends a burst of sample envelopes; a raw rumqttc
//! subscriber (decoding with serde_json) or a tars typed handler consumes them.

use std::time::{Duration, Instant};

use bytes::Bytes;
use rumqttc::QoS;
use tokio::sync::oneshot;

use crate::events::handlers;
use crate::measure::{wait_for_progress, within, Pair, Throughput};
use crate::{raw, tally, tars_side};

/// How long a consumer may receive nothing before the rest counts as lost.
const IDLE: Duration = Duration::from_secs(2);
const STEP_LIMIT: Duration = Duration::from_secs(120);

/// Who consumes.
#[derive(Debug, Clone, Copy)]
enum Consumer {
    Raw,
    Tars,
}

/// One raw and one tars run of a burst of `payloads` at `qos`; `tars_first` swaps the
/// order (alternated over runs, so that neither side always runs on a warmer broker).
pub async fn run_pair(
    url: &str,
    port: u16,
    payloads: &[Bytes],
    qos: QoS,
    tars_first: bool,
) -> Pair<Throughput> {
    if tars_first {
        let tars = run(url, port, payloads, qos, Consumer::Tars).await;
        let raw = run(url, port, payloads, qos, Consumer::Raw).await;
        Pair { raw, tars }
    } else {
        let raw = run(url, port, payloads, qos, Consumer::Raw).await;
        let tars = run(url, port, payloads, qos, Consumer::Tars).await;
        Pair { raw, tars }
    }
}

async fn run(url: &str, port: u16, payloads: &[Bytes], qos: QoS, consumer: Consumer) -> Throughput {
    tally::reset();
    let (raw_task, tars_client) = match consumer {
        Consumer::Raw => {
            let (ready, subscribed) = oneshot::channel();
            let task = raw::spawn_consumer(port, "bench-raw-consumer", qos, ready);
            within(STEP_LIMIT, "raw consumer subscribes", subscribed)
                .await
                .expect("raw consumer subscribed");
            (Some(task), None)
        }
        Consumer::Tars => {
            let handler = match qos {
                QoS::AtMostOnce => handlers::AT_MOST_ONCE,
                _ => handlers::AT_LEAST_ONCE,
            };
            let client = within(
                STEP_LIMIT,
                "tars consumer connects",
                tars_side::client(url, "bench-tars-consumer", Some(handler)),
            )
            .await;
            (None, Some(client))
        }
    };
    let publisher = raw::Publisher::start(port, "bench-publisher").await;
    let sent = payloads.len() as u64;
    let started = Instant::now();
    within(
        STEP_LIMIT,
        "publish the burst",
        publisher.publish_all(payloads, qos),
    )
    .await;
    let (received, last) = wait_for_progress(tally::received, sent, IDLE).await;
    let result = Throughput::tallied(received, last.duration_since(started).as_secs_f64(), sent);
    publisher.stop().await;
    if let Some(task) = raw_task {
        task.abort();
    }
    if let Some(client) = tars_client {
        let _ = client.shutdown().await;
    }
    result
}
