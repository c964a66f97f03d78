//! The durable outbox's log: segment files of records in a folder, which publishes
//! are still owed to the broker, and which segments can go.
//!
//! - Publishes and acks are appended to the newest segment (`{id:016}.log`); a segment
//!   is closed at [`SEGMENT_BYTES`] and a new one begun.
//! - A segment is deleted once it and every older one hold no publish still owed: the
//!   acks of a segment's publishes are in it or in newer ones, which therefore outlive
//!   it, so a start never sends an acknowledged publish again.
//! - At open every segment is read: a record cut short or whose checksum fails (a torn
//!   write at a power cut) is skipped and reported, never a failed start; what is owed
//!   is sent first, in order. Writing always starts a new segment.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use super::record::{self, Read, Record, StoredPublish};

/// The size at which a segment is closed and a new one begun.
pub(crate) const SEGMENT_BYTES: u64 = 8 * 1024 * 1024;

/// Where a publish owed to the broker is in the log.
#[derive(Debug, Clone, Copy)]
struct Owed {
    seq: u64,
    segment: u64,
    offset: u64,
    len: u32,
}

#[derive(Debug)]
struct Segment {
    file: File,
    path: PathBuf,
    len: u64,
    /// Its publishes still owed.
    owed: usize,
}

/// A torn record found at open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Torn {
    pub(crate) segment: PathBuf,
    pub(crate) offset: u64,
    pub(crate) why: &'static str,
}

/// The log of one outbox folder (the folder's lock is the caller's).
#[derive(Debug)]
pub(crate) struct Log {
    dir: PathBuf,
    segments: BTreeMap<u64, Segment>,
    active: u64,
    next_seq: u64,
    /// Owed and not yet handed to the session, oldest first.
    unsent: VecDeque<Owed>,
    /// Handed to the session, waiting for the broker.
    sent: HashMap<u64, Owed>,
    /// Bytes of the records of every publish owed.
    owed_bytes: u64,
    /// Records appended since open: the fsync thread's measure of what is on disk.
    appended: u64,
}

fn segment_path(dir: &Path, id: u64) -> PathBuf {
    dir.join(format!("{id:016}.log"))
}

/// The ids of the segment files in `dir`, oldest first.
fn segment_ids(dir: &Path) -> io::Result<Vec<u64>> {
    let mut ids: Vec<u64> = std::fs::read_dir(dir)?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let name = name.to_str()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    ids.sort_unstable();
    Ok(ids)
}

impl Log {
    /// Reads every segment of `dir` and begins a new one; returns the log and the torn
    /// records it skipped.
    pub(crate) fn open(dir: &Path) -> io::Result<(Self, Vec<Torn>)> {
        let mut torn = Vec::new();
        let mut publishes: BTreeMap<u64, Owed> = BTreeMap::new();
        let mut acked: Vec<u64> = Vec::new();
        let mut segments = BTreeMap::new();
        let mut next_seq = 1;
        for id in segment_ids(dir)? {
            let path = segment_path(dir, id);
            let bytes = std::fs::read(&path)?;
            let mut offset = 0usize;
            loop {
                match record::read(&bytes[offset..]) {
                    Read::End => break,
                    Read::Record(record, used) => {
                        match record {
                            Record::Publish(seq, _) => {
                                publishes.insert(
                                    seq,
                                    Owed {
                                        seq,
                                        segment: id,
                                        offset: offset as u64,
                                        len: used as u32,
                                    },
                                );
                                next_seq = next_seq.max(seq + 1);
                            }
                            Record::Ack(seq) => acked.push(seq),
                        }
                        offset += used;
                    }
                    Read::Torn { skip, why } => {
                        torn.push(Torn {
                            segment: path.clone(),
                            offset: offset as u64,
                            why,
                        });
                        match skip {
                            Some(skip) => offset += skip,
                            None => break,
                        }
                    }
                }
            }
            let file = OpenOptions::new().read(true).append(true).open(&path)?;
            let len = bytes.len() as u64;
            segments.insert(
                id,
                Segment {
                    file,
                    path,
                    len,
                    owed: 0,
                },
            );
        }
        for seq in acked {
            publishes.remove(&seq);
        }
        let mut log = Self {
            dir: dir.to_owned(),
            active: segments.keys().next_back().map_or(1, |last| last + 1),
            segments,
            next_seq,
            unsent: VecDeque::new(),
            sent: HashMap::new(),
            owed_bytes: 0,
            appended: 0,
        };
        for owed in publishes.into_values() {
            if let Some(segment) = log.segments.get_mut(&owed.segment) {
                segment.owed += 1;
            }
            log.owed_bytes += u64::from(owed.len);
            log.unsent.push_back(owed);
        }
        log.begin_segment()?;
        log.delete_done_segments();
        Ok((log, torn))
    }

    fn begin_segment(&mut self) -> io::Result<()> {
        let path = segment_path(&self.dir, self.active);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)?;
        // The new file's name is on disk too.
        File::open(&self.dir)?.sync_all()?;
        self.segments.insert(
            self.active,
            Segment {
                file,
                path,
                len: 0,
                owed: 0,
            },
        );
        Ok(())
    }

    /// Appends a publish; returns its sequence number.
    pub(crate) fn append(&mut self, publish: &StoredPublish) -> io::Result<u64> {
        let seq = self.next_seq;
        let bytes = record::encode_publish(seq, publish);
        self.write(&bytes)?;
        self.next_seq += 1;
        let segment = self
            .segments
            .get_mut(&self.active)
            .expect("the active segment");
        segment.owed += 1;
        self.owed_bytes += bytes.len() as u64;
        self.unsent.push_back(Owed {
            seq,
            segment: self.active,
            offset: segment.len - bytes.len() as u64,
            len: bytes.len() as u32,
        });
        Ok(seq)
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        let full = self
            .segments
            .get(&self.active)
            .is_some_and(|s| s.len > 0 && s.len + bytes.len() as u64 > SEGMENT_BYTES);
        if full {
            // What is in the closing segment is on disk before the next one begins.
            if let Some(closing) = self.segments.get(&self.active) {
                closing.file.sync_data()?;
            }
            self.active += 1;
            self.begin_segment()?;
        }
        let segment = self
            .segments
            .get_mut(&self.active)
            .expect("the active segment");
        segment.file.write_all(bytes)?;
        segment.len += bytes.len() as u64;
        self.appended += 1;
        Ok(())
    }

    /// The oldest publish not yet handed to the session, read back from its segment.
    pub(crate) fn take_unsent(&mut self) -> Option<(u64, StoredPublish)> {
        while let Some(owed) = self.unsent.pop_front() {
            match self.read_back(&owed) {
                Some(publish) => {
                    self.sent.insert(owed.seq, owed);
                    return Some((owed.seq, publish));
                }
                None => {
                    tracing::error!(
                        seq = owed.seq,
                        "a publish of the durable outbox could not be read back; it is skipped"
                    );
                    self.forget(owed);
                }
            }
        }
        None
    }

    fn read_back(&self, owed: &Owed) -> Option<StoredPublish> {
        let segment = self.segments.get(&owed.segment)?;
        let mut bytes = vec![0u8; owed.len as usize];
        segment.file.read_exact_at(&mut bytes, owed.offset).ok()?;
        match record::read(&bytes) {
            Read::Record(Record::Publish(seq, publish), _) if seq == owed.seq => Some(*publish),
            _ => None,
        }
    }

    /// The broker acknowledged publish `seq` (or refused it): it is owed no more.
    /// False when it was not owed.
    #[cfg(test)]
    pub(crate) fn ack(&mut self, seq: u64) -> io::Result<bool> {
        Ok(self.ack_all(&[seq])? == 1)
    }

    /// The broker acknowledged (or refused) these publishes: they are owed no more,
    /// their acks written in one go. Returns how many were owed.
    pub(crate) fn ack_all(&mut self, seqs: &[u64]) -> io::Result<usize> {
        let owed: Vec<Owed> = seqs
            .iter()
            .filter_map(|seq| self.sent.remove(seq))
            .collect();
        if owed.is_empty() {
            return Ok(0);
        }
        let mut acks = Vec::with_capacity(owed.len() * (record::HEADER + 9));
        for done in &owed {
            acks.extend_from_slice(&record::encode_ack(done.seq));
        }
        if let Err(error) = self.write(&acks) {
            // Still owed on disk: sent again after a restart, at worst a duplicate.
            for done in owed {
                self.sent.insert(done.seq, done);
            }
            return Err(error);
        }
        let count = owed.len();
        for done in owed {
            self.forget(done);
        }
        Ok(count)
    }

    /// Gives up the oldest publish owed and not yet handed to the session (the outbox
    /// is full and drops the oldest; what the session holds goes out anyway); returns
    /// its sequence number, or `None` when the session holds everything owed.
    pub(crate) fn drop_oldest(&mut self) -> io::Result<Option<u64>> {
        let Some(owed) = self.unsent.pop_front() else {
            return Ok(None);
        };
        self.write(&record::encode_ack(owed.seq))?;
        self.forget(owed);
        Ok(Some(owed.seq))
    }

    fn forget(&mut self, owed: Owed) {
        self.owed_bytes -= u64::from(owed.len);
        if let Some(segment) = self.segments.get_mut(&owed.segment) {
            segment.owed -= 1;
        }
        self.delete_done_segments();
    }

    /// Deletes the oldest segments while they owe nothing (never the active one).
    fn delete_done_segments(&mut self) {
        while let Some((&id, segment)) = self.segments.first_key_value() {
            if id == self.active || segment.owed > 0 {
                return;
            }
            if let Err(error) = std::fs::remove_file(&segment.path) {
                tracing::warn!(path = %segment.path.display(), %error, "could not delete a finished segment of the durable outbox");
                return;
            }
            self.segments.remove(&id);
        }
    }

    /// Bytes of the publishes owed.
    pub(crate) fn owed_bytes(&self) -> u64 {
        self.owed_bytes
    }

    /// Publishes owed (sent or not).
    pub(crate) fn owed(&self) -> usize {
        self.unsent.len() + self.sent.len()
    }

    /// Records appended since open.
    pub(crate) fn appended(&self) -> u64 {
        self.appended
    }

    /// The segment being written, for the fsync thread.
    pub(crate) fn active_file(&self) -> io::Result<File> {
        self.segments
            .get(&self.active)
            .map(|s| s.file.try_clone())
            .unwrap_or_else(|| Err(io::Error::other("no active segment")))
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    fn publish(n: u32) -> StoredPublish {
        StoredPublish {
            topic: Bytes::from_static(b"t"),
            payload: Bytes::from(n.to_string()),
            qos: 1,
            retain: false,
            properties: None,
            trace: None,
        }
    }

    fn payloads(log: &mut Log) -> Vec<String> {
        std::iter::from_fn(|| log.take_unsent())
            .map(|(_, p)| String::from_utf8(p.payload.to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn what_is_owed_at_a_restart_comes_back_in_order_and_acked_publishes_do_not() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, torn) = Log::open(dir.path()).unwrap();
        assert!(torn.is_empty());
        for n in 0..5 {
            log.append(&publish(n)).unwrap();
        }
        let (first, _) = log.take_unsent().unwrap();
        let (second, _) = log.take_unsent().unwrap();
        assert!(log.ack(first).unwrap());
        assert!(!log.ack(first).unwrap(), "acked once");
        drop(log);
        let (mut log, _) = Log::open(dir.path()).unwrap();
        assert_eq!(
            payloads(&mut log),
            ["1", "2", "3", "4"],
            "{second} was in flight"
        );
        let next = log.append(&publish(9)).unwrap();
        assert!(next > 5, "sequence numbers go on: {next}");
    }

    #[test]
    fn finished_segments_are_deleted_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path()).unwrap();
        let big = StoredPublish {
            payload: Bytes::from(vec![b'x'; 3 * 1024 * 1024]),
            ..publish(0)
        };
        for _ in 0..4 {
            log.append(&big).unwrap();
        }
        assert!(log.segments.len() >= 2, "{}", log.segments.len());
        let seqs: Vec<u64> = std::iter::from_fn(|| log.take_unsent())
            .map(|(s, _)| s)
            .collect();
        // The newest acked first: the older segments still owe, nothing goes.
        let files = || segment_ids(dir.path()).unwrap().len();
        let before = files();
        log.ack(seqs[3]).unwrap();
        assert_eq!(files(), before);
        for seq in &seqs[..3] {
            log.ack(*seq).unwrap();
        }
        assert_eq!(files(), 1, "only the active segment is left");
        assert_eq!(log.owed(), 0);
        assert_eq!(log.owed_bytes(), 0);
    }

    #[test]
    fn a_segment_cut_at_any_byte_opens_with_the_whole_records_before_the_cut() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path()).unwrap();
        for n in 0..3 {
            log.append(&publish(n)).unwrap();
        }
        let path = segment_path(dir.path(), log.active);
        drop(log);
        let whole = std::fs::read(&path).unwrap();
        let record = whole.len() / 3;
        for cut in [1, record - 1, record + 3, 2 * record + 1, whole.len() - 1] {
            let copy = tempfile::tempdir().unwrap();
            std::fs::write(copy.path().join(path.file_name().unwrap()), &whole[..cut]).unwrap();
            let (mut log, torn) = Log::open(copy.path()).unwrap();
            assert_eq!(torn.len(), 1, "cut at {cut}: {torn:?}");
            assert_eq!(payloads(&mut log).len(), cut / record, "cut at {cut}");
        }
    }

    #[test]
    fn dropping_the_oldest_takes_the_oldest_not_handed_on() {
        let dir = tempfile::tempdir().unwrap();
        let (mut log, _) = Log::open(dir.path()).unwrap();
        for n in 0..3 {
            log.append(&publish(n)).unwrap();
        }
        let (first, _) = log.take_unsent().unwrap();
        let second = log.drop_oldest().unwrap().unwrap();
        assert_eq!(second, first + 1, "the session holds the first");
        assert_eq!(log.owed(), 2);
        assert!(log.ack(first).unwrap(), "the first is still owed");
        drop(log);
        let (mut log, _) = Log::open(dir.path()).unwrap();
        assert_eq!(
            payloads(&mut log),
            ["2"],
            "the dropped one is gone for good"
        );
    }
}
