//! Forced garbage collection (`PUT /v1/system/gc`; Nomad nomad/core_sched.go
//! `forceGC`): which evaluations, allocations, jobs and nodes can go.
//! [`deployments`] also serves the leader's timed collection of
//! deployments (`gc_timer.rs`), which does apply an age threshold.
//!
//! [`select`] is a pure function of the applied state; the HTTP handler turns
//! its answer into Raft commands with [`Collect::commands`]. A forced GC
//! ignores every age threshold (Nomad passes a 1ms threshold), so only the
//! structural rules of core_sched.go remain:
//!
//! - `jobGC`: a job that `jobIsGCable` (nomad/state/schema.go) whose every
//!   evaluation passes `gcEval` is purged together with those evaluations and
//!   their allocations.
//! - `evalGC`: any terminal evaluation whose allocations pass
//!   `allocGCEligible` is deleted with them; a batch job that is still around
//!   and not dead keeps its current allocations and evaluations, and loses
//!   only terminal allocations of older versions.
//! - `deploymentGC`: a deployment that is no longer active and that no
//!   non-terminal allocation references is deleted.
//! - `nodeGC`: a down node without non-terminal allocations is deregistered.
//!
//! Drover extension: a terminal allocation whose job or whose evaluation no
//! longer exists is collected too (Nomad walks evaluations only, so such an
//! allocation would wait for its node to be collected).
//!
//! Not modelled: CSI, ACL tokens, keys (Drover has none), and
//! Nomad's `VersionTag` (tagged versions keep a job; Drover has no tags).

use std::collections::BTreeSet;

use drover_api::{
    AllocClientStatus, AllocDesiredStatus, Allocation, Evaluation, Job, JobStatus, JobType,
    NodeStatus,
};
use drover_state::command::{DeploymentDelete, EvalDelete, JobDeregister, NodeDeregister};
use drover_state::{Command, NamespaceSel, State, WatchSet};

/// What a forced GC removes. Sorted, without duplicates.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collect {
    pub evals: BTreeSet<String>,
    pub allocs: BTreeSet<String>,
    /// `(namespace, job ID)` of jobs to purge.
    pub jobs: BTreeSet<(String, String)>,
    pub deployments: BTreeSet<String>,
    pub nodes: BTreeSet<String>,
}

impl Collect {
    pub fn is_empty(&self) -> bool {
        self.evals.is_empty()
            && self.allocs.is_empty()
            && self.jobs.is_empty()
            && self.deployments.is_empty()
            && self.nodes.is_empty()
    }

    /// The Raft commands, in Nomad's order: evaluations and allocations
    /// first (`evalReap`), then jobs one by one (`jobReap`), then
    /// deployments (`deploymentReap`), then nodes (`nodeReap`). Jobs go one per command so that one job purged in the
    /// meantime does not hold the others back.
    pub fn commands(&self, now: i64) -> Vec<Command> {
        let mut out = Vec::new();
        if !self.evals.is_empty() || !self.allocs.is_empty() {
            out.push(Command::EvalDelete(EvalDelete {
                evals: self.evals.iter().cloned().collect(),
                allocs: self.allocs.iter().cloned().collect(),
                user_initiated: false,
                now,
            }));
        }
        for (namespace, job_id) in &self.jobs {
            out.push(Command::JobDeregister(JobDeregister {
                namespace: namespace.clone(),
                job_id: job_id.clone(),
                purge: true,
                no_shutdown_delay: false,
                eval: None,
                now,
            }));
        }
        if !self.deployments.is_empty() {
            out.push(Command::DeploymentDelete(DeploymentDelete {
                ids: self.deployments.iter().cloned().collect(),
                now,
            }));
        }
        if !self.nodes.is_empty() {
            out.push(Command::NodeDeregister(NodeDeregister {
                node_ids: self.nodes.iter().cloned().collect(),
                now,
            }));
        }
        out
    }
}

/// Everything a forced GC would collect from `st`.
pub fn select(st: &State) -> Collect {
    let mut ws = WatchSet::new();
    let mut out = Collect::default();

    // jobGC (core_sched.go): GC-able jobs whose evals all pass gcEval with
    // allowBatch = true.
    for job in st.jobs(&mut ws, NamespaceSel::All, "", None, false) {
        if !job_is_gcable(job) {
            continue;
        }
        let mut evals = Vec::new();
        let mut allocs = Vec::new();
        let all = st.evals_by_job(&mut ws, &job.namespace, &job.id).all(|e| {
            match gc_eval(st, e, Some(job), true) {
                (true, ids) => {
                    evals.push(e.id.clone());
                    allocs.extend(ids);
                    true
                }
                (false, _) => false,
            }
        });
        // An allocation without an evaluation would otherwise outlive its job.
        let orphans_terminal = st
            .allocs_by_job(&mut ws, &job.namespace, &job.id)
            .all(|r| alloc_gc_eligible(&r.alloc, Some(job)));
        if all && orphans_terminal {
            out.jobs.insert((job.namespace.clone(), job.id.clone()));
            out.evals.extend(evals);
            out.allocs.extend(allocs);
            out.allocs.extend(
                st.allocs_by_job(&mut ws, &job.namespace, &job.id)
                    .map(|r| r.alloc.id.clone()),
            );
        }
    }

    // evalGC (core_sched.go): allowBatch = false, so a live batch job keeps
    // its current evaluations and allocations.
    for eval in st.evals(&mut ws, None, false) {
        let job = st.job(&mut ws, &eval.namespace, &eval.job_id);
        let (gc, allocs) = gc_eval(st, eval, job, false);
        if gc {
            out.evals.insert(eval.id.clone());
        }
        out.allocs.extend(allocs);
    }

    // Drover extension: terminal allocations left without a job or an eval.
    for row in st.allocs(&mut ws, None, false) {
        let a = &row.alloc;
        let job = st.job(&mut ws, &a.namespace, &a.job_id);
        let orphan = job.is_none() || st.eval(&mut ws, &a.eval_id).is_none();
        if orphan && alloc_gc_eligible(a, job) {
            out.allocs.insert(a.id.clone());
        }
    }

    // deploymentGC (core_sched.go) without its age threshold. A purged
    // job's deployments go with the job.
    out.deployments = deployments(st, i64::MAX)
        .into_iter()
        .filter(|id| {
            st.deployment(&mut ws, id)
                .is_some_and(|d| !out.jobs.contains(&(d.namespace.clone(), d.job_id.clone())))
        })
        .collect();

    // nodeGC (core_sched.go): terminal (down) nodes whose allocations are
    // all terminal. Allocations being collected above are terminal anyway.
    for node in st.nodes(&mut ws, "", None, false) {
        if node.status != NodeStatus::Down {
            continue;
        }
        let busy = st
            .allocs_by_node(&mut ws, &node.id)
            .any(|r| !r.alloc.is_terminal());
        if !busy {
            out.nodes.insert(node.id.clone());
        }
    }
    out
}

/// core_sched.go `deploymentGC`: the deployments that are no longer
/// active, last modified at or before `cutoff` (unix nanoseconds), and
/// that no non-terminal allocation references. The forced GC passes
/// `i64::MAX`; the leader's timer (`gc_timer.rs`) now less the
/// `deployment_gc_threshold`.
pub fn deployments(st: &State, cutoff: i64) -> BTreeSet<String> {
    let mut ws = WatchSet::new();
    let mut out = BTreeSet::new();
    for d in st.deployments(&mut ws, None, false) {
        if d.active() || d.modify_time > cutoff {
            continue;
        }
        let referenced = st
            .allocs_by_deployment(&mut ws, &d.id)
            .any(|r| !r.alloc.is_terminal());
        if !referenced {
            out.insert(d.id.clone());
        }
    }
    out
}

/// nomad/state/schema.go `jobIsGCable`: periodic and parameterized jobs only
/// once stopped; otherwise dead jobs that were stopped, or batch and
/// sysbatch jobs that finished on their own. A dead service or system job
/// that was not stopped stays.
fn job_is_gcable(job: &Job) -> bool {
    if job.is_parent() {
        return job.stop;
    }
    if job.status != JobStatus::Dead {
        return false;
    }
    job.stop || matches!(job.job_type, JobType::Batch | JobType::Sysbatch)
}

/// core_sched.go `gcEval`: whether `eval` can go, and which of its
/// allocations can go with it (possibly some even when the eval stays).
fn gc_eval(
    st: &State,
    eval: &Evaluation,
    job: Option<&Job>,
    allow_batch: bool,
) -> (bool, Vec<String>) {
    if !eval.status.is_terminal() {
        return (false, Vec::new());
    }
    let mut ws = WatchSet::new();
    let allocs: Vec<&Allocation> = st
        .allocs_by_eval(&mut ws, &eval.id)
        .map(|r| &r.alloc)
        .collect();
    // A batch job that is still around keeps its current allocations, or the
    // scheduler would run them again; only terminal allocations of older
    // versions go, and the eval only when all of its allocations do. It can
    // be collected outright when the job is gone, stopped and dead, or dead
    // and allowBatch (jobGC).
    if eval.eval_type == JobType::Batch.as_str() {
        let collect = match job {
            None => true,
            Some(j) => j.status == JobStatus::Dead && (j.stop || allow_batch),
        };
        if let (false, Some(job)) = (collect, job) {
            let old: Vec<String> = allocs
                .iter()
                .filter(|a| a.create_index < job.job_modify_index && a.is_terminal())
                .map(|a| a.id.clone())
                .collect();
            return (old.len() == allocs.len(), old);
        }
    }
    let mut gc = true;
    let mut ids = Vec::new();
    for a in allocs {
        if alloc_gc_eligible(a, job) {
            ids.push(a.id.clone());
        } else {
            gc = false;
        }
    }
    (gc, ids)
}

/// core_sched.go `allocGCEligible` without the age thresholds: terminal,
/// not running on its client, and not a failed allocation the reschedule
/// policy may still replace.
fn alloc_gc_eligible(a: &Allocation, job: Option<&Job>) -> bool {
    if !a.is_terminal() || a.client_status == AllocClientStatus::Running {
        return false;
    }
    let Some(job) = job.filter(|j| !j.stop && j.status != JobStatus::Dead) else {
        return true;
    };
    if a.desired_status == AllocDesiredStatus::Stop || a.client_status != AllocClientStatus::Failed
    {
        return true;
    }
    let Some(policy) = job
        .task_group(&a.task_group)
        .and_then(|tg| tg.reschedule_policy.as_ref())
    else {
        return true;
    };
    if !policy.unlimited && policy.attempts == 0 {
        return true;
    }
    if !a.next_allocation.is_empty() {
        return true;
    }
    // Nomad also lets an alloc go once its last reschedule attempt is older
    // than the policy interval; a forced GC has no clock, so a failed
    // allocation still waiting for a replacement stays.
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{ReschedulePolicy, TaskGroup};

    fn job(job_type: JobType, status: JobStatus, stop: bool) -> Job {
        Job {
            id: "j".into(),
            job_type,
            status,
            stop,
            task_groups: vec![TaskGroup {
                name: "g".into(),
                reschedule_policy: Some(ReschedulePolicy {
                    attempts: 1,
                    ..Default::default()
                }),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn alloc(client: AllocClientStatus, desired: AllocDesiredStatus) -> Allocation {
        Allocation {
            id: "a".into(),
            task_group: "g".into(),
            client_status: client,
            desired_status: desired,
            ..Default::default()
        }
    }

    #[test]
    fn which_jobs_are_gcable() {
        use JobStatus::*;
        use JobType::*;
        assert!(job_is_gcable(&job(Service, Dead, true)));
        assert!(!job_is_gcable(&job(Service, Dead, false)));
        assert!(!job_is_gcable(&job(Service, Running, true)));
        assert!(job_is_gcable(&job(Batch, Dead, false)));
        assert!(job_is_gcable(&job(Sysbatch, Dead, false)));
        assert!(!job_is_gcable(&job(Batch, Running, false)));
        let mut periodic = job(Batch, Running, false);
        periodic.periodic = Some(Default::default());
        assert!(!job_is_gcable(&periodic));
        periodic.stop = true;
        assert!(job_is_gcable(&periodic));
    }

    #[test]
    fn which_allocs_are_eligible() {
        use AllocClientStatus as C;
        use AllocDesiredStatus as D;
        let live = job(JobType::Service, JobStatus::Running, false);
        let dead = job(JobType::Service, JobStatus::Dead, true);
        assert!(!alloc_gc_eligible(&alloc(C::Running, D::Run), None));
        assert!(!alloc_gc_eligible(&alloc(C::Pending, D::Run), None));
        assert!(alloc_gc_eligible(&alloc(C::Complete, D::Run), Some(&live)));
        assert!(alloc_gc_eligible(&alloc(C::Lost, D::Stop), Some(&live)));
        assert!(alloc_gc_eligible(&alloc(C::Failed, D::Stop), Some(&live)));
        // Failed, may still be rescheduled: kept while the job lives.
        assert!(!alloc_gc_eligible(&alloc(C::Failed, D::Run), Some(&live)));
        assert!(alloc_gc_eligible(&alloc(C::Failed, D::Run), Some(&dead)));
        assert!(alloc_gc_eligible(&alloc(C::Failed, D::Run), None));
        let mut replaced = alloc(C::Failed, D::Run);
        replaced.next_allocation = "b".into();
        assert!(alloc_gc_eligible(&replaced, Some(&live)));
        // Stopped on the server but still running on the client.
        assert!(!alloc_gc_eligible(&alloc(C::Running, D::Stop), None));
    }

    #[test]
    fn commands_come_in_nomads_order() {
        let c = Collect {
            evals: ["e".to_string()].into(),
            allocs: ["a".to_string()].into(),
            jobs: [("default".to_string(), "j".to_string())].into(),
            deployments: ["d".to_string()].into(),
            nodes: ["n".to_string()].into(),
        };
        let names: Vec<&str> = c.commands(1).iter().map(|c| c.event_type()).collect();
        assert_eq!(
            names,
            [
                "EvaluationDeleted",
                "JobDeregistered",
                "DeploymentDelete",
                "NodeDeregistration"
            ]
        );
        assert!(Collect::default().commands(1).is_empty());
        assert!(Collect::default().is_empty());
    }
}
