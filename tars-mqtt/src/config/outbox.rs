//! The durable outbox's settings (`TARS_OUTBOX_*`): where it keeps QoS 1/2 publishes
//! until the broker acknowledged them, how large it may grow, what a full one does and
//! when it syncs to disk. See `docs/reliability.md`.

use std::path::PathBuf;
use std::time::Duration;

/// The most bytes of publishes the outbox holds by default (64 MiB).
pub const DEFAULT_OUTBOX_MAX_BYTES: usize = 64 * 1024 * 1024;
/// How long a publisher waits for room in a full outbox by default.
pub const DEFAULT_OUTBOX_FULL_WAIT: Duration = Duration::from_secs(10);
/// How often the outbox syncs to disk by default (`grouped` within 5 ms).
pub const DEFAULT_OUTBOX_SYNC_INTERVAL: Duration = Duration::from_millis(5);

/// What a publish does when the outbox holds its most bytes (`TARS_OUTBOX_FULL`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum OutboxFull {
    /// The publisher waits for the broker to acknowledge older publishes, up to the
    /// wait (`TARS_OUTBOX_FULL_WAIT`), then gets `Error::OutboxFull` (the default).
    #[default]
    Wait,
    /// The oldest publishes owed are dropped, logged and counted, to make room.
    DropOldest,
}

impl OutboxFull {
    /// As written in `TARS_OUTBOX_FULL`: `wait` or `drop_oldest`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wait => "wait",
            Self::DropOldest => "drop_oldest",
        }
    }
}

impl std::str::FromStr for OutboxFull {
    type Err = ();
    fn from_str(text: &str) -> Result<Self, ()> {
        match text.trim() {
            "wait" => Ok(Self::Wait),
            "drop_oldest" => Ok(Self::DropOldest),
            _ => Err(()),
        }
    }
}

/// When the outbox's writes are synced to disk (`TARS_OUTBOX_FSYNC`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// `publish().await` returns once its publish is synced (publishers that wait at
    /// the same time share one sync). Survives a power cut.
    Always,
    /// `publish().await` returns once its publish is written to the file (it survives
    /// the process being killed); a sync runs at most this long after (a power cut
    /// loses at most that much). The default, within 5 ms.
    Grouped(Duration),
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        Self::Grouped(DEFAULT_OUTBOX_SYNC_INTERVAL)
    }
}

/// The durable outbox's settings; off while `dir` is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutboxConfig {
    /// The folder of its files (`TARS_OUTBOX_DIR`); `None`: publishes wait in memory.
    pub dir: Option<PathBuf>,
    /// The most bytes of publishes it holds (`TARS_OUTBOX_MAX_BYTES`).
    pub max_bytes: usize,
    /// What a publish does when it is full (`TARS_OUTBOX_FULL`).
    pub when_full: OutboxFull,
    /// How long a publisher waits for room under [`OutboxFull::Wait`].
    pub full_wait: Duration,
    /// When writes are synced (`TARS_OUTBOX_FSYNC`).
    pub fsync: FsyncPolicy,
}

impl OutboxConfig {
    /// Off, with the default bounds and policies for when a folder is set.
    pub(crate) fn new() -> Self {
        Self {
            dir: None,
            max_bytes: DEFAULT_OUTBOX_MAX_BYTES,
            when_full: OutboxFull::Wait,
            full_wait: DEFAULT_OUTBOX_FULL_WAIT,
            fsync: FsyncPolicy::default(),
        }
    }
}

/// `always`, or a duration (`grouped` within it).
pub(crate) fn parse_fsync(text: &str) -> Option<FsyncPolicy> {
    match text.trim() {
        "always" => Some(FsyncPolicy::Always),
        "grouped" => Some(FsyncPolicy::default()),
        other => super::parse::parse_duration(other).map(FsyncPolicy::Grouped),
    }
}

/// How `--check` shows a policy.
pub(crate) fn show_fsync(policy: FsyncPolicy) -> String {
    match policy {
        FsyncPolicy::Always => "always".to_owned(),
        FsyncPolicy::Grouped(interval) => format!("grouped within {interval:?}"),
    }
}
