//! Commands: every kind of write to cluster state, one variant each.
//!
//! A command is built and stamped (IDs, times, random choices) by a handler
//! or a leader duty, carried through the Raft log as MessagePack
//! (`rmp_serde::to_vec_named`, so fields can be added with `#[serde(default)]`),
//! and applied by [`crate::State::apply`]. Variants are never renamed or
//! reused: old log entries must decode forever.

mod acl;
mod alloc;
mod autopilot;
mod cluster;
mod deployment;
mod eval;
mod exec;
mod job;
mod lifecycle;
mod namespace;
mod node;
mod plan;
mod restore;
mod scheduler;

pub use acl::*;
pub use alloc::*;
pub use autopilot::*;
pub use cluster::*;
pub use deployment::*;
pub use eval::*;
pub use exec::*;
pub use job::*;
pub use lifecycle::*;
pub use namespace::*;
pub use node::*;
pub use plan::*;
pub use restore::*;
pub use scheduler::*;

use serde::{Deserialize, Serialize};

// Variants differ in size (a whole `Job` against a node ID), but a command is
// built once, moved into the log and applied; boxing would only add an
// allocation on the write path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Command {
    JobRegister(JobRegister),
    JobDeregister(JobDeregister),
    EvalUpdate(EvalUpdate),
    EvalDelete(EvalDelete),
    ApplyPlanResults(ApplyPlanResults),
    AllocClientUpdate(AllocClientUpdate),
    AllocUpdateDesiredTransition(AllocUpdateDesiredTransition),
    NodeRegister(NodeRegister),
    NodeDeregister(NodeDeregister),
    NodeUpdateStatus(NodeUpdateStatus),
    NodeUpdateEligibility(NodeUpdateEligibility),
    NodeUpdateDrain(NodeUpdateDrain),
    /// Several commands in one log entry, applied in order at its index,
    /// each with its own result. Writes that arrive while the log is busy
    /// are proposed together, so they share one entry and one sync.
    Batch(Vec<Command>),
    StateRestore(StateRestore),
    ClusterMetadata(ClusterMetadata),
    SchedulerConfigSet(SchedulerConfigSet),
    AutopilotConfigSet(AutopilotConfigSet),
    DeploymentStatusSet(DeploymentStatusSet),
    DeploymentPromote(DeploymentPromote),
    DeploymentAllocHealth(DeploymentAllocHealth),
    DeploymentDelete(DeploymentDelete),
    JobStability(JobStability),
    ScalingEventRegister(ScalingEventRegister),
    JobSubmit(JobSubmit),
    NamespaceUpsert(NamespaceUpsert),
    NamespaceDelete(NamespaceDelete),
    AclBootstrap(AclBootstrap),
    AclPolicyUpsert(AclPolicyUpsert),
    AclPolicyDelete(AclPolicyDelete),
    AclTokenUpsert(AclTokenUpsert),
    AclTokenDelete(AclTokenDelete),
    ExecSessionStart(ExecSessionStart),
    ExecSessionEnd(ExecSessionEnd),
}

impl Command {
    /// The wall-clock time the handler stamped on this command (unix ns).
    /// Used for event-log ages; never read from a clock during apply.
    pub fn time(&self) -> i64 {
        match self {
            Command::JobRegister(c) => c.now,
            Command::JobDeregister(c) => c.now,
            Command::EvalUpdate(c) => c.now,
            Command::EvalDelete(c) => c.now,
            Command::ApplyPlanResults(c) => c.now,
            Command::AllocClientUpdate(c) => c.now,
            Command::AllocUpdateDesiredTransition(c) => c.now,
            Command::NodeRegister(c) => c.now,
            Command::NodeDeregister(c) => c.now,
            Command::NodeUpdateStatus(c) => c.now,
            Command::NodeUpdateEligibility(c) => c.now,
            Command::NodeUpdateDrain(c) => c.now,
            Command::StateRestore(c) => c.now,
            Command::ClusterMetadata(c) => c.create_time,
            Command::SchedulerConfigSet(c) => c.now,
            Command::AutopilotConfigSet(c) => c.now,
            Command::DeploymentStatusSet(c) => c.now,
            Command::DeploymentPromote(c) => c.now,
            Command::DeploymentAllocHealth(c) => c.now,
            Command::DeploymentDelete(c) => c.now,
            Command::JobStability(c) => c.now,
            Command::ScalingEventRegister(c) => c.now,
            Command::JobSubmit(c) => c.register.now,
            Command::NamespaceUpsert(c) => c.now,
            Command::NamespaceDelete(c) => c.now,
            Command::AclBootstrap(c) => c.now,
            Command::AclPolicyUpsert(c) => c.now,
            Command::AclPolicyDelete(c) => c.now,
            Command::AclTokenUpsert(c) => c.now,
            Command::AclTokenDelete(c) => c.now,
            Command::ExecSessionStart(c) => c.now,
            Command::ExecSessionEnd(c) => c.now,
            Command::Batch(cmds) => cmds.iter().map(Command::time).max().unwrap_or(0),
        }
    }

    /// Nomad's event `Type` for everything this command changes: it comes
    /// from the kind of write, not from the table (nomad/state/events.go
    /// `MsgTypeEvents`).
    pub fn event_type(&self) -> &'static str {
        match self {
            Command::JobRegister(_) => "JobRegistered",
            Command::JobDeregister(_) => "JobDeregistered",
            Command::EvalUpdate(_) => "EvaluationUpdated",
            Command::EvalDelete(_) => "EvaluationDeleted",
            Command::ApplyPlanResults(_) => "PlanResult",
            Command::AllocClientUpdate(_) => "AllocationUpdated",
            Command::AllocUpdateDesiredTransition(_) => "AllocationUpdateDesiredStatus",
            Command::NodeRegister(_) => "NodeRegistration",
            Command::NodeDeregister(_) => "NodeDeregistration",
            Command::NodeUpdateStatus(_) => "NodeStreamEvent",
            Command::NodeUpdateEligibility(_) | Command::NodeUpdateDrain(_) => "NodeDrain",
            // Each command in a batch stamps its own events.
            Command::Batch(_) => "Batch",
            // Emits no events: the restored objects are not new writes.
            Command::StateRestore(_) => "SnapshotRestored",
            // Emits no events.
            Command::ClusterMetadata(_) => "ClusterMetadata",
            // Emits no events.
            Command::SchedulerConfigSet(_) => "SchedulerConfigSet",
            // Emits no events.
            Command::AutopilotConfigSet(_) => "AutopilotConfigSet",
            Command::DeploymentStatusSet(_) => "DeploymentStatusUpdate",
            Command::DeploymentPromote(_) => "DeploymentPromotion",
            Command::DeploymentAllocHealth(_) => "DeploymentAllocHealth",
            // Emits no events (Nomad's deletes of collected objects do not).
            Command::DeploymentDelete(_) => "DeploymentDelete",
            // Emits no events, as in Nomad.
            Command::JobStability(_) => "JobStability",
            // A count change is a job register; an event alone changes no
            // object that has a topic.
            Command::ScalingEventRegister(_) => "JobRegistered",
            Command::JobSubmit(_) => "JobRegistered",
            // Emit no events: Nomad has no namespace topic
            // (nomad/structs/event.go).
            Command::NamespaceUpsert(_) => "NamespaceUpsert",
            Command::NamespaceDelete(_) => "NamespaceDelete",
            // The ACL writes emit no events yet; these are Nomad's types.
            Command::AclBootstrap(_) | Command::AclTokenUpsert(_) => "ACLTokenUpserted",
            Command::AclTokenDelete(_) => "ACLTokenDeleted",
            Command::AclPolicyUpsert(_) => "ACLPolicyUpserted",
            Command::AclPolicyDelete(_) => "ACLPolicyDeleted",
            Command::ExecSessionStart(_) => "ExecSessionStarted",
            Command::ExecSessionEnd(_) => "ExecSessionEnded",
        }
    }
}
