//! The heartbeat task: plain JSON on `system/keepalive/{client_id}` every interval, on
//! the command lane (ahead of data), and a watchdog that forces a reconnect after three
//! consecutive heartbeats that did not get out: the connection looks up but writes do
//! not reach the socket. Paused intake (handlers busy) never stops writes, so it never
//! trips the watchdog.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::time::{interval, MissedTickBehavior};

use super::Connection;

const FAILURES_BEFORE_RECONNECT: u32 = 3;

pub(crate) async fn run(connection: Arc<Connection>) {
    // The first heartbeat goes out as soon as the first connection is up.
    let mut status = connection.status.subscribe();
    if status.wait_for(|s| s.connected || s.stopped).await.is_err() {
        return;
    }
    let period = connection.config.heartbeat_interval();
    let mut ticker = interval(period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut failures = 0;
    // Publishes written by the writer when the last heartbeat was queued.
    let mut written_before_last: Option<u64> = None;
    loop {
        ticker.tick().await;
        if connection.is_closing() {
            return;
        }
        if !connection.status().connected {
            failures = 0;
            written_before_last = None;
            continue;
        }
        let written = connection
            .counters
            .publishes_written
            .load(Ordering::Relaxed);
        if let Some(before) = written_before_last.take() {
            if written == before {
                failures += 1;
                tracing::warn!(
                    failures,
                    "the last heartbeat was not sent within {period:?}"
                );
            } else {
                failures = 0;
            }
        }
        if failures >= FAILURES_BEFORE_RECONNECT {
            tracing::warn!("{failures} heartbeats in a row were not sent; forcing a reconnect");
            connection.force_reconnect.notify_waiters();
            failures = 0;
            continue;
        }
        let heartbeat = match connection.presence.heartbeat() {
            Ok(heartbeat) => heartbeat,
            Err(error) => {
                tracing::error!(%error, "could not encode the heartbeat");
                continue;
            }
        };
        if connection.send_urgent(heartbeat) {
            written_before_last = Some(written);
        }
    }
}
