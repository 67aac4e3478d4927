//! The Raft state machine: `drover_state::State` behind openraft's trait.
//!
//! All real work is `State::apply`; this file records what openraft needs
//! (last applied log id, membership), wakes the watchers of the keys a write
//! touched, and keeps snapshots as files. The state itself lives in memory
//! and is made durable by the Raft log plus snapshots: on start the newest
//! snapshot file is restored and openraft replays the log after it. A
//! snapshot that cannot be written (a full disk) is kept in memory and the
//! log is not purged past the one on disk, so it costs nothing but room.
//!
//! Readers share [`Shared`]: they read under the state's read lock and
//! register their watch before releasing it, while apply writes under the
//! write lock and wakes afterwards, so no wake-up falls between a read and
//! its registration.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::snapshot_file;
use super::snapshot_policy::CommandCount;
use super::{io_err, LogId, Node, NodeId, StorageError, TypeConfig, WriteOutcome};
use drover_state::{EventRetention, State, WatchKey, WatchRegistry};
use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{Entry, EntryPayload, RaftSnapshotBuilder, SnapshotMeta, StoredMembership};

const SNAPSHOT_FILE: &str = "state.snap";

/// The state and the Raft bookkeeping that goes with it.
#[derive(Debug)]
pub struct Applied {
    pub state: State,
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership<NodeId, Node>,
}

/// What the HTTP layer and the state machine share.
#[derive(Debug)]
pub struct Shared {
    applied: RwLock<Applied>,
    watches: Arc<WatchRegistry>,
    /// The latest applied index, published after every apply so event
    /// streams know new events may be in the log.
    applied_tx: tokio::sync::watch::Sender<u64>,
    /// The index of the last applied state restore (0: none); the leader
    /// duties start over from the new state when it changes.
    restored_tx: tokio::sync::watch::Sender<u64>,
    dir: PathBuf,
    retention: EventRetention,
    /// The current snapshot's metadata (its bytes are the file).
    snapshot_meta: Mutex<Option<SnapshotMeta<NodeId, Node>>>,
    /// Distinguishes snapshots built at the same log id.
    builds: Mutex<u64>,
    /// One past the last index the snapshot file on disk covers (0: none).
    /// The log store purges no further, so a snapshot that could not be
    /// written (a full disk) never costs the log entries it replaced.
    durable: Arc<AtomicU64>,
    /// A snapshot built but not written to disk, kept for
    /// `get_current_snapshot` until a later build is written.
    unwritten: Mutex<Option<Vec<u8>>>,
    /// Set from opening until openraft has read its initial state:
    /// `StorageHelper::get_initial_state` (openraft 0.9
    /// `storage/helper.rs`) asks for the current snapshot only for its
    /// metadata, and reading a file of hundreds of megabytes for that
    /// was a tenth of a restart. While set, the snapshot is served
    /// without its bytes.
    metadata_only: AtomicBool,
    /// Commands applied since the last snapshot ([`super::snapshot_policy`]).
    commands: Arc<CommandCount>,
    /// Snapshot after this many commands.
    snapshot_every: u64,
}

impl Shared {
    /// Read the state. Register watches before dropping the guard.
    pub fn read(&self) -> RwLockReadGuard<'_, Applied> {
        // A poisoned lock means a reader panicked; the state is unchanged by
        // readers, so it is still consistent.
        self.applied.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Applied> {
        self.applied.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Changes whenever entries are applied (or a snapshot installed).
    pub fn subscribe_applied(&self) -> tokio::sync::watch::Receiver<u64> {
        self.applied_tx.subscribe()
    }

    /// Changes when a state restore is applied.
    pub fn subscribe_restored(&self) -> tokio::sync::watch::Receiver<u64> {
        self.restored_tx.subscribe()
    }

    pub fn watches(&self) -> &Arc<WatchRegistry> {
        &self.watches
    }

    fn snapshot_path(&self) -> PathBuf {
        self.dir.join(SNAPSHOT_FILE)
    }

    /// One past the last index the snapshot on disk covers (0: none).
    pub fn durable_snapshot(&self) -> Arc<AtomicU64> {
        self.durable.clone()
    }

    /// The count of commands applied that decides when to snapshot.
    /// Whether more is unsnapshotted than the configured threshold: a
    /// graceful stop then writes a snapshot, so the next start replays
    /// nothing.
    pub fn snapshot_due_at_stop(&self) -> bool {
        self.snapshot_every > 0 && self.commands.since_snapshot() > self.snapshot_every
    }

    pub fn commands(&self) -> &Arc<CommandCount> {
        &self.commands
    }

    /// openraft has its initial state: from now on the current snapshot
    /// is served with its bytes.
    pub fn started(&self) {
        self.metadata_only.store(false, Ordering::SeqCst);
    }

    fn snapshot_written(&self, meta: &SnapshotMeta<NodeId, Node>) {
        let next = meta.last_log_id.map_or(0, |l| l.index + 1);
        self.durable.fetch_max(next, Ordering::SeqCst);
        *self.unwritten.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// Restores run the two halves of rebuilding the derived indexes on two
/// threads: a restart at 50,000 jobs spends a third of its time there.
struct Threads;

impl drover_state::Join for Threads {
    fn join<A: Send, B: Send>(
        &self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        std::thread::scope(|scope| {
            let b = scope.spawn(b);
            let a = a();
            match b.join() {
                Ok(b) => (a, b),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }
}

/// The openraft state machine. Cheap to clone; clones are snapshot builders.
#[derive(Debug, Clone)]
pub struct StateMachineStore {
    shared: Arc<Shared>,
}

impl StateMachineStore {
    /// Open the state machine in `dir`, restoring the newest snapshot there.
    /// A snapshot is due every `snapshot_every` commands applied.
    pub fn open(
        dir: &Path,
        retention: EventRetention,
        snapshot_every: u64,
    ) -> Result<Self, StorageError> {
        fs::create_dir_all(dir).map_err(|e| io_err(true, &e))?;
        let mut applied = Applied {
            state: State::new(retention),
            last_applied: None,
            membership: StoredMembership::default(),
        };
        let mut meta = None;
        let path = dir.join(SNAPSHOT_FILE);
        if path.exists() {
            let t = std::time::Instant::now();
            let bytes = fs::read(&path).map_err(|e| io_err(false, &e))?;
            let (file_meta, state) = snapshot_file::split(&bytes).map_err(|e| io_err(false, &e))?;
            applied.state =
                State::restore_with(state, retention, &Threads).map_err(|e| io_err(false, &e))?;
            tracing::info!(
                index = file_meta.last_log_id.map_or(0, |l| l.index),
                bytes = bytes.len(),
                elapsed_ms = t.elapsed().as_millis() as u64,
                "restored the state from its snapshot"
            );
            applied.last_applied = file_meta.last_log_id;
            applied.membership = file_meta.last_membership.clone();
            meta = Some(file_meta);
        }
        let durable = meta
            .as_ref()
            .and_then(|m: &SnapshotMeta<NodeId, Node>| m.last_log_id)
            .map_or(0, |l| l.index + 1);
        let shared = Shared {
            applied: RwLock::new(applied),
            watches: Arc::new(WatchRegistry::new()),
            applied_tx: tokio::sync::watch::channel(0).0,
            restored_tx: tokio::sync::watch::channel(0).0,
            dir: dir.to_path_buf(),
            retention,
            snapshot_meta: Mutex::new(meta),
            builds: Mutex::new(0),
            durable: Arc::new(AtomicU64::new(durable)),
            unwritten: Mutex::new(None),
            metadata_only: AtomicBool::new(true),
            commands: Arc::new(CommandCount::default()),
            snapshot_every,
        };
        Ok(StateMachineStore {
            shared: Arc::new(shared),
        })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The snapshot file's bytes, if there is one.
    fn current_snapshot_file(&self) -> Result<Option<Vec<u8>>, StorageError> {
        let path = self.shared.snapshot_path();
        if !path.exists() {
            return Ok(None);
        }
        fs::read(&path).map(Some).map_err(|e| io_err(false, &e))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        // Applies wait while the read lock is held, so it is held only to
        // copy the state (persistent maps: a copy shares every row);
        // encoding it into the file happens after, beside the writes.
        let (copy, last_applied, membership) = {
            let applied = self.shared.read();
            // Applies count under the write lock: none is half counted.
            self.shared.commands.snapshot_taken();
            (
                applied.state.clone(),
                applied.last_applied,
                applied.membership.clone(),
            )
        };
        let build = {
            let mut b = self.shared.builds.lock().unwrap_or_else(|e| e.into_inner());
            *b += 1;
            *b
        };
        let snapshot_id = match last_applied {
            Some(id) => format!("{}-{}-{build}", id.leader_id, id.index),
            None => format!("none-{build}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        // A snapshot that cannot be written (a full disk) is not fatal: the
        // log keeps what it would have replaced (see `durable`), the
        // snapshot is kept in memory for followers, and the next build
        // tries again.
        // Encoding takes a while for a large state: off the async workers.
        let (path, file_meta) = (self.shared.snapshot_path(), meta.clone());
        let (written, copy) = tokio::task::spawn_blocking(move || {
            let written = snapshot_file::write(&path, &file_meta, &copy);
            (written, copy)
        })
        .await
        .map_err(|e| io_err(true, &e))?;
        match written {
            Ok(()) => self.shared.snapshot_written(&meta),
            Err(e) => {
                tracing::error!(error = %e, "snapshot not written; the Raft log keeps its entries until one is");
                let bytes = snapshot_file::encode(&meta, &copy).map_err(|e| io_err(true, &e))?;
                *self
                    .shared
                    .unwritten
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some(bytes);
            }
        }
        drop(copy);
        *self
            .shared
            .snapshot_meta
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(meta.clone());
        // openraft keeps only the metadata of a snapshot it had built
        // (`get_current_snapshot` reads the file when a follower needs it).
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(Vec::new())),
        })
    }
}

/// A committed entry, ready to apply: its command already decoded.
enum Step {
    Command(Arc<drover_state::Command>),
    Membership(openraft::Membership<NodeId, Node>),
    Blank,
}

/// An entry whose command cannot be applied: a storage error naming it,
/// as openraft reports a failed apply.
fn io_err_at(log_id: LogId, e: &super::payload::PayloadError) -> StorageError {
    StorageError::from(openraft::StorageIOError::apply(
        log_id,
        openraft::AnyError::new(e),
    ))
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId>, StoredMembership<NodeId, Node>), StorageError> {
        let applied = self.shared.read();
        Ok((applied.last_applied, applied.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<WriteOutcome>, StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        // Decoded before the state lock is taken, so readers never wait
        // on a decode (the leader's own entries are not decoded at all).
        let steps = entries
            .into_iter()
            .map(|entry| {
                let step = match entry.payload {
                    EntryPayload::Normal(p) => {
                        let cmd = p.command().map_err(|e| io_err_at(entry.log_id, &e))?;
                        // Copies of this entry kept for replication keep
                        // only its bytes from here on.
                        p.release();
                        Step::Command(cmd)
                    }
                    EntryPayload::Membership(m) => Step::Membership(m),
                    EntryPayload::Blank => Step::Blank,
                };
                Ok((entry.log_id, step))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        let mut outcomes = Vec::new();
        let mut touched: Vec<WatchKey> = Vec::new();
        let mut restored = None;
        let mut commands = 0;
        {
            let mut applied = self.shared.write();
            for (log_id, step) in steps {
                let index = log_id.index;
                applied.last_applied = Some(log_id);
                let mut batch = Vec::new();
                let result = match step {
                    Step::Command(cmd) => {
                        let outcome = applied.state.apply(index, &cmd);
                        touched.extend(outcome.touched);
                        if outcome.everything {
                            restored = Some(index);
                        }
                        batch = outcome.batch;
                        commands += batch.len().max(1) as u64;
                        outcome.result
                    }
                    Step::Membership(m) => {
                        applied.membership = StoredMembership::new(Some(log_id), m);
                        applied.state.advance_to(index);
                        Ok(())
                    }
                    Step::Blank => {
                        applied.state.advance_to(index);
                        Ok(())
                    }
                };
                outcomes.push(WriteOutcome {
                    index,
                    result,
                    batch,
                });
            }
            let rows = applied.state.row_count() as u64;
            self.shared
                .commands
                .applied(commands, rows, self.shared.snapshot_every);
        }
        touched.sort_unstable();
        touched.dedup();
        match restored {
            // Everything may have changed: every parked read re-runs.
            Some(index) => {
                self.shared.watches.wake_all();
                self.shared.restored_tx.send_replace(index);
            }
            None => {
                self.shared.watches.wake(&touched);
            }
        }
        if let Some(last) = outcomes.last() {
            self.shared.applied_tx.send_replace(last.index);
        }
        Ok(outcomes)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<NodeId, Node>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        // Decoding a large state and syncing its file take seconds: off
        // the async workers, which go on answering the leader meanwhile.
        let (path, file_meta, retention) = (
            self.shared.snapshot_path(),
            meta.clone(),
            self.shared.retention,
        );
        let state = tokio::task::spawn_blocking(move || {
            let (_, encoded) = snapshot_file::split(&bytes).map_err(|e| io_err(false, &e))?;
            let state =
                State::restore_with(encoded, retention, &Threads).map_err(|e| io_err(false, &e))?;
            // Keep the leader's metadata (it names this snapshot) with its state.
            snapshot_file::write_encoded(&path, &file_meta, encoded)
                .map_err(|e| io_err(true, &e))?;
            Ok::<State, StorageError>(state)
        })
        .await
        .map_err(|e| io_err(true, &e))??;
        self.shared.snapshot_written(meta);
        {
            let mut applied = self.shared.write();
            self.shared.commands.snapshot_taken();
            applied.state = state;
            applied.last_applied = meta.last_log_id;
            applied.membership = meta.last_membership.clone();
        }
        *self
            .shared
            .snapshot_meta
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(meta.clone());
        // Everything may have changed: every parked read re-runs.
        self.shared.watches.wake_all();
        self.shared
            .applied_tx
            .send_replace(meta.last_log_id.map_or(0, |l| l.index));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        if self.shared.metadata_only.swap(false, Ordering::SeqCst) {
            let meta = self
                .shared
                .snapshot_meta
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            return Ok(meta.map(|meta| Snapshot {
                meta,
                snapshot: Box::new(Cursor::new(Vec::new())),
            }));
        }
        let unwritten = self
            .shared
            .unwritten
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let bytes = match unwritten {
            Some(bytes) => bytes,
            None => match self.current_snapshot_file()? {
                Some(bytes) => bytes,
                None => return Ok(None),
            },
        };
        let (meta, _) = snapshot_file::split(&bytes).map_err(|e| io_err(false, &e))?;
        Ok(Some(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
