//! drover-state: commands, deterministic apply, indexed tables, watches,
//! the event log, snapshots, the filter language and pagination.
//!
//! Architecture Invariant: no I/O, no tokio, no clock, no randomness.
//! `State::apply(index, cmd)` reads only its arguments and the tables,
//! iterates only ordered maps, and never panics: the same log gives the
//! same bytes on every server.

mod acl;
mod apply;
mod changes;
mod collections;
pub mod command;
pub mod events;
pub mod filter;
mod maps;
pub mod namespaces;
pub mod pagination;
pub mod periodic;
mod read;
mod read_lifecycle;
mod row_ix;
mod snapshot;
mod summary;
mod tables;
pub mod usage;
pub mod watch;

pub use apply::{Applied, ApplyError};
pub use command::Command;
pub use events::{EventBatch, EventLog, EventLogError, EventRetention, LoggedEvent, Object};
pub use read::NamespaceSel;
pub use snapshot::SnapshotError;
pub use tables::{AllocRow, TRACKED_JOB_VERSIONS};
pub use watch::{Table, Watch, WatchKey, WatchRegistry, WatchSet};

/// The whole replicated state at one Raft index.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    tables: tables::Tables,
    events: EventLog,
    last_index: u64,
    /// The index of the last [`Command::StateRestore`] (0: none): every
    /// read reports at least this, since anything may have changed there.
    restored_at: u64,
    /// The cluster's ID, once its first leader wrote it.
    cluster: Option<command::ClusterMetadata>,
}

/// Row counts of the main tables ([`State::table_sizes`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableSizes {
    pub jobs: usize,
    pub evals: usize,
    pub allocs: usize,
    pub nodes: usize,
    pub deployments: usize,
}

impl Default for State {
    fn default() -> Self {
        State::new(EventRetention::default())
    }
}

impl State {
    pub fn new(retention: EventRetention) -> Self {
        State {
            tables: Default::default(),
            events: EventLog::new(retention),
            last_index: 0,
            restored_at: 0,
            cluster: None,
        }
    }

    /// How many objects the state stores (jobs and their versions,
    /// evaluations, allocations, nodes, deployments): what a snapshot
    /// writes grows with it.
    pub fn row_count(&self) -> usize {
        let s = self.table_sizes();
        s.jobs + self.tables.job_versions.len() + s.evals + s.allocs + s.nodes + s.deployments
    }

    /// How many rows the main tables hold, without reading them (the maps
    /// keep their lengths): what `/v1/metrics` reports on every scrape.
    pub fn table_sizes(&self) -> TableSizes {
        let t = &self.tables;
        TableSizes {
            jobs: t.jobs.len(),
            evals: t.evals.len(),
            allocs: t.allocs.len(),
            nodes: t.nodes.len(),
            deployments: t.deployments.len(),
        }
    }

    /// The Raft index of the last applied command (0 when empty).
    pub fn latest_index(&self) -> u64 {
        self.last_index
    }

    /// Note an index that carried no command (a Raft blank or membership
    /// entry) so `latest_index` keeps up with the log.
    pub fn advance_to(&mut self, index: u64) {
        self.last_index = self.last_index.max(index);
    }

    /// The index of the last state restore (0: none).
    pub fn restored_at(&self) -> u64 {
        self.restored_at
    }

    /// Replace the tables with those of a [`State::snapshot`] encoding, at
    /// `index`; on an error nothing changes. The event log stays: it is
    /// this cluster's history.
    pub(crate) fn restore_tables(&mut self, index: u64, snapshot: &[u8]) -> Result<(), ApplyError> {
        let restored = State::restore(snapshot, self.events.retention())
            .map_err(|e| ApplyError::Invalid(format!("the snapshot does not restore: {e}")))?;
        self.tables = restored.tables;
        let tables = &self.tables;
        self.events.release_all(|row| tables.holds(row));
        self.restored_at = index;
        Ok(())
    }

    /// The cluster's ID and when it was made, once written
    /// ([`Command::ClusterMetadata`]).
    pub fn cluster(&self) -> Option<&command::ClusterMetadata> {
        self.cluster.as_ref()
    }

    pub fn events(&self) -> &EventLog {
        &self.events
    }

    pub fn set_event_retention(&mut self, retention: EventRetention) {
        self.events.set_retention(retention);
    }
}

/// Runs two independent pieces of work and returns both results, one
/// after the other ([`Sequential`]) or at once: this crate starts no
/// threads, so a caller that may passes its own (the server restores its
/// snapshot on two threads).
pub trait Join {
    fn join<A: Send, B: Send>(
        &self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B);
}

/// [`Join`] on the calling thread, `a` first.
pub struct Sequential;

impl Join for Sequential {
    fn join<A: Send, B: Send>(
        &self,
        a: impl FnOnce() -> A + Send,
        b: impl FnOnce() -> B + Send,
    ) -> (A, B) {
        (a(), b())
    }
}
