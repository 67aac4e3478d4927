//! openraft's log storage on Drover's own write-ahead log ([`super::wal`]).
//!
//! Entries are MessagePack with field names, so a `Command` gaining a
//! `#[serde(default)]` field still reads old entries. Durability rule: a
//! vote is on disk before `save_vote` returns, and an append is reported
//! done (`log_io_completed`) only after the flusher's `fdatasync` covered
//! it. `append` itself only queues; appends that arrive during one sync
//! share the next. (openraft 0.9's core waits for each append's completion
//! before it appends again, so concurrent writes share a sync by sharing
//! an entry: see [`super::propose`].)
//!
//! The newest entries are also kept in memory ([`Tail`]), as openraft
//! handed them over: replication to each follower and the apply of
//! committed entries read what was just written, and would otherwise read
//! it back from the segment files and decode it once per reader. A copy
//! costs two reference counts (a payload is its encoded bytes, shared).

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, RaftLogId, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wal::{Durable, Meta, Wal, WalError};
use super::{io_err, LogId, NodeId, StorageError, TypeConfig};

/// Cheap to clone; the clone is the `LogReader` replication tasks use.
#[derive(Debug, Clone)]
pub struct LogStore {
    wal: Wal,
    /// The meta file's contents, kept so one field can change at a time.
    meta: Arc<std::sync::Mutex<Meta>>,
    /// One past the last index the snapshot on disk covers, when known:
    /// nothing newer is purged (see [`LogStore::purge_only_below`]).
    purge_limit: Option<Arc<AtomicU64>>,
    /// A purge openraft asked for beyond `purge_limit`, not done yet.
    deferred: Arc<std::sync::Mutex<Option<LogId>>>,
    tail: Arc<std::sync::Mutex<Tail>>,
}

/// At most this many of the newest entries are kept in memory...
const TAIL_ENTRIES: usize = 1024;
/// ...and at most this many of their encoded bytes. Followers in step
/// and the apply of committed entries read the last few entries; one
/// that lags further reads the files, as before. (With 16 MiB, RSS at
/// 50,000 jobs in `cargo bench --bench growth` grew by about 20 MiB.)
const TAIL_BYTES: usize = 4 << 20;

/// The newest entries, contiguous, ending at the log's last entry.
#[derive(Debug, Default)]
struct Tail {
    entries: std::collections::VecDeque<Entry<TypeConfig>>,
    bytes: usize,
}

fn entry_bytes(e: &Entry<TypeConfig>) -> usize {
    match &e.payload {
        openraft::EntryPayload::Normal(p) => p.bytes().len(),
        _ => 64,
    }
}

impl Tail {
    fn first(&self) -> Option<u64> {
        self.entries.front().map(|e| e.log_id.index)
    }

    fn push(&mut self, entry: Entry<TypeConfig>) {
        let index = entry.log_id.index;
        match self.entries.back().map(|e| e.log_id.index) {
            // An entry overwriting some of the kept ones.
            Some(last) if index <= last => self.truncate(index),
            // Not the next one: what is kept no longer ends at the log's end.
            Some(last) if index != last + 1 => self.clear(),
            _ => {}
        }
        self.bytes += entry_bytes(&entry);
        self.entries.push_back(entry);
        while (self.entries.len() > TAIL_ENTRIES || self.bytes > TAIL_BYTES) && self.pop_front() {}
    }

    /// Forget `[from, ∞)`.
    fn truncate(&mut self, from: u64) {
        while self.entries.back().is_some_and(|e| e.log_id.index >= from) {
            if let Some(e) = self.entries.pop_back() {
                self.bytes -= entry_bytes(&e);
            }
        }
    }

    /// Forget `(-∞, upto]`.
    fn purge(&mut self, upto: u64) {
        while self.entries.front().is_some_and(|e| e.log_id.index <= upto) && self.pop_front() {}
    }

    /// Forget the oldest entry kept; whether there was one.
    fn pop_front(&mut self) -> bool {
        match self.entries.pop_front() {
            Some(e) => {
                self.bytes -= entry_bytes(&e);
                true
            }
            None => false,
        }
    }

    fn clear(&mut self) {
        self.entries.clear();
        self.bytes = 0;
    }

    /// `[from, to)`, when every entry of it that exists is kept here.
    fn get(&self, from: u64, to: u64) -> Option<Vec<Entry<TypeConfig>>> {
        let first = self.first()?;
        if from < first {
            return None;
        }
        let skip = usize::try_from(from - first).ok()?;
        let take = usize::try_from(to.saturating_sub(from)).unwrap_or(usize::MAX);
        Some(self.entries.iter().skip(skip).take(take).cloned().collect())
    }
}

/// How long an append after a gap waits for the snapshot that fills the
/// gap to be on disk ([`LogStore::close_gap`]).
const GAP_WAIT: std::time::Duration = std::time::Duration::from_secs(120);

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    rmp_serde::to_vec_named(v).map_err(|e| io_err(true, &e))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    rmp_serde::from_slice(bytes).map_err(|e| io_err(false, &e))
}

fn wal_err(write: bool) -> impl Fn(WalError) -> StorageError {
    move |e| io_err(write, &e)
}

impl LogStore {
    /// Open (or create) the log in `dir`, with segments of `segment_size`.
    pub fn open(dir: &Path, segment_size: u64) -> Result<Self, StorageError> {
        let (wal, meta) = Wal::open(dir, segment_size).map_err(wal_err(false))?;
        Ok(LogStore {
            wal,
            meta: Arc::new(std::sync::Mutex::new(meta)),
            purge_limit: None,
            deferred: Arc::new(std::sync::Mutex::new(None)),
            tail: Arc::default(),
        })
    }

    /// Purge only entries a snapshot on disk covers: `limit` is one past
    /// its last index (0: none), kept by the state machine. openraft purges
    /// after every snapshot it builds; when that snapshot could not be
    /// written, the purge waits for a later one that was.
    pub fn purge_only_below(&mut self, limit: Arc<AtomicU64>) {
        self.purge_limit = Some(limit);
    }

    /// The write-ahead log underneath (health, stats, shutdown).
    pub fn wal(&self) -> &Wal {
        &self.wal
    }

    /// The number of entries currently kept (for compaction tests).
    pub fn len(&self) -> usize {
        self.wal.bounds().map_or(0, |(a, b)| (b - a + 1) as usize)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update_meta(&self, change: impl FnOnce(&mut Meta)) -> Result<(), StorageError> {
        let mut meta = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = meta.clone();
        change(&mut next);
        self.wal.save_meta(&next).map_err(wal_err(true))?;
        *meta = next;
        Ok(())
    }

    /// Purge `(-∞, log_id.index]`: the purge point durable first, then
    /// the entries.
    fn purge_now(&self, log_id: LogId) -> Result<(), StorageError> {
        let bytes = encode(&log_id)?;
        self.update_meta(|m| m.purged = Some((log_id.index, bytes)))?;
        self.tail().purge(log_id.index);
        self.wal.purge(log_id.index);
        Ok(())
    }

    /// Before appending `first` when the log ends before `first - 1`: a
    /// follower installed the leader's snapshot, and openraft asked to
    /// purge what it covers while the state machine was still installing
    /// it (openraft 0.9 runs the two at once), so that purge was deferred.
    /// Wait until the snapshot is on disk, then do it, so the log goes on
    /// without a gap. A crash before then finds the old log and the old
    /// snapshot, as if the install had not begun.
    async fn close_gap(&self, first: u64) -> Result<(), StorageError> {
        let Some((_, last)) = self.wal.bounds() else {
            return Ok(());
        };
        if first <= last + 1 {
            return Ok(());
        }
        let deferred = *self.deferred.lock().unwrap_or_else(|e| e.into_inner());
        let Some(upto) = deferred.filter(|d| d.index + 1 >= first) else {
            // The WAL refuses the gap with an error naming the entry.
            return Ok(());
        };
        let deadline = tokio::time::Instant::now() + GAP_WAIT;
        while let Some(limit) = &self.purge_limit {
            if limit.load(Ordering::SeqCst) > upto.index {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                let e = std::io::Error::other(format!(
                    "the snapshot up to log entry {} was not on disk within {GAP_WAIT:?}",
                    upto.index
                ));
                return Err(io_err(true, &e));
            }
            // The state machine's install, on its own task, moves the
            // limit; polled, as the limit is a plain atomic.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.deferred
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        tracing::info!(
            index = upto.index,
            "purged the Raft log up to the installed snapshot"
        );
        self.purge_now(upto)
    }

    /// Queue `entries` on the log (`done` runs once a sync covered them)
    /// and keep them in the tail.
    fn write(&self, entries: Vec<Entry<TypeConfig>>, done: Durable) -> Result<(), StorageError> {
        let records = entries
            .iter()
            .map(|e| Ok((e.get_log_id().index, encode(e)?)))
            .collect::<Result<Vec<_>, StorageError>>()?;
        let mut tail = self.tail();
        if let Err(e) = self.wal.append(records, done) {
            // What the log holds is no longer known here: read it back.
            tail.clear();
            return Err(wal_err(true)(e));
        }
        for entry in entries {
            tail.push(entry);
        }
        Ok(())
    }

    fn tail(&self) -> std::sync::MutexGuard<'_, Tail> {
        self.tail.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn last_purged(&self) -> Result<Option<LogId>, StorageError> {
        let meta = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        meta.purged
            .as_ref()
            .map(|(_, bytes)| decode(bytes))
            .transpose()
    }
}

fn bounds<RB: RangeBounds<u64>>(range: &RB) -> (u64, u64) {
    let from = match range.start_bound() {
        Bound::Included(i) => *i,
        Bound::Excluded(i) => i.saturating_add(1),
        Bound::Unbounded => 0,
    };
    let to = match range.end_bound() {
        Bound::Included(i) => i.saturating_add(1),
        Bound::Excluded(i) => *i,
        Bound::Unbounded => u64::MAX,
    };
    (from, to)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let (from, to) = bounds(&range);
        if let Some(entries) = self.tail().get(from, to) {
            return Ok(entries);
        }
        let records = self.wal.read(from, to).map_err(wal_err(false))?;
        records.iter().map(|(_, bytes)| decode(bytes)).collect()
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged = self.last_purged()?;
        let last = match self.wal.bounds() {
            Some((_, last)) => {
                let records = self.wal.read(last, last + 1).map_err(wal_err(false))?;
                match records.first() {
                    Some((_, bytes)) => Some(*decode::<Entry<TypeConfig>>(bytes)?.get_log_id()),
                    None => last_purged,
                }
            }
            None => last_purged,
        };
        Ok(LogState {
            last_purged_log_id: last_purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        let bytes = encode(vote)?;
        self.update_meta(|m| m.vote = Some(bytes))
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        let meta = self.meta.lock().unwrap_or_else(|e| e.into_inner());
        meta.vote.as_deref().map(decode).transpose()
    }

    /// Recorded so a restart applies the log up to the commit point at once;
    /// not synced (losing it only means applying less before the first
    /// commit, never losing an acknowledged write).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.wal
            .save_committed(&encode(&committed)?)
            .map_err(wal_err(true))
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        match self.wal.read_committed() {
            Some(bytes) => Ok(decode::<Option<LogId>>(&bytes)?),
            None => Ok(None),
        }
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<Entry<TypeConfig>> = entries.into_iter().collect();
        if let Some(first) = entries.first() {
            self.close_gap(first.get_log_id().index).await?;
        }
        self.write(entries, Box::new(move || callback.log_io_completed(Ok(()))))
    }

    /// Delete `[log_id.index, ∞)`: entries a new leader overwrote.
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.tail().truncate(log_id.index);
        self.wal.truncate(log_id.index).await.map_err(wal_err(true))
    }

    /// Delete `(-∞, log_id.index]` after a snapshot. The purge point is made
    /// durable first, so a crash mid-purge never leaves a hole openraft
    /// does not know about. Entries the snapshot on disk does not cover
    /// stay, and the purge is remembered: a snapshot that could not be
    /// written, or one still being installed ([`LogStore::close_gap`]).
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        if let Some(limit) = &self.purge_limit {
            if log_id.index >= limit.load(Ordering::SeqCst) {
                tracing::info!(
                    index = log_id.index,
                    "not purging the Raft log past the snapshot on disk yet"
                );
                let mut deferred = self.deferred.lock().unwrap_or_else(|e| e.into_inner());
                if deferred.is_none_or(|d| d.index < log_id.index) {
                    *deferred = Some(log_id);
                }
                return Ok(());
            }
        }
        self.purge_now(log_id)
    }
}

impl LogStore {
    /// Import the log an older Drover kept in sled at `old` (trees
    /// `raft_log` and `raft_meta`, values in the same MessagePack), then
    /// rename the directory so it is imported once. Does nothing when `old`
    /// does not exist.
    pub async fn import_sled(&self, old: &Path) -> Result<(), StorageError> {
        if !old.join("db").exists() {
            return Ok(());
        }
        let done = old.with_extension("imported");
        if self.wal.bounds().is_some() {
            // Imported before, and the rename did not happen.
            return std::fs::rename(old, &done).map_err(|e| io_err(true, &e));
        }
        let err = |e: sled::Error| io_err(false, &e);
        let (meta, records) = {
            let db = sled::open(old).map_err(err)?;
            let logs = db.open_tree("raft_log").map_err(err)?;
            let meta = db.open_tree("raft_meta").map_err(err)?;
            let get = |k: &[u8]| meta.get(k).map(|v| v.map(|v| v.to_vec())).map_err(err);
            let purged = match get(b"last_purged")? {
                Some(bytes) => {
                    let id: LogId = decode(&bytes)?;
                    Some((id.index, bytes))
                }
                None => None,
            };
            let mut records = Vec::new();
            for kv in logs.iter() {
                let (k, v) = kv.map_err(err)?;
                let mut ix = [0u8; 8];
                ix.copy_from_slice(&k[..8.min(k.len())]);
                records.push((u64::from_be_bytes(ix), v.to_vec()));
            }
            let vote = get(b"vote")?;
            (Meta { vote, purged }, records)
        };
        tracing::info!(
            entries = records.len(),
            from = %old.display(),
            "importing the Raft log kept in sled by an older Drover"
        );
        self.update_meta(|m| *m = meta)?;
        if !records.is_empty() {
            self.wal
                .append(records, Box::new(|| {}))
                .map_err(wal_err(true))?;
        }
        self.wal.sync().await.map_err(wal_err(true))?;
        std::fs::rename(old, &done).map_err(|e| io_err(true, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::payload::Payload;
    use drover_state::command::ClusterMetadata;
    use drover_state::Command;

    fn entry(term: u64, index: u64) -> Entry<TypeConfig> {
        let cmd = Command::ClusterMetadata(ClusterMetadata {
            cluster_id: format!("{term}-{index}"),
            create_time: 0,
        });
        Entry {
            log_id: openraft::testing::log_id(term, 1, index),
            payload: openraft::EntryPayload::Normal(Payload::new(cmd).unwrap()),
        }
    }

    /// `RaftLogStorage::append` without its flush callback (openraft's
    /// cannot be made outside openraft), waiting for the sync.
    async fn append(log: &mut LogStore, entries: Vec<Entry<TypeConfig>>) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done = Box::new(move || {
            let _ = tx.send(());
        });
        log.write(entries, done).unwrap();
        rx.await.unwrap();
    }

    /// (term, index, cluster ID) of each entry, whether read from memory
    /// or from the files.
    async fn read(log: &mut LogStore, from: u64, to: u64) -> Vec<(u64, u64, String)> {
        log.try_get_log_entries(from..to)
            .await
            .unwrap()
            .into_iter()
            .map(|e| {
                let id = match e.payload {
                    openraft::EntryPayload::Normal(p) => match &*p.command().unwrap() {
                        Command::ClusterMetadata(m) => m.cluster_id.clone(),
                        other => panic!("{other:?}"),
                    },
                    other => panic!("{other:?}"),
                };
                (e.log_id.leader_id.term, e.log_id.index, id)
            })
            .collect()
    }

    #[tokio::test]
    async fn the_tail_in_memory_reads_the_same_as_the_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(dir.path(), 1 << 20).unwrap();
        append(&mut log, (1..=5).map(|i| entry(1, i)).collect()).await;
        assert_eq!(log.tail().first(), Some(1));
        let ids = |v: &[(u64, u64, String)]| v.iter().map(|e| e.1).collect::<Vec<_>>();
        assert_eq!(ids(&read(&mut log, 2, 4).await), [2, 3]);
        assert_eq!(ids(&read(&mut log, 4, 99).await), [4, 5]);

        // A new leader overwrites 4 and 5 with its own 4.
        log.truncate(openraft::testing::log_id(1, 1, 4))
            .await
            .unwrap();
        append(&mut log, vec![entry(2, 4)]).await;
        let now = read(&mut log, 1, 99).await;
        assert_eq!(ids(&now), [1, 2, 3, 4]);
        assert_eq!(now[3], (2, 4, "2-4".to_string()));

        // Purged entries leave memory too; what is left reads the same
        // after a restart, from the files.
        log.purge_now(openraft::testing::log_id(1, 1, 2)).unwrap();
        assert_eq!(log.tail().first(), Some(3));
        let before = read(&mut log, 3, 99).await;
        drop(log);
        let mut reopened = LogStore::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(reopened.tail().first(), None);
        assert_eq!(read(&mut reopened, 3, 99).await, before);
    }

    #[test]
    fn the_tail_is_bounded_and_stays_contiguous() {
        let mut tail = Tail::default();
        for i in 1..=(TAIL_ENTRIES as u64 + 10) {
            tail.push(entry(1, i));
        }
        assert_eq!(tail.entries.len(), TAIL_ENTRIES);
        assert_eq!(tail.first(), Some(11));
        // A read that starts before what is kept goes to the files.
        assert!(tail.get(10, 12).is_none());
        assert_eq!(tail.get(11, 13).map(|v| v.len()), Some(2));
        // An entry after a gap (a snapshot installed) starts afresh.
        tail.push(entry(2, 9_000));
        assert_eq!(tail.first(), Some(9_000));
        assert_eq!(tail.entries.len(), 1);
        assert_eq!(tail.bytes, entry_bytes(&tail.entries[0]));
    }

    #[tokio::test]
    async fn a_purge_past_the_snapshot_on_disk_waits_for_it_and_closes_the_gap() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogStore::open(dir.path(), 1 << 20).unwrap();
        let limit = Arc::new(AtomicU64::new(0));
        log.purge_only_below(limit.clone());
        let records = (1..=3).map(|i| (i, vec![i as u8])).collect();
        log.wal.append(records, Box::new(|| {})).unwrap();

        // A snapshot up to 10 is being installed: nothing is purged yet.
        let upto = openraft::testing::log_id(1, 1, 10);
        log.purge(upto).await.unwrap();
        assert_eq!(log.wal.bounds(), Some((1, 3)));
        assert_eq!(log.last_purged().unwrap(), None);

        // The append of 11 waits for the snapshot, then finds the log
        // purged up to it.
        let closing = {
            let log = log.clone();
            tokio::spawn(async move { log.close_gap(11).await })
        };
        tokio::task::yield_now().await;
        assert!(!closing.is_finished(), "closed the gap before the snapshot");
        limit.store(11, Ordering::SeqCst);
        closing.await.unwrap().unwrap();
        assert_eq!(log.wal.bounds(), None);
        assert_eq!(log.last_purged().unwrap(), Some(upto));
        log.wal
            .append(vec![(11, vec![11])], Box::new(|| {}))
            .unwrap();
        assert_eq!(log.wal.bounds(), Some((11, 11)));
    }
}
