//! Request and response bodies of the server's `/v1` endpoints
//! (command/agent/*_endpoint.go and api/*.go in Nomad).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::{DrainSpec, Job, Nanos, SchedulingEligibility};

/// `PUT /v1/jobs`, `PUT /v1/job/:id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRegisterRequest {
    #[serde(rename = "Job")]
    pub job: Option<Job>,
    /// Check-and-set: with `EnforceIndex`, register only if the stored job's
    /// `JobModifyIndex` equals `JobModifyIndex` (0 = must not exist).
    #[serde(rename = "EnforceIndex")]
    pub enforce_index: bool,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    #[serde(rename = "PolicyOverride")]
    pub policy_override: bool,
    #[serde(rename = "PreserveCounts")]
    pub preserve_counts: bool,
    /// The source the job was written in, kept with the version it makes
    /// (Nomad 1.6+ `JobRegisterRequest.Submission`).
    #[serde(rename = "Submission")]
    pub submission: Option<crate::JobSubmission>,
    /// The namespace of the write (Nomad's `WriteRequest.Namespace`):
    /// over the job's own, under the `namespace` query parameter.
    #[serde(rename = "Namespace")]
    pub namespace: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobRegisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(rename = "EvalCreateIndex")]
    pub eval_create_index: u64,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    #[serde(rename = "Warnings")]
    pub warnings: String,
    #[serde(flatten)]
    pub meta: WriteMeta,
}

/// `DELETE /v1/job/:id`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobDeregisterResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(rename = "EvalCreateIndex")]
    pub eval_create_index: u64,
    #[serde(rename = "JobModifyIndex")]
    pub job_modify_index: u64,
    #[serde(flatten)]
    pub meta: WriteMeta,
}

/// The index a write landed at, as Nomad's `WriteMeta`/`QueryMeta` spell it
/// inside response bodies.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct WriteMeta {
    #[serde(rename = "Index")]
    pub index: u64,
}

/// `PUT /v1/validate/job`'s answer (Nomad's `JobValidateResponse`): an
/// invalid job is listed here, with a 200, not refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobValidateResponse {
    #[serde(rename = "DriverConfigValidated")]
    pub driver_config_validated: bool,
    /// One line per problem, each naming its field.
    #[serde(rename = "ValidationErrors", deserialize_with = "crate::null_default")]
    pub validation_errors: Vec<String>,
    /// All of them in one message, as a register would answer them; empty
    /// when the job is valid.
    #[serde(rename = "Error")]
    pub error: String,
    #[serde(rename = "Warnings")]
    pub warnings: String,
}

/// `PUT /v1/jobs/parse`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobsParseRequest {
    #[serde(rename = "JobHCL")]
    pub job_hcl: String,
    #[serde(rename = "Variables")]
    pub variables: String,
    #[serde(rename = "Canonicalize")]
    pub canonicalize: bool,
}

/// `GET /v1/job/:id/versions`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobVersionsResponse {
    #[serde(rename = "Versions", deserialize_with = "crate::null_default")]
    pub versions: Vec<Job>,
    #[serde(rename = "Diffs")]
    pub diffs: Option<Vec<serde_json::Value>>,
    #[serde(flatten)]
    pub meta: WriteMeta,
}

/// `PUT /v1/job/:id/evaluate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobEvaluateRequest {
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "EvalOptions")]
    pub eval_options: EvalOptions,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalOptions {
    #[serde(rename = "ForceReschedule")]
    pub force_reschedule: bool,
}

/// `POST /v1/node/:id/drain`. A missing `DrainSpec` cancels a drain.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeUpdateDrainRequest {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "DrainSpec")]
    pub drain_spec: Option<DrainSpec>,
    #[serde(rename = "MarkEligible")]
    pub mark_eligible: bool,
    #[serde(rename = "Meta", deserialize_with = "crate::null_default")]
    pub meta: BTreeMap<String, String>,
}

/// `POST /v1/node/:id/eligibility`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeUpdateEligibilityRequest {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "Eligibility")]
    pub eligibility: SchedulingEligibility,
}

/// Response of node drain and eligibility updates, and of the client calls
/// `PUT /v1/internal/node/register` and `PUT /v1/internal/node/:id/status`
/// (Nomad's `NodeUpdateResponse`); the last four fields are set only by the
/// client calls.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeUpdateResponse {
    #[serde(rename = "NodeModifyIndex")]
    pub node_modify_index: u64,
    #[serde(rename = "EvalIDs", deserialize_with = "crate::null_default")]
    pub eval_ids: Vec<String>,
    #[serde(rename = "EvalCreateIndex")]
    pub eval_create_index: u64,
    /// How long the node may go without a heartbeat (ns); the servers mark
    /// it down a grace period after that.
    #[serde(rename = "HeartbeatTTL")]
    pub heartbeat_ttl: Nanos,
    #[serde(rename = "LeaderRPCAddr")]
    pub leader_rpc_addr: String,
    /// Nodes the servers know, so a client can scale its own timers.
    #[serde(rename = "NumNodes")]
    pub num_nodes: u64,
    #[serde(
        rename = "Servers",
        deserialize_with = "crate::null_default",
        serialize_with = "crate::empty_as_null"
    )]
    pub servers: Vec<NodeServerInfo>,
    #[serde(flatten)]
    pub meta: WriteMeta,
}

/// A server a client may talk to (Nomad's `NodeServerInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeServerInfo {
    #[serde(rename = "RPCAdvertiseAddr")]
    pub rpc_advertise_addr: String,
    #[serde(rename = "RPCMajorVersion")]
    pub rpc_major_version: i32,
    #[serde(rename = "RPCMinorVersion")]
    pub rpc_minor_version: i32,
    #[serde(rename = "Datacenter")]
    pub datacenter: String,
    /// Drover extension: the server's HTTP address, which Drover clients
    /// use (they talk to servers over HTTP, not Nomad's RPC port). Empty,
    /// and left out, when the answering server has not heard from it.
    #[serde(rename = "HTTPAddr", skip_serializing_if = "String::is_empty")]
    pub http_addr: String,
}

/// `PUT /v1/internal/node/register` (Nomad's `Node.Register` RPC).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeRegisterRequest {
    #[serde(rename = "Node")]
    pub node: Option<crate::Node>,
}

/// `PUT /v1/internal/node/:id/status` (Nomad's `Node.UpdateStatus` RPC).
/// An empty `Status` is a plain heartbeat that keeps the current status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodeUpdateStatusRequest {
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "NodeEvent")]
    pub node_event: Option<crate::NodeEvent>,
}

/// `PUT /v1/internal/node/:id/allocs` (Nomad's `Node.UpdateAlloc` RPC):
/// the client-owned fields of allocations. A whole `Allocation` decodes
/// too; the other fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocUpdateRequest {
    #[serde(rename = "Alloc", deserialize_with = "crate::null_default")]
    pub alloc: Vec<AllocClientUpdateEntry>,
}

/// One allocation's status as its client reports it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocClientUpdateEntry {
    #[serde(rename = "ID")]
    pub id: String,
    /// Optional; when set it must name the node in the path.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    #[serde(rename = "ClientStatus")]
    pub client_status: crate::AllocClientStatus,
    #[serde(rename = "ClientDescription")]
    pub client_description: String,
    #[serde(rename = "TaskStates", deserialize_with = "crate::null_default")]
    pub task_states: crate::SmallMap<crate::TaskState>,
    #[serde(rename = "DeploymentStatus")]
    pub deployment_status: Option<crate::AllocDeploymentStatus>,
}

/// `POST /v1/allocation/:id/stop`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AllocStopResponse {
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    #[serde(flatten)]
    pub meta: WriteMeta,
}

/// `GET /v1/agent/health`: Nomad spells these fields in lower case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentHealthResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<AgentHealth>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<AgentHealth>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentHealth {
    pub ok: bool,
    pub message: String,
}

/// `GET /v1/agent/members`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ServerMembers {
    #[serde(rename = "ServerName")]
    pub server_name: String,
    #[serde(rename = "ServerRegion")]
    pub server_region: String,
    #[serde(rename = "ServerDC")]
    pub server_dc: String,
    #[serde(rename = "Members", deserialize_with = "crate::null_default")]
    pub members: Vec<AgentMember>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AgentMember {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Addr")]
    pub addr: String,
    #[serde(rename = "Port")]
    pub port: u16,
    #[serde(rename = "Tags", deserialize_with = "crate::null_default")]
    pub tags: BTreeMap<String, String>,
    /// `alive`, `leaving`, `left`, `failed`.
    #[serde(rename = "Status")]
    pub status: String,
    #[serde(rename = "ProtocolMin")]
    pub protocol_min: u8,
    #[serde(rename = "ProtocolMax")]
    pub protocol_max: u8,
    #[serde(rename = "ProtocolCur")]
    pub protocol_cur: u8,
    #[serde(rename = "DelegateMin")]
    pub delegate_min: u8,
    #[serde(rename = "DelegateMax")]
    pub delegate_max: u8,
    #[serde(rename = "DelegateCur")]
    pub delegate_cur: u8,
}

/// Kill timeouts and similar durations default to these when a spec omits
/// them (nomad/structs/structs.go defaults).
pub const DEFAULT_KILL_TIMEOUT: Nanos = 5_000_000_000;

/// `DELETE /v1/evaluations` body (Nomad's `EvalDeleteRequest`): either
/// the IDs or a filter, never both.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalDeleteRequest {
    #[serde(rename = "EvalIDs", deserialize_with = "crate::null_default")]
    pub eval_ids: Vec<String>,
    #[serde(rename = "Filter")]
    pub filter: String,
}

/// `DELETE /v1/evaluations` answer (Nomad's `EvalDeleteResponse`): how
/// many evaluations were deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EvalDeleteResponse {
    #[serde(rename = "Count")]
    pub count: usize,
    #[serde(flatten)]
    pub meta: WriteMeta,
}
