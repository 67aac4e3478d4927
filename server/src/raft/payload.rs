//! What a Raft entry carries: a [`Command`], encoded once.
//!
//! A command is encoded (MessagePack with field names, so a `Command`
//! gaining a `#[serde(default)]` field still reads old entries) when it is
//! proposed. Those bytes are what the write-ahead log stores and what
//! AppendEntries carries to every follower, as one MessagePack binary: the
//! leader does not encode an entry again per follower, and neither side
//! decodes a command to move it between the network and the log. The
//! command is decoded when it is applied, at most once per server (the
//! copies openraft makes share the decoded form, which is let go once
//! applied), and the leader applies the command it proposed without
//! decoding it at all.
//!
//! Entries written before this form held the command itself, as a
//! MessagePack map; they still read, and are given their bytes on the way.

use std::fmt;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use drover_state::Command;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A command and its encoding. Cheap to clone.
#[derive(Clone)]
pub struct Payload {
    bytes: Bytes,
    /// Shared by every copy; emptied by [`Payload::release`].
    decoded: Arc<Mutex<Option<Arc<Command>>>>,
}

/// A payload whose bytes are not a command this server knows.
#[derive(Debug, thiserror::Error)]
#[error("a Raft entry's command does not decode: {0}")]
pub struct PayloadError(String);

impl Payload {
    /// Encode `cmd` and keep it, so this server applies it undecoded.
    pub fn new(cmd: Command) -> Result<Payload, PayloadError> {
        let bytes =
            rmp_serde::to_vec_named(&cmd).map_err(|e| PayloadError(format!("encode: {e}")))?;
        Ok(Payload {
            bytes: Bytes::from(bytes),
            decoded: Arc::new(Mutex::new(Some(Arc::new(cmd)))),
        })
    }

    /// A payload from its encoded bytes; decoded when first asked for.
    pub fn from_bytes(bytes: Bytes) -> Payload {
        Payload {
            bytes,
            decoded: Arc::new(Mutex::new(None)),
        }
    }

    /// The command, decoded the first time any copy of this payload asks.
    pub fn command(&self) -> Result<Arc<Command>, PayloadError> {
        let mut decoded = self.decoded.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(cmd) = decoded.as_ref() {
            return Ok(Arc::clone(cmd));
        }
        let cmd: Arc<Command> = Arc::new(
            rmp_serde::from_slice(&self.bytes)
                .map_err(|e| PayloadError(format!("{e} ({} bytes)", self.bytes.len())))?,
        );
        *decoded = Some(Arc::clone(&cmd));
        Ok(cmd)
    }

    /// Let go of the decoded command (once applied): copies kept for
    /// replication then hold only the bytes.
    pub fn release(&self) {
        self.decoded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    #[cfg(test)]
    fn is_decoded(&self) -> bool {
        self.decoded
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_some()
    }

    /// The encoded command.
    pub fn bytes(&self) -> &Bytes {
        &self.bytes
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.bytes.len())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.bytes)
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Payload, D::Error> {
        d.deserialize_any(PayloadVisitor)
    }
}

struct PayloadVisitor;

impl<'de> Visitor<'de> for PayloadVisitor {
    type Value = Payload;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an encoded command, or a command")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
        Ok(Payload::from_bytes(Bytes::copy_from_slice(v)))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
        Ok(Payload::from_bytes(Bytes::from(v)))
    }

    /// The form written before: the command itself (every `Command`
    /// variant carries a value, so it is a map of one entry).
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Payload, A::Error> {
        let cmd = Command::deserialize(de::value::MapAccessDeserializer::new(map))?;
        Payload::new(cmd).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raft::{TypeConfig, WriteOutcome};
    use drover_state::command::ClusterMetadata;
    use openraft::{Entry, EntryPayload};

    openraft::declare_raft_types!(
        /// The entry form written before payloads: the command itself.
        Legacy:
            D = Command,
            R = WriteOutcome,
            NodeId = u64,
            Node = openraft::BasicNode,
            Entry = openraft::Entry<Legacy>,
            SnapshotData = std::io::Cursor<Vec<u8>>,
            AsyncRuntime = openraft::TokioRuntime,
    );

    fn command() -> Command {
        Command::Batch(vec![
            Command::ClusterMetadata(ClusterMetadata {
                cluster_id: "c1".into(),
                create_time: 7,
            }),
            Command::Batch(Vec::new()),
        ])
    }

    fn normal<C: openraft::RaftTypeConfig>(e: Entry<C>) -> C::D {
        match e.payload {
            EntryPayload::Normal(d) => d,
            other => panic!("not a normal entry: {other:?}"),
        }
    }

    #[test]
    fn an_entry_round_trips_as_bytes_and_decodes_once_per_copy_set() {
        let p = Payload::new(command()).unwrap();
        let entry = Entry::<TypeConfig> {
            log_id: openraft::testing::log_id(2, 1, 9),
            payload: EntryPayload::Normal(p.clone()),
        };
        let wire = rmp_serde::to_vec_named(&entry).unwrap();
        let back = normal(rmp_serde::from_slice::<Entry<TypeConfig>>(&wire).unwrap());
        assert_eq!(back.bytes(), p.bytes());
        assert!(!back.is_decoded(), "decoded before it was asked");
        let copy = back.clone();
        assert_eq!(*back.command().unwrap(), command());
        // The copy shares the decoded command instead of decoding again.
        assert!(Arc::ptr_eq(
            &copy.command().unwrap(),
            &back.command().unwrap()
        ));
        // Released once applied: every copy keeps only the bytes, and can
        // still be decoded.
        copy.release();
        assert!(!back.is_decoded());
        assert_eq!(*back.command().unwrap(), command());
    }

    #[test]
    fn an_entry_written_before_payloads_still_reads() {
        let old = Entry::<Legacy> {
            log_id: openraft::testing::log_id(2, 1, 9),
            payload: EntryPayload::Normal(command()),
        };
        let bytes = rmp_serde::to_vec_named(&old).unwrap();
        let entry = rmp_serde::from_slice::<Entry<TypeConfig>>(&bytes).unwrap();
        assert_eq!(entry.log_id.index, 9);
        let p = normal(entry);
        assert_eq!(*p.command().unwrap(), command());
        assert_eq!(p.bytes(), Payload::new(command()).unwrap().bytes());
    }

    #[test]
    fn bytes_that_are_no_command_are_an_error_when_applied() {
        let p = Payload::from_bytes(Bytes::from_static(&[0xc1, 0x00]));
        let err = p.command().unwrap_err().to_string();
        assert!(err.contains("does not decode"), "{err}");
    }
}
