//! The Raft log, vote and commit pointer in sled.
//!
//! Log keys are big-endian `u64` indexes, so sled's key order is log order
//! and ranges are index ranges. Values are MessagePack with field names, so
//! a `Command` gaining a `#[serde(default)]` field still reads old entries.
//! Durability rule: a vote is flushed before `save_vote` returns, and an
//! append is reported done (`log_io_completed`) only after sled's flush, which
//! fsyncs. An acknowledged write therefore survives `kill -9`.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::path::Path;

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{Entry, RaftLogId, Vote};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{io_err, LogId, NodeId, StorageError, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

/// Cheap to clone: sled handles are reference counted. The clone is the
/// `LogReader` replication tasks use.
#[derive(Debug, Clone)]
pub struct SledLogStore {
    db: sled::Db,
    logs: sled::Tree,
    meta: sled::Tree,
}

fn encode<T: Serialize>(v: &T) -> Result<Vec<u8>, StorageError> {
    rmp_serde::to_vec_named(v).map_err(|e| io_err(true, &e))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StorageError> {
    rmp_serde::from_slice(bytes).map_err(|e| io_err(false, &e))
}

fn key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

impl SledLogStore {
    /// Open (or create) the store in `dir`.
    pub fn open(dir: &Path) -> Result<Self, StorageError> {
        let db = sled::open(dir).map_err(|e| io_err(false, &e))?;
        Self::from_db(db)
    }

    /// A store on an existing sled database (tests use temporary ones).
    pub fn from_db(db: sled::Db) -> Result<Self, StorageError> {
        let logs = db.open_tree("raft_log").map_err(|e| io_err(false, &e))?;
        let meta = db.open_tree("raft_meta").map_err(|e| io_err(false, &e))?;
        Ok(SledLogStore { db, logs, meta })
    }

    async fn flush(&self) -> Result<(), StorageError> {
        self.db
            .flush_async()
            .await
            .map(|_| ())
            .map_err(|e| io_err(true, &e))
    }

    fn get_meta<T: DeserializeOwned>(&self, name: &[u8]) -> Result<Option<T>, StorageError> {
        match self.meta.get(name).map_err(|e| io_err(false, &e))? {
            Some(bytes) => decode(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn put_meta<T: Serialize>(&self, name: &[u8], v: &T) -> Result<(), StorageError> {
        self.meta
            .insert(name, encode(v)?)
            .map(|_| ())
            .map_err(|e| io_err(true, &e))
    }

    /// The number of entries currently kept (for compaction tests and metrics).
    pub fn len(&self) -> usize {
        self.logs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.logs.is_empty()
    }
}

impl RaftLogReader<TypeConfig> for SledLogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        let start = match range.start_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let end = match range.end_bound() {
            Bound::Included(i) => Bound::Included(key(*i)),
            Bound::Excluded(i) => Bound::Excluded(key(*i)),
            Bound::Unbounded => Bound::Unbounded,
        };
        let mut out = Vec::new();
        for kv in self.logs.range::<[u8; 8], _>((start, end)) {
            let (_, v) = kv.map_err(|e| io_err(false, &e))?;
            out.push(decode(&v)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for SledLogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged: Option<LogId> = self.get_meta(LAST_PURGED)?;
        let last = match self.logs.last().map_err(|e| io_err(false, &e))? {
            Some((_, v)) => Some(*decode::<Entry<TypeConfig>>(&v)?.get_log_id()),
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
        self.put_meta(VOTE, vote)?;
        self.flush().await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        self.get_meta(VOTE)
    }

    /// Recorded so a restart replays the log up to the commit point; flushed
    /// with the next append or vote (losing it only means replaying less
    /// eagerly, never losing an acknowledged write).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        self.put_meta(COMMITTED, &committed)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.get_meta::<Option<LogId>>(COMMITTED)?.flatten())
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
        let mut batch = sled::Batch::default();
        for entry in entries {
            batch.insert(&key(entry.get_log_id().index), encode(&entry)?);
        }
        self.logs.apply_batch(batch).map_err(|e| io_err(true, &e))?;
        // Readable now; durable only once flushed. Report completion after.
        let flushed = self.db.flush_async().await;
        match flushed {
            Ok(_) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = io_err(true, &e);
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(err)
            }
        }
    }

    /// Delete `[log_id.index, ∞)`: entries a new leader overwrote.
    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let mut batch = sled::Batch::default();
        for kv in self.logs.range(key(log_id.index)..) {
            let (k, _) = kv.map_err(|e| io_err(false, &e))?;
            batch.remove(k);
        }
        self.logs.apply_batch(batch).map_err(|e| io_err(true, &e))?;
        self.flush().await
    }

    /// Delete `(-∞, log_id.index]` after a snapshot. The purge point is made
    /// durable first, so a crash mid-purge never leaves a hole openraft
    /// does not know about.
    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.put_meta(LAST_PURGED, &log_id)?;
        self.flush().await?;
        let mut batch = sled::Batch::default();
        for kv in self.logs.range(..=key(log_id.index)) {
            let (k, _) = kv.map_err(|e| io_err(false, &e))?;
            batch.remove(k);
        }
        self.logs.apply_batch(batch).map_err(|e| io_err(true, &e))?;
        self.flush().await
    }
}
