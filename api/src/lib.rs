//! drover-api: the Nomad v1 wire types Drover serves.
//!
//! Architecture Invariant: no I/O, no tokio, no clock. These are plain serde
//! types; field names are Nomad's (PascalCase, `ID` not `Id`) and appear only
//! in `#[serde(rename)]` attributes, so Rust code reads in snake case.
//! Durations are integer nanoseconds ([`Nanos`]); times are unix nanoseconds
//! except where Nomad serializes a Go `time.Time` (see [`time`]).
//! Every struct decodes with `#[serde(default)]` and ignores unknown fields,
//! so partial specs and newer clients work; new fields must keep that.

mod acl;
mod alloc;
mod client_fs;
mod client_stats;
mod client_stream;
mod deployment;
mod eval;
mod event;
mod exec_session;
mod job;
mod lifecycle;
mod namespace;
mod node;
mod node_pool;
mod periodic;
mod plan;
mod requests;
mod scheduler_config;
mod search;
mod small_map;
pub mod time;

pub use acl::*;
pub use alloc::*;
pub use client_fs::*;
pub use client_stats::*;
pub use client_stream::*;
pub use deployment::*;
pub use eval::*;
pub use event::*;
pub use exec_session::*;
pub use job::*;
pub use lifecycle::*;
pub use namespace::*;
pub use node::*;
pub use node_pool::*;
pub use periodic::*;
pub use plan::*;
pub use requests::*;
pub use scheduler_config::*;
pub use search::*;
pub use small_map::SmallMap;

/// A duration in integer nanoseconds, as Nomad puts Go `time.Duration` on the wire.
pub type Nanos = i64;

/// Go encodes a nil slice, map or pointer as `null`, and Nomad's responses
/// are full of them (`"Constraints": null`, `"Meta": null`). Collection fields
/// (and the few Go pointers Drover keeps as plain structs) read `null` as
/// their default, exactly like a missing field.
pub(crate) fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de> + Default,
{
    Ok(<Option<T> as serde::Deserialize>::deserialize(d)?.unwrap_or_default())
}

/// Go writes a nil slice as `null`; Nomad's RPC responses leave lists nil
/// when they have nothing to say (`"Servers": null`), and Drover does too.
pub(crate) fn empty_as_null<S, T>(v: &[T], s: S) -> Result<S::Ok, S::Error>
where
    S: serde::Serializer,
    T: serde::Serialize,
{
    if v.is_empty() {
        s.serialize_none()
    } else {
        serde::Serialize::serialize(v, s)
    }
}
