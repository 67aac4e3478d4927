//! Shared by the round-trip tests of the wire types against Nomad-shaped JSON.
//!
//! The fixtures under `tests/fixtures/` are written to the field lists of
//! Nomad's HTTP API (`nomad/structs` and `api/` struct fields): every key
//! Nomad emits for the object, including the ones Drover does not model
//! (`Spreads`, `Services`, `Templates`, `HostVolumes`, …), Go `nil` slices and
//! maps as `null`, durations as integer nanoseconds, Go `time.Time` values as
//! RFC 3339 strings (sometimes with a local offset, as clients report them).
//!
//! For each fixture, [`round_trip`] checks that it decodes, that every key
//! Drover re-emits agrees with the fixture ([`agree`]), that JSON
//! decode → encode → decode is lossless, and that the MessagePack encoding
//! Raft stores (`rmp_serde::to_vec_named`) decodes back to an equal value.

#![allow(dead_code, unused_imports)]

pub use std::collections::BTreeMap;
pub use std::fmt::Debug;

pub use drover_api::time::{parse_rfc3339, GO_ZERO_TIME};
pub use drover_api::*;
pub use serde::de::DeserializeOwned;
pub use serde::Serialize;
pub use serde_json::{json, Value};

pub const JOB: &str = include_str!("../fixtures/job.json");
pub const JOBS_LIST: &str = include_str!("../fixtures/jobs_list.json");
pub const JOB_SUMMARY: &str = include_str!("../fixtures/job_summary.json");
pub const JOB_VERSIONS: &str = include_str!("../fixtures/job_versions_response.json");
pub const ALLOCATION: &str = include_str!("../fixtures/allocation.json");
pub const ALLOCATIONS_LIST: &str = include_str!("../fixtures/allocations_list.json");
pub const EVALUATION: &str = include_str!("../fixtures/evaluation.json");
pub const NODE: &str = include_str!("../fixtures/node.json");
pub const NODES_LIST: &str = include_str!("../fixtures/nodes_list.json");
pub const EVENT_STREAM: &str = include_str!("../fixtures/event_stream.ndjson");
pub const JOB_REGISTER_REQUEST: &str = include_str!("../fixtures/job_register_request.json");
pub const JOB_REGISTER_RESPONSE: &str = include_str!("../fixtures/job_register_response.json");
pub const JOB_DEREGISTER_RESPONSE: &str = include_str!("../fixtures/job_deregister_response.json");
pub const JOBS_PARSE_REQUEST: &str = include_str!("../fixtures/jobs_parse_request.json");
pub const NODE_DRAIN_REQUEST: &str = include_str!("../fixtures/node_drain_request.json");
pub const NODE_ELIGIBILITY_REQUEST: &str =
    include_str!("../fixtures/node_eligibility_request.json");
pub const NODE_UPDATE_RESPONSE: &str = include_str!("../fixtures/node_update_response.json");
pub const AGENT_HEALTH: &str = include_str!("../fixtures/agent_health.json");
pub const AGENT_MEMBERS: &str = include_str!("../fixtures/agent_members.json");

/// 2024-03-12T09:41:19.918203551Z, when the `redis` task last started.
pub const STARTED_AT: i64 = 1_710_236_479_918_203_551;
/// 2024-03-12T02:38:04.113209877-07:00, the docker driver's last update.
pub const DOCKER_UPDATED: i64 = 1_710_236_284_113_209_877;

/// How much of Drover's output a fixture must cover.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Coverage {
    /// A server response: Nomad emits every field, so every key Drover emits
    /// must be present in the fixture (this is what catches a misspelled
    /// rename: the fixture value would be ignored and the wrong key emitted).
    Full,
    /// A request body: users send partial specs, so keys the fixture leaves
    /// out are skipped; keys it has must still agree.
    Partial,
}

/// Keys Nomad tags `json:",omitempty"`: absent from its output when zero, so
/// a fixture may lack them while Drover emits the zero value.
pub const OMITTED_WHEN_EMPTY: &[&str] = &["Hostname", "AllocatedResources"];

/// Walk what Drover emitted and compare every key with the fixture. The
/// fixture may have extra keys (fields Drover ignores); a key Drover emits
/// may not disagree. Intentional normalizations, the only exceptions:
///
/// 1. Go encodes a nil slice or map as `null`; Drover emits `[]` / `{}`.
/// 2. Go `time.Time` keeps the writer's UTC offset (`…-07:00`); Drover
///    re-emits the same instant in UTC (`…Z`), and emits an unset time
///    (`null` or Go's zero time in the fixture) as `0001-01-01T00:00:00Z`.
/// 3. Go prints a whole `float64` without a fraction (`1`); serde prints
///    `1.0`. Numbers are equal if they are equal as numbers.
/// 4. [`OMITTED_WHEN_EMPTY`] keys may be absent when Drover's value is zero.
pub fn agree(path: &str, emitted: &Value, fixture: &Value, cov: Coverage, out: &mut Vec<String>) {
    match (emitted, fixture) {
        (Value::Object(e), Value::Object(f)) => {
            for (key, ev) in e {
                let here = format!("{path}.{key}");
                match f.get(key) {
                    Some(fv) => agree(&here, ev, fv, cov, out),
                    None if cov == Coverage::Partial => {}
                    None if OMITTED_WHEN_EMPTY.contains(&key.as_str()) && is_zero(ev) => {}
                    None => out.push(format!("{here}: emitted {ev} but the fixture lacks it")),
                }
            }
        }
        (Value::Array(e), Value::Array(f)) if e.len() == f.len() => {
            for (i, (ev, fv)) in e.iter().zip(f).enumerate() {
                agree(&format!("{path}[{i}]"), ev, fv, cov, out);
            }
        }
        // 1. Go nil collections.
        (Value::Array(e), Value::Null) if e.is_empty() => {}
        (Value::Object(e), Value::Null) if e.is_empty() => {}
        // 2. Go times.
        (Value::String(e), Value::Null) if e == GO_ZERO_TIME => {}
        (Value::String(e), Value::String(f)) if e != f && same_instant(e, f) => {}
        // 3. Numbers.
        (Value::Number(e), Value::Number(f)) if e.as_f64() == f.as_f64() => {}
        (e, f) if e == f => {}
        (e, f) => out.push(format!("{path}: emitted {e} but the fixture has {f}")),
    }
}

pub fn same_instant(a: &str, b: &str) -> bool {
    matches!((parse_rfc3339(a), parse_rfc3339(b)), (Some(x), Some(y)) if x == y)
}

pub fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

pub fn assert_agrees(label: &str, emitted: &Value, fixture: &Value, cov: Coverage) {
    let mut out = Vec::new();
    agree(label, emitted, fixture, cov, &mut out);
    assert!(
        out.is_empty(),
        "{} disagreements:\n{}",
        out.len(),
        out.join("\n")
    );
}

/// Decode `text`, compare the re-encoding with it, and check JSON and
/// MessagePack round trips. Returns the decoded value for field assertions.
pub fn round_trip<T>(label: &str, text: &str, cov: Coverage) -> T
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let decoded: T = serde_json::from_str(text).unwrap_or_else(|e| panic!("{label}: {e}"));
    let fixture: Value = serde_json::from_str(text).expect("fixture is JSON");

    let emitted = serde_json::to_value(&decoded).expect("encode");
    assert_agrees(label, &emitted, &fixture, cov);

    let encoded = serde_json::to_string(&decoded).expect("encode");
    let again: T = serde_json::from_str(&encoded).unwrap_or_else(|e| panic!("{label}: {e}"));
    assert_eq!(
        again, decoded,
        "{label}: JSON decode → encode → decode changed it"
    );
    assert_eq!(
        serde_json::to_value(&again).unwrap(),
        emitted,
        "{label}: second encoding differs"
    );

    let packed = rmp_serde::to_vec_named(&decoded).expect("msgpack encode");
    let unpacked: T = rmp_serde::from_slice(&packed)
        .unwrap_or_else(|e| panic!("{label}: msgpack decode failed: {e}"));
    assert_eq!(
        unpacked, decoded,
        "{label}: MessagePack round trip changed it"
    );

    decoded
}

pub fn decode<T: DeserializeOwned>(text: &str) -> T {
    serde_json::from_str(text).expect("fixture decodes")
}

pub fn ns(rfc3339: &str) -> i64 {
    parse_rfc3339(rfc3339).expect("valid time")
}
