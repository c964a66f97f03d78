//! The thread that syncs the durable outbox to disk: on request under `always` (the
//! publishers waiting at that moment share one sync), or every interval while there is
//! something new under `grouped`.

use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::Duration;

use tokio::sync::watch;

use super::DurableOutbox;
use crate::config::FsyncPolicy;

#[derive(Default)]
struct State {
    requested: bool,
    stop: bool,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The sync thread's handle; the thread stops when it is dropped.
pub(super) struct Syncer {
    shared: Arc<Shared>,
    /// How many appended records are synced.
    synced: watch::Receiver<u64>,
}

impl Syncer {
    pub(super) fn start(policy: FsyncPolicy, outbox: Weak<DurableOutbox>) -> Self {
        let shared = Arc::new(Shared::default());
        let (synced_tx, synced) = watch::channel(0u64);
        let thread_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("tars-outbox-sync".into())
            .spawn(move || run(policy, &thread_shared, &outbox, &synced_tx));
        if let Err(error) = spawned {
            tracing::error!(%error, "could not start the durable outbox's sync thread; writes are synced by the system only");
        }
        Self { shared, synced }
    }

    /// Waits until the first `appended` records are synced.
    pub(super) async fn wait_for(&self, appended: u64) {
        {
            let mut state = self.shared.state();
            state.requested = true;
        }
        self.shared.wake.notify_one();
        let mut synced = self.synced.clone();
        let _ = synced.wait_for(|synced| *synced >= appended).await;
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        self.shared.state().stop = true;
        self.shared.wake.notify_one();
    }
}

fn run(
    policy: FsyncPolicy,
    shared: &Shared,
    outbox: &Weak<DurableOutbox>,
    synced: &watch::Sender<u64>,
) {
    loop {
        let stop = {
            let mut state = shared.state();
            match policy {
                FsyncPolicy::Always => {
                    while !state.requested && !state.stop {
                        state = shared.wake.wait(state).unwrap_or_else(|p| p.into_inner());
                    }
                }
                FsyncPolicy::Grouped(every) => {
                    if !state.stop {
                        let every = every.max(Duration::from_millis(1));
                        state = shared
                            .wake
                            .wait_timeout(state, every)
                            .map_or_else(|p| p.into_inner().0, |(s, _)| s);
                    }
                }
            }
            state.requested = false;
            state.stop
        };
        // Only as long as it takes to find the file: the last handle may be this one.
        let target = outbox.upgrade().map(|outbox| {
            let log = outbox.log();
            (log.active_file(), log.appended())
        });
        if let Some((file, appended)) = target {
            if appended > *synced.borrow() {
                match file.and_then(|file| file.sync_data()) {
                    Ok(()) => {
                        synced.send_replace(appended);
                    }
                    Err(error) => {
                        tracing::error!(%error, "could not sync the durable outbox to disk");
                    }
                }
            }
        }
        if stop {
            return;
        }
    }
}
