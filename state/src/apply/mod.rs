//! `State::apply`: the deterministic heart of Drover.
//!
//! Each command is validated first and only then applied, so a rejected
//! command changes nothing (a rejection is an answer to the writer, not a
//! crash: every server rejects it identically at the same index). Apply reads
//! only its arguments and the tables; IDs and times come inside the command.

mod alloc;
mod deployment;
mod job;
mod lifecycle;
mod namespace;
mod node;
mod scheduler;

use std::sync::Arc;

use drover_api::{EvalStatus, Evaluation, Job, JobStatus, JobSummary};

use crate::command::Command;
use crate::summary;
use crate::tables::{Ctx, Tables};
use crate::watch::WatchKey;
use crate::State;

/// Why a command was refused. Nothing was changed. Serializable because the
/// server carries it back from the state machine to the writer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum ApplyError {
    #[error("index {index} is not after the last applied index {last}")]
    IndexNotIncreasing { index: u64, last: u64 },
    #[error("enforcing job modify index {expected}: job {job_id:?} has job modify index {actual}")]
    JobModifyIndexConflict {
        job_id: String,
        expected: u64,
        actual: u64,
    },
    #[error("job {job_id:?} not found in namespace {namespace:?}")]
    UnknownJob { namespace: String, job_id: String },
    #[error("node {0:?} not found")]
    UnknownNode(String),
    #[error("can not set node {0:?} eligible while it is draining")]
    EligibleWhileDraining(String),
    #[error("invalid command: {0}")]
    Invalid(String),
    /// A [`crate::command::SchedulerConfigSet`] whose condition did not
    /// hold: `stored` is the stored configuration's `ModifyIndex`, if any.
    #[error("scheduler configuration: the write's condition {condition:?} does not hold (stored ModifyIndex {stored:?})")]
    SchedulerConfigCondition {
        condition: crate::command::SetCondition,
        stored: Option<u64>,
    },
    /// A [`crate::command::AutopilotConfigSet`] whose condition did not
    /// hold: `stored` is the stored configuration's `ModifyIndex`, if any.
    #[error("autopilot configuration: the write's condition {condition:?} does not hold (stored ModifyIndex {stored:?})")]
    AutopilotConfigCondition {
        condition: crate::command::SetCondition,
        stored: Option<u64>,
    },
    /// A deployment write that does not hold, with Nomad's message
    /// (nomad/state/state_store.go).
    #[error("{0}")]
    Deployment(String),
    /// An operator's evaluation delete while the broker runs (Nomad's
    /// message, nomad/state/state_store.go `DeleteEval`).
    #[error("eval broker is enabled; eval broker must be paused to delete evals")]
    EvalBrokerEnabled,
    /// A namespace write that does not hold, or a job in a namespace that
    /// does not exist, with Nomad's message (nomad/state/state_store.go).
    #[error("{0}")]
    Namespace(String),
    /// An ACL write that does not hold, with Nomad's message where it has
    /// one (`ACL bootstrap already done (reset index: N)`).
    #[error("{0}")]
    Acl(String),
}

/// What one `apply` did.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    pub index: u64,
    pub result: Result<(), ApplyError>,
    /// For a [`Command::Batch`], each command's result, in order (`result`
    /// is then `Ok`); empty otherwise.
    pub batch: Vec<Result<(), ApplyError>>,
    /// Every watch key whose data changed, sorted; wake exactly these.
    pub touched: Vec<WatchKey>,
    /// How many events were appended to the event log at `index`.
    pub events: usize,
    /// The whole state was replaced ([`Command::StateRestore`]): wake every
    /// watcher, and leader duties start over from the new state.
    pub everything: bool,
}

impl State {
    /// Apply `cmd` at Raft index `index`. Never panics on any command.
    pub fn apply(&mut self, index: u64, cmd: &Command) -> Applied {
        if index <= self.last_index {
            let err = ApplyError::IndexNotIncreasing {
                index,
                last: self.last_index,
            };
            return Applied {
                index,
                result: Err(err),
                batch: Vec::new(),
                touched: Vec::new(),
                events: 0,
                everything: false,
            };
        }
        self.last_index = index;
        let mut everything = false;
        let (result, batch, mut touched, events, released) = match cmd {
            Command::Batch(cmds) => {
                let mut results = Vec::with_capacity(cmds.len());
                let (mut touched, mut events, mut released) = (Vec::new(), Vec::new(), Vec::new());
                for c in cmds {
                    let (r, ctx) = self.apply_one(index, c);
                    results.push(r);
                    touched.extend(ctx.touched);
                    events.extend(ctx.events);
                    released.extend(ctx.released);
                    everything |= ctx.everything;
                }
                (Ok(()), results, touched, events, released)
            }
            _ => {
                let (r, ctx) = self.apply_one(index, cmd);
                everything = ctx.everything;
                (r, Vec::new(), ctx.touched, ctx.events, ctx.released)
            }
        };
        let count = events.len();
        self.events.append(index, cmd.time(), events);
        let tables = &self.tables;
        self.events
            .release(index, &released, |row| tables.holds(row));
        touched.sort_unstable();
        touched.dedup();
        Applied {
            index,
            result,
            batch,
            touched,
            events: count,
            everything,
        }
    }

    /// One command's changes at `index`; a batch inside a batch is refused.
    fn apply_one(&mut self, index: u64, cmd: &Command) -> (Result<(), ApplyError>, Ctx) {
        let mut ctx = Ctx::new(index, cmd.event_type());
        if let Command::StateRestore(c) = cmd {
            let result = self.restore_tables(index, &c.snapshot);
            ctx.everything = result.is_ok();
            return (result, ctx);
        }
        if let Command::ClusterMetadata(c) = cmd {
            return (self.set_cluster(c), ctx);
        }
        let t = &mut self.tables;
        let result = match cmd {
            Command::JobRegister(c) => job::register(t, &mut ctx, c),
            Command::JobDeregister(c) => job::deregister(t, &mut ctx, c),
            Command::EvalUpdate(c) => {
                upsert_evals(t, &mut ctx, &c.evals);
                Ok(())
            }
            Command::EvalDelete(c) => {
                let paused = t
                    .scheduler_config
                    .as_ref()
                    .is_some_and(|s| s.pause_eval_broker);
                if c.user_initiated && !paused {
                    Err(ApplyError::EvalBrokerEnabled)
                } else {
                    for id in &c.allocs {
                        t.delete_alloc(&mut ctx, id);
                    }
                    for id in &c.evals {
                        t.delete_eval(&mut ctx, id);
                    }
                    Ok(())
                }
            }
            Command::ApplyPlanResults(c) => alloc::plan_results(t, &mut ctx, c),
            Command::AllocClientUpdate(c) => alloc::client_update(t, &mut ctx, c),
            Command::AllocUpdateDesiredTransition(c) => alloc::desired_transition(t, &mut ctx, c),
            Command::NodeRegister(c) => node::register(t, &mut ctx, c),
            Command::NodeDeregister(c) => node::deregister(t, &mut ctx, c),
            Command::NodeUpdateStatus(c) => node::update_status(t, &mut ctx, c),
            Command::NodeUpdateEligibility(c) => node::update_eligibility(t, &mut ctx, c),
            Command::NodeUpdateDrain(c) => node::update_drain(t, &mut ctx, c),
            Command::SchedulerConfigSet(c) => scheduler::set(t, &mut ctx, c),
            Command::AutopilotConfigSet(c) => scheduler::set_autopilot(t, &mut ctx, c),
            Command::DeploymentStatusSet(c) => deployment::set_status(t, &mut ctx, c),
            Command::DeploymentPromote(c) => deployment::promote(t, &mut ctx, c),
            Command::DeploymentAllocHealth(c) => deployment::alloc_health(t, &mut ctx, c),
            Command::DeploymentDelete(c) => deployment::delete(t, &mut ctx, c),
            Command::JobStability(c) => lifecycle::stability(t, &mut ctx, c),
            Command::ScalingEventRegister(c) => lifecycle::scaling_event(t, &mut ctx, c),
            Command::JobSubmit(c) => lifecycle::submit(t, &mut ctx, c),
            Command::NamespaceUpsert(c) => namespace::upsert(t, &mut ctx, c),
            Command::NamespaceDelete(c) => namespace::delete(t, &mut ctx, c),
            Command::AclBootstrap(c) => crate::acl::bootstrap(t, &mut ctx, c),
            Command::AclPolicyUpsert(c) => crate::acl::upsert_policies(t, &mut ctx, c),
            Command::AclPolicyDelete(c) => crate::acl::delete_policies(t, &mut ctx, c),
            Command::AclTokenUpsert(c) => crate::acl::upsert_tokens(t, &mut ctx, c),
            Command::AclTokenDelete(c) => crate::acl::delete_tokens(t, &mut ctx, c),
            Command::ExecSessionStart(c) => exec_session(&mut ctx, &c.session, false),
            Command::ExecSessionEnd(c) => exec_session(&mut ctx, &c.session, true),
            Command::Batch(_) => Err(ApplyError::Invalid("a batch inside a batch".into())),
            Command::StateRestore(_) | Command::ClusterMetadata(_) => Ok(()),
        };
        if result.is_ok() {
            refresh_job_statuses(t, &mut ctx);
        }
        (result, ctx)
    }
}

impl State {
    /// The first cluster ID written stays; writing it again changes
    /// nothing, and another is refused.
    fn set_cluster(&mut self, c: &crate::command::ClusterMetadata) -> Result<(), ApplyError> {
        match &self.cluster {
            Some(have) if have.cluster_id == c.cluster_id => Ok(()),
            Some(have) => Err(ApplyError::Invalid(format!(
                "cluster_id: this cluster's ID is already {}",
                have.cluster_id
            ))),
            None if c.cluster_id.is_empty() => {
                Err(ApplyError::Invalid("cluster_id: must not be empty".into()))
            }
            None => {
                self.cluster = Some(c.clone());
                Ok(())
            }
        }
    }
}

/// Log an exec session's record. Nothing stores it but the event log, so
/// a session is only as old as retention allows; an end must say when.
fn exec_session(
    ctx: &mut Ctx,
    session: &drover_api::ExecSession,
    ended: bool,
) -> Result<(), ApplyError> {
    let invalid = |field: &str| {
        Err(ApplyError::Invalid(format!(
            "exec session: missing {field}"
        )))
    };
    if session.id.is_empty() {
        return invalid("ID");
    }
    if session.alloc_id.is_empty() {
        return invalid("AllocID");
    }
    if session.namespace.is_empty() {
        return invalid("Namespace");
    }
    if ended && session.ended_at == 0 {
        return invalid("EndedAt");
    }
    ctx.event(crate::events::Object::ExecSession(Box::new(
        session.clone(),
    )));
    Ok(())
}

/// Insert or update evaluations, stamping their indexes, feeding their
/// queued counts into the job summary, and cancelling a job's blocked evals
/// once a later eval completes without failures (Nomad `nestedUpsertEval`).
pub(crate) fn upsert_evals(t: &mut Tables, ctx: &mut Ctx, evals: &[Evaluation]) {
    for eval in evals {
        let mut e = eval.clone();
        e.create_index = t.evals.get(&e.id).map_or(ctx.index, |old| old.create_index);
        e.modify_index = ctx.index;
        let key = (e.namespace.clone(), e.job_id.clone());
        if let Some(mut s) = t.job_summaries.get(&key).map(|s| JobSummary::clone(s)) {
            let mut changed = false;
            for (tg, n) in &e.queued_allocations {
                if let Some(g) = s.summary.get_mut(tg) {
                    if g.queued != *n {
                        g.queued = *n;
                        changed = true;
                    }
                }
            }
            if changed {
                s.modify_index = ctx.index;
                t.put_summary(ctx, s);
            }
        }
        let cancel = e.status == EvalStatus::Complete && e.failed_tg_allocs.is_empty();
        let (id, modify_time) = (e.id.clone(), e.modify_time);
        t.put_eval(ctx, e);
        if cancel {
            for blocked in t.blocked_evals_of_job(&key.0, &key.1) {
                if blocked == id {
                    continue;
                }
                if let Some(mut b) = t.evals.get(&blocked).map(|b| Evaluation::clone(b)) {
                    b.status = EvalStatus::Canceled;
                    b.status_description = format!("evaluation {id:?} successful");
                    b.modify_index = ctx.index;
                    b.modify_time = modify_time;
                    t.put_eval(ctx, b);
                }
            }
        }
    }
}

/// Recompute the status of every job this command touched, in key order,
/// and move child jobs between their parent's children counts.
fn refresh_job_statuses(t: &mut Tables, ctx: &mut Ctx) {
    let dirty = std::mem::take(&mut ctx.dirty_jobs);
    for key in dirty {
        let Some(job) = t.jobs.get(&key) else {
            continue;
        };
        let stats = t.ix.job_stats.get(&key).copied().unwrap_or_default();
        let status = summary::job_status(job, stats, ctx.eval_deleted_jobs.contains(&key));
        if status == job.status {
            continue;
        }
        let mut job = Job::clone(job);
        let old = job.status;
        job.status = status;
        job.modify_index = ctx.index;
        let parent_id = job.parent_id.clone();
        t.put_job(ctx, Arc::new(job));
        if !parent_id.is_empty() {
            set_child_status(t, ctx, &key.0, &parent_id, Some(old), status);
        }
    }
}

pub(crate) fn set_child_status(
    t: &mut Tables,
    ctx: &mut Ctx,
    ns: &str,
    parent_id: &str,
    old: Option<JobStatus>,
    new: JobStatus,
) {
    let pkey = (ns.to_string(), parent_id.to_string());
    let Some(mut ps) = t.job_summaries.get(&pkey).map(|s| JobSummary::clone(s)) else {
        return;
    };
    summary::count_child(ps.children.get_or_insert_with(Default::default), old, new);
    ps.modify_index = ctx.index;
    t.put_summary(ctx, ps);
}
