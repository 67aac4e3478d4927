//! drover-client: the node agent. It fingerprints the
//! node, registers and heartbeats with the servers, runs allocations through
//! alloc and task runners on drivers, keeps task logs, and serves the
//! `/v1/client` API.
//!
//! Architecture Invariant: depends on `drover-api` only, never on the server
//! crates; it talks to servers over HTTP like any client.

pub mod agent;
pub mod allocdir;
pub mod dispatch_payload;
pub mod driver;
pub mod fingerprint;
pub mod hoststats;
pub mod http;
pub mod logmon;
pub mod registry;
pub mod runner;
pub mod servers;
pub mod session_record;
pub mod store;
pub mod taskenv;

/// Unix nanoseconds now (0 before 1970, saturating far in the future).
pub(crate) fn now_nanos() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}
