//! Turning a job submission into a job the cluster can store: decode the
//! request body, fill in Nomad's defaults, validate.
//!
//! The HTTP handlers of `PUT /v1/jobs`, `PUT /v1/job/:id`, `PUT /v1/validate/job`
//! and `PUT /v1/job/:id/plan` run the same pure pipeline:
//!
//! ```text
//! body ──decode_job_request──▶ JobRegisterRequest ──validate_register──▶ &Job
//!        (strip nulls,                                                   │ clone
//!         canonicalize_value,                                            ▼
//!         typed decode)                     validate(&job) ◀── canonicalize(&mut job)
//! ```
//!
//! Why two canonicalization passes. Nomad's Go client sends a job without its
//! defaults filled in (`"Count": null`, `"KillTimeout": null`), and Nomad's
//! `api.Job.Canonicalize` fills a field only when it is *absent*: an explicit
//! `"Count": 0` stays 0 (a group with no allocations), an explicit restart
//! `"Attempts": 0` stays 0. Drover's wire structs use plain scalars, so once
//! decoded, absent and zero look the same. [`canonicalize_value`] therefore
//! runs on the JSON, where absence is still visible, and does everything that
//! depends on it (Count, Priority, per-field merges of restart, reschedule and
//! update policies, resource defaults). [`canonicalize`] runs on the typed
//! [`drover_api::Job`]; it applies Nomad's server-side mutators and the
//! defaults whose zero value Nomad would reject anyway, so it is idempotent
//! and safe to run on any job, including one that never was JSON.
//!
//! Architecture Invariant: everything here is a pure function of its
//! arguments (no clock, no state, no I/O) and nothing panics on user input.

mod canonicalize;
mod constraint;
mod decode;
pub mod diff;
mod duration;
mod namespace;
mod network;
mod policy;
mod scaling;
mod validate;
mod value;

pub use canonicalize::{
    canonicalize, default_ephemeral_disk, default_log_config, default_reschedule_policy,
    default_restart_policy, default_update_strategy, DEFAULT_CPU_MHZ, DEFAULT_MEMORY_MB,
    DEFAULT_NAMESPACE, DEFAULT_NODE_POOL, GLOBAL_REGION, JOB_DEFAULT_PRIORITY,
};
pub use decode::{decode_job_request, decode_json, strip_nulls, DecodeError};
pub use duration::go_duration;
pub use namespace::{check_namespace, namespace_for_job};
pub use scaling::propagate_scaling_policy_ids;
pub use validate::{
    validate, validate_register, FieldError, ValidationErrors, JOB_MAX_COUNT, JOB_MAX_PRIORITY,
    JOB_MIN_PRIORITY, MAX_CORES, MAX_CPU_MHZ, MAX_SIZE_MB, MIN_CPU_MHZ, MIN_MEMORY_MB,
};
pub use value::canonicalize_value;

/// Nanoseconds per second, minute and hour: Nomad's durations on the wire.
pub(crate) const SECOND: i64 = 1_000_000_000;
pub(crate) const MINUTE: i64 = 60 * SECOND;
pub(crate) const HOUR: i64 = 60 * MINUTE;
