//! A worker of the chaos fleet's share group: takes `chaos/jobs` (QoS 1) through
//! `$share/chaos/…` on a persistent session and records each job it handled.

use tars_tests::chaos::events::record;

tars_tests::chaos_event!(Job, "chaos/jobs", "chaos.job");

#[tars::handler(qos = 1, share = "chaos")]
async fn work(job: Job) {
    record(format_args!("handled job {}", job.n));
}

#[tars::service(name = "chaos-worker")]
async fn main() {}
