//! Scaling a service out with a shared subscription: start this service N times and the
//! broker splits the jobs between the instances (`$share/workers/jobs/new`), each job going
//! to exactly one of them. Each instance reports what it did on `jobs/done`.
//!
//! ```sh
//! MQTT_URL=mqtt://localhost:1883 MQTT_CLIENT_ID=worker-1 cargo run --example shared_workers &
//! MQTT_URL=mqtt://localhost:1883 MQTT_CLIENT_ID=worker-2 cargo run --example shared_workers &
//! ```
//!
//! Every instance needs its own `MQTT_CLIENT_ID`.

use serde::{Deserialize, Serialize};
use tars::prelude::*;

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "jobs/new", qos = 1)]
struct Job {
    id: u64,
}

#[derive(Event, Serialize, Deserialize, Debug)]
#[event(topic = "jobs/done", qos = 1)]
struct JobDone {
    id: u64,
    worker: String,
}

#[tars::handler(share = "workers", qos = 1, concurrency = 4)]
async fn work(job: Envelope<Job>, ctx: Context) -> tars::Result<()> {
    let worker = ctx.client().config().client_id().to_owned();
    tracing::debug!(job = job.data.id, worker, "working");
    let done = JobDone {
        id: job.data.id,
        worker,
    };
    let options = PublishOptions::new()
        .qos(QoS::AtLeastOnce)
        .correlation_id(job.id);
    ctx.publish_event(JobDone::TOPIC, JobDone::EVENT_TYPE, &done, options)
        .await
        .map(drop)
}

#[tars::service(name = "tars-worker")]
async fn main() {}
