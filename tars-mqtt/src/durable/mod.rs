//! The durable outbox: QoS 1/2 publishes kept on disk, in a folder only this process
//! uses, from before `publish().await` returns until the broker acknowledged them; what
//! a stopped or killed process still owed is sent first after its restart.
//!
//! `log.rs` keeps the segment files and what is owed, `record.rs` the bytes of a
//! record, `sync.rs` the thread that syncs to disk. This handle puts them behind one
//! lock and adds the bounds: a full outbox makes publishers wait (or drops the oldest),
//! and under `always` a publisher waits for the sync that covers its publish.

mod log;
pub(crate) mod record;
mod sync;

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use self::log::Log;
use self::record::StoredPublish;
use self::sync::Syncer;
use crate::config::{FsyncPolicy, OutboxConfig, OutboxFull};

/// Why a publish could not be kept.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeepError {
    #[error("the durable outbox holds its most bytes ({max} bytes) and the broker acknowledged nothing for {waited:?}")]
    Full {
        max: usize,
        waited: std::time::Duration,
    },
    #[error("could not write the durable outbox in {dir}: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// Why an outbox folder could not be opened.
#[derive(Debug, thiserror::Error)]
pub(crate) enum OpenError {
    #[error("{dir} is in use by another process{holder}: two processes cannot share an outbox; give each its own TARS_OUTBOX_DIR")]
    Locked { dir: String, holder: String },
    #[error("cannot use {dir} as the durable outbox: {source}")]
    Io {
        dir: String,
        #[source]
        source: std::io::Error,
    },
}

/// Counters of the outbox, for metrics.
#[derive(Debug, Default)]
pub(crate) struct OutboxCounters {
    /// Publishes the full outbox dropped (`drop_oldest`).
    pub(crate) dropped: AtomicU64,
    /// Torn records skipped at open.
    pub(crate) torn: AtomicU64,
}

/// A durable outbox, open: its folder locked for this process.
pub(crate) struct DurableOutbox {
    log: Mutex<Log>,
    config: OutboxConfig,
    dir: String,
    /// Told when a publish is owed no more: room for a waiting publisher.
    room: Notify,
    /// Told when a publish is appended: work for the session's feeder.
    fresh: Notify,
    syncer: Syncer,
    pub(crate) counters: OutboxCounters,
    /// Held for the lock on the folder.
    _lock: File,
}

impl std::fmt::Debug for DurableOutbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DurableOutbox")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

/// Takes the folder's lock file, writing this process's id into it.
fn lock(dir: &Path) -> Result<File, OpenError> {
    let shown = dir.display().to_string();
    let io = |source| OpenError::Io {
        dir: shown.clone(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let path = dir.join("LOCK");
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::{Seek, Write};
            file.set_len(0).map_err(io)?;
            file.seek(std::io::SeekFrom::Start(0)).map_err(io)?;
            write!(file, "{}", std::process::id()).map_err(io)?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let holder = std::fs::read_to_string(&path)
                .ok()
                .filter(|pid| !pid.trim().is_empty())
                .map(|pid| format!(" (pid {})", pid.trim()))
                .unwrap_or_default();
            Err(OpenError::Locked { dir: shown, holder })
        }
        Err(std::fs::TryLockError::Error(source)) => Err(io(source)),
    }
}

impl DurableOutbox {
    /// Opens (or creates) the outbox in `config.dir`: locks it, reads what is owed,
    /// and starts the sync thread. `None` when no folder is set.
    pub(crate) fn open(config: &OutboxConfig) -> Result<Option<Arc<Self>>, OpenError> {
        let Some(dir) = &config.dir else {
            return Ok(None);
        };
        let lock = lock(dir)?;
        let shown = dir.display().to_string();
        let (log, torn) = Log::open(dir).map_err(|source| OpenError::Io {
            dir: shown.clone(),
            source,
        })?;
        for record in &torn {
            tracing::warn!(
                segment = %record.segment.display(),
                offset = record.offset,
                why = record.why,
                "a torn record of the durable outbox (a write cut short) is skipped"
            );
        }
        let owed = log.owed();
        if owed > 0 {
            tracing::info!(owed, dir = %shown, "publishes owed by the last run are sent first");
        }
        let counters = OutboxCounters::default();
        counters.torn.store(torn.len() as u64, Ordering::Relaxed);
        let outbox = Arc::new_cyclic(|weak: &std::sync::Weak<Self>| Self {
            log: Mutex::new(log),
            config: config.clone(),
            dir: shown,
            room: Notify::new(),
            fresh: Notify::new(),
            syncer: Syncer::start(config.fsync, weak.clone()),
            counters,
            _lock: lock,
        });
        Ok(Some(outbox))
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn io_error(&self, source: std::io::Error) -> KeepError {
        KeepError::Io {
            dir: self.dir.clone(),
            source,
        }
    }

    /// Writes a publish to disk (waiting for room, or dropping the oldest, when full);
    /// returns its sequence number once it is as safe as the fsync policy makes it.
    /// `kept` is called with the sequence number before the publish can be handed on.
    pub(crate) async fn keep(
        &self,
        publish: &StoredPublish,
        kept: impl FnOnce(u64),
    ) -> Result<u64, KeepError> {
        let mut kept = Some(kept);
        let size = record::publish_len(publish) as u64;
        let max = self.config.max_bytes as u64;
        let deadline = tokio::time::Instant::now() + self.config.full_wait;
        let (seq, appended) = loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            {
                let mut log = self.log();
                if self.config.when_full == OutboxFull::DropOldest {
                    // What the session already holds goes out anyway (it is bounded by
                    // its lane and window); when it holds everything, the publisher
                    // waits as under `wait`.
                    while log.owed() > 0 && log.owed_bytes() + size > max {
                        match log.drop_oldest().map_err(|e| self.io_error(e))? {
                            Some(seq) => {
                                let dropped =
                                    self.counters.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                                // The first, then every thousandth: a full outbox drops
                                // on every publish.
                                if dropped == 1 || dropped.is_multiple_of(1000) {
                                    tracing::warn!(seq, dropped, dir = %self.dir, "the durable outbox is full: its oldest publishes are dropped (tars_outbox_dropped_total)");
                                }
                            }
                            None => break,
                        }
                    }
                }
                // One publish larger than the bound alone still goes.
                if log.owed() == 0 || log.owed_bytes() + size <= max {
                    let seq = log.append(publish).map_err(|e| self.io_error(e))?;
                    if let Some(kept) = kept.take() {
                        kept(seq);
                    }
                    break (seq, log.appended());
                }
            }
            if tokio::time::timeout_at(deadline, room).await.is_err() {
                return Err(KeepError::Full {
                    max: self.config.max_bytes,
                    waited: self.config.full_wait,
                });
            }
        };
        self.fresh.notify_one();
        if self.config.fsync == FsyncPolicy::Always {
            self.syncer.wait_for(appended).await;
        }
        Ok(seq)
    }

    /// The oldest publish owed and not yet handed to the session; waits for one.
    pub(crate) async fn next_unsent(&self) -> (u64, StoredPublish) {
        loop {
            let fresh = self.fresh.notified();
            tokio::pin!(fresh);
            fresh.as_mut().enable();
            if let Some(next) = self.log().take_unsent() {
                return next;
            }
            fresh.await;
        }
    }

    /// The broker is done with these publishes (acknowledged, or refused): they are
    /// owed no more.
    pub(crate) fn done(&self, seqs: &[u64]) {
        if let Err(error) = self.log().ack_all(seqs) {
            tracing::warn!(%error, dir = %self.dir, "could not record acknowledgements in the durable outbox; their publishes may be sent again after a restart");
        }
        self.room.notify_waiters();
    }

    /// Bytes of the publishes owed.
    pub(crate) fn owed_bytes(&self) -> u64 {
        self.log().owed_bytes()
    }

    /// Publishes owed.
    pub(crate) fn owed(&self) -> usize {
        self.log().owed()
    }
}
