//! Periodic and parameterized jobs: Nomad's `PeriodicConfig`,
//! `ParameterizedJobConfig`, a task's `DispatchPayloadConfig`, and the
//! bodies of `POST /v1/job/:id/dispatch` and `/periodic/force`
//! (nomad/structs/structs.go, api/jobs.go).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::WriteMeta;

/// The only spec type Nomad accepts (`PeriodicSpecCron`).
pub const PERIODIC_SPEC_CRON: &str = "cron";
/// A periodic child's ID is `<parent>` + this + the launch's unix seconds.
pub const PERIODIC_LAUNCH_SUFFIX: &str = "/periodic-";
/// A dispatched child's ID is `<parent>` + this + `<unix>-<8 hex>`.
pub const DISPATCH_LAUNCH_SUFFIX: &str = "/dispatch-";
/// Largest payload a dispatch may carry, before compression
/// (Nomad's `DispatchPayloadSizeLimit`).
pub const DISPATCH_PAYLOAD_SIZE_LIMIT: usize = 16 * 1024;

/// `periodic { .. }`. A missing `Enabled` is `true`, a missing `SpecType`
/// is `cron` and a missing `TimeZone` is `UTC`, as Nomad's API
/// `PeriodicConfig.Canonicalize` makes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeriodicConfig {
    #[serde(rename = "Enabled")]
    pub enabled: bool,
    /// One cron expression (`cron = ".."`).
    #[serde(rename = "Spec")]
    pub spec: String,
    /// Several cron expressions (`crons = [..]`): the earliest next launch
    /// of any of them is taken.
    #[serde(rename = "Specs", deserialize_with = "crate::null_default")]
    pub specs: Vec<String>,
    #[serde(rename = "SpecType")]
    pub spec_type: String,
    /// Skip a launch while a child of an earlier launch is still live.
    #[serde(rename = "ProhibitOverlap")]
    pub prohibit_overlap: bool,
    /// An IANA time zone name the cron fields are read in.
    #[serde(rename = "TimeZone")]
    pub time_zone: String,
}

impl Default for PeriodicConfig {
    fn default() -> Self {
        PeriodicConfig {
            enabled: true,
            spec: String::new(),
            specs: Vec::new(),
            spec_type: PERIODIC_SPEC_CRON.to_owned(),
            prohibit_overlap: false,
            time_zone: "UTC".to_owned(),
        }
    }
}

impl PeriodicConfig {
    /// Every cron expression, `Spec` first.
    pub fn all_specs(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.spec.as_str())
            .filter(|s| !s.is_empty())
            .chain(self.specs.iter().map(String::as_str))
    }
}

/// `parameterized { .. }`. `Payload` is `optional` (the default),
/// `required` or `forbidden`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ParameterizedJobConfig {
    #[serde(rename = "Payload")]
    pub payload: String,
    #[serde(rename = "MetaRequired", deserialize_with = "crate::null_default")]
    pub meta_required: Vec<String>,
    #[serde(rename = "MetaOptional", deserialize_with = "crate::null_default")]
    pub meta_optional: Vec<String>,
}

pub const DISPATCH_PAYLOAD_OPTIONAL: &str = "optional";
pub const DISPATCH_PAYLOAD_REQUIRED: &str = "required";
pub const DISPATCH_PAYLOAD_FORBIDDEN: &str = "forbidden";

/// A task's `dispatch_payload { file = ".." }`: where, under the task's
/// `local/` directory, the client writes a dispatched job's payload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DispatchPayloadConfig {
    #[serde(rename = "File")]
    pub file: String,
}

/// `POST /v1/job/:id/dispatch` (Nomad's `JobDispatchRequest`). `Payload`
/// is base64, as Go encodes a `[]byte`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobDispatchRequest {
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "Payload")]
    pub payload: Option<String>,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
    #[serde(rename = "IdempotencyToken")]
    pub idempotency_token: String,
}

/// Nomad's `JobDispatchResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobDispatchResponse {
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(rename = "EvalCreateIndex")]
    pub eval_create_index: u64,
    #[serde(rename = "JobCreateIndex")]
    pub job_create_index: u64,
    #[serde(flatten)]
    pub meta: WriteMeta,
}

/// Nomad's `PeriodicForceResponse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeriodicForceResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(rename = "EvalCreateIndex")]
    pub eval_create_index: u64,
    #[serde(flatten)]
    pub meta: WriteMeta,
}
