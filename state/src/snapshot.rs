//! Whole-state snapshots: MessagePack with field names
//! (`rmp_serde::to_vec_named`), so a field added later with
//! `#[serde(default)]` still reads old snapshots. Derived indexes are not
//! written; they are rebuilt on restore, so they cannot disagree with rows.

use serde::{Deserialize, Serialize};

use crate::events::{EventLog, EventRetention};
use crate::tables::Tables;
use crate::State;

/// Bumped only for an incompatible change of the snapshot layout.
const FORMAT: u32 = 1;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    format: u32,
    last_index: u64,
    tables: &'a Tables,
    events: &'a EventLog,
}

#[derive(Deserialize)]
struct SnapshotOwned {
    format: u32,
    last_index: u64,
    tables: Tables,
    events: EventLog,
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("snapshot is not valid MessagePack for this version: {0}")]
    Decode(#[from] rmp_serde::decode::Error),
    #[error("snapshot could not be encoded: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
    #[error("snapshot format {found} is not supported (this build reads format {FORMAT})")]
    Format { found: u32 },
}

impl State {
    /// Serialize the whole state.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        let snap = SnapshotRef {
            format: FORMAT,
            last_index: self.last_index,
            tables: &self.tables,
            events: &self.events,
        };
        Ok(rmp_serde::to_vec_named(&snap)?)
    }

    /// Rebuild a state from [`State::snapshot`] bytes. Garbage is an error,
    /// never a panic.
    pub fn restore(bytes: &[u8], retention: EventRetention) -> Result<State, SnapshotError> {
        let snap: SnapshotOwned = rmp_serde::from_slice(bytes)?;
        if snap.format != FORMAT {
            return Err(SnapshotError::Format { found: snap.format });
        }
        let mut tables = snap.tables;
        tables.rebuild();
        let mut events = snap.events;
        events.set_retention(retention);
        Ok(State {
            tables,
            events,
            last_index: snap.last_index,
        })
    }
}
