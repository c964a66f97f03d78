//! The chaos fleet's slow handler with retries: each task takes 5 ms; a task whose
//! number is a multiple of `FAILING_EVERY` always fails, is tried three times and goes
//! to the dead-letter topic. Records each task handled.

use std::time::Duration;

use tars::prelude::*;
use tars_tests::chaos::events::{record, FAILING_EVERY};

tars_tests::chaos_event!(Task, "chaos/tasks", "chaos.task");

#[tars::handler(qos = 1, retries = 2, backoff = "50ms", dead_letter = "chaos/dead")]
async fn slow(task: Task) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if task.n.is_multiple_of(FAILING_EVERY) {
        return Err(format!("task {} always fails", task.n));
    }
    record(format_args!("handled task {}", task.n));
    Ok(())
}

#[tars::service(name = "chaos-retrying")]
async fn main() {}
