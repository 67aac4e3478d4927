//! The snapshot file: a MessagePack array `[2, meta]` (the layout version
//! and openraft's snapshot metadata), then the state's own snapshot
//! encoding ([`State::snapshot_to`]) directly after it. The state is
//! encoded straight into the file, so building a snapshot never holds the
//! encoded state in memory, and a restart reads the file once and decodes
//! the state from it in place.
//!
//! Files written before this layout hold a map `{meta, state: <binary>}`;
//! they still read (the first byte tells the layouts apart: an array of two
//! against a map of two). What a leader sends a follower is the file's
//! bytes as they are, and `GET /v1/operator/snapshot` answers in the same
//! format, which [`split`] reads back (public for tools and tests).

use std::fs::{self, File};
use std::io::{self, BufWriter, Cursor, Write};
use std::path::Path;

use drover_state::State;
use openraft::SnapshotMeta;
use serde::Deserialize;

use super::{Node, NodeId};

type Meta = SnapshotMeta<NodeId, Node>;

const LAYOUT: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum SnapshotFileError {
    #[error("snapshot file header does not decode: {0}")]
    Header(#[from] rmp_serde::decode::Error),
    #[error("snapshot file layout {0} is not one this build reads (it reads 1 and {LAYOUT})")]
    Layout(u32),
    #[error("snapshot state could not be encoded: {0}")]
    Encode(String),
    #[error("writing the snapshot file: {0}")]
    Io(#[from] io::Error),
}

/// The layout files had before [`LAYOUT`] 2.
#[derive(Deserialize)]
struct Layout1<'a> {
    meta: Meta,
    #[serde(borrow)]
    state: &'a [u8],
}

/// The metadata of a snapshot file's `bytes`, and the state's encoding
/// within them.
pub fn split(bytes: &[u8]) -> Result<(Meta, &[u8]), SnapshotFileError> {
    if bytes.first().is_some_and(|b| *b & 0xf0 == 0x80) {
        let old: Layout1 = rmp_serde::from_slice(bytes)?;
        return Ok((old.meta, old.state));
    }
    let mut cursor = Cursor::new(bytes);
    let (layout, meta): (u32, Meta) = rmp_serde::decode::from_read(&mut cursor)?;
    if layout != LAYOUT {
        return Err(SnapshotFileError::Layout(layout));
    }
    // The cursor stops at the header's end: it never reads ahead.
    let at = usize::try_from(cursor.position()).unwrap_or(bytes.len());
    Ok((meta, bytes.get(at..).unwrap_or_default()))
}

fn header(meta: &Meta) -> Result<Vec<u8>, SnapshotFileError> {
    rmp_serde::to_vec_named(&(LAYOUT, meta)).map_err(|e| SnapshotFileError::Encode(e.to_string()))
}

/// The whole file in memory: for a snapshot that could not be written.
pub fn encode(meta: &Meta, state: &State) -> Result<Vec<u8>, SnapshotFileError> {
    let mut bytes = header(meta)?;
    state
        .snapshot_to(&mut bytes)
        .map_err(|e| SnapshotFileError::Encode(e.to_string()))?;
    Ok(bytes)
}

/// Write the file for `meta` and `state` at `path` durably: into a
/// temporary file as it is encoded, fsync, rename, fsync of the directory.
/// A crash leaves the old file or the new one.
pub fn write(path: &Path, meta: &Meta, state: &State) -> Result<(), SnapshotFileError> {
    replace(path, |w| {
        w.write_all(&header(meta)?)?;
        state
            .snapshot_to(w)
            .map_err(|e| SnapshotFileError::Encode(e.to_string()))
    })
}

/// Write the file for `meta` with a state already encoded (a snapshot
/// received from the leader).
pub fn write_encoded(path: &Path, meta: &Meta, state: &[u8]) -> Result<(), SnapshotFileError> {
    replace(path, |w| {
        w.write_all(&header(meta)?)?;
        Ok(w.write_all(state)?)
    })
}

fn replace(
    path: &Path,
    fill: impl FnOnce(&mut BufWriter<File>) -> Result<(), SnapshotFileError>,
) -> Result<(), SnapshotFileError> {
    let tmp = path.with_extension("tmp");
    {
        let mut w = BufWriter::with_capacity(1 << 20, File::create(&tmp)?);
        fill(&mut w)?;
        let f = w.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta {
        Meta {
            last_log_id: Some(openraft::LogId::new(
                openraft::CommittedLeaderId::new(3, 1),
                42,
            )),
            last_membership: Default::default(),
            snapshot_id: "3-1-42-1".into(),
        }
    }

    #[test]
    fn a_written_file_splits_into_its_meta_and_the_states_encoding() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.snap");
        let state = State::default();
        write(&path, &meta(), &state).unwrap();
        let bytes = fs::read(&path).unwrap();
        let (m, s) = split(&bytes).unwrap();
        assert_eq!(m, meta());
        assert_eq!(s, state.snapshot().unwrap());
        assert_eq!(bytes, encode(&meta(), &state).unwrap());
    }

    #[test]
    fn the_layout_before_streaming_still_reads() {
        #[derive(serde::Serialize)]
        struct Old<'a> {
            meta: Meta,
            #[serde(with = "serde_bytes_as_bin")]
            state: &'a [u8],
        }
        mod serde_bytes_as_bin {
            pub fn serialize<S: serde::Serializer>(v: &&[u8], s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(v)
            }
        }
        let state = State::default().snapshot().unwrap();
        let bytes = rmp_serde::to_vec_named(&Old {
            meta: meta(),
            state: &state,
        })
        .unwrap();
        let (m, s) = split(&bytes).unwrap();
        assert_eq!((m, s), (meta(), state.as_slice()));
    }

    #[test]
    fn garbage_and_unknown_layouts_are_errors() {
        assert!(split(b"").is_err());
        assert!(split(&[0xc1, 0x00]).is_err());
        let future = rmp_serde::to_vec_named(&(9u32, meta())).unwrap();
        assert!(matches!(split(&future), Err(SnapshotFileError::Layout(9))));
    }
}
