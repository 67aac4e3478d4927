//! The system and sysbatch schedulers (Nomad `scheduler/scheduler_system.go`
//! with the per-node reconciliation of `scheduler/reconciler/reconcile_node.go`),
//! as a pure function of the state and an evaluation: [`compute_job`]
//! returns a [`Plan`] the worker submits like a generic one.
//!
//! A system job wants one allocation of each task group on every node that
//! is ready, eligible, not draining, in one of its datacenters and its node
//! pool, and feasible for the group (constraints, drivers). Each node is
//! visited once and decided on its own:
//!
//! * down, or gone from the state: its allocations are lost (stopped with
//!   client status `lost`) and not replaced anywhere else;
//! * draining, disconnected, or in the job's pool but not ready or
//!   ineligible: its allocations are left alone (ignored), nothing new goes
//!   there;
//! * ready but outside the job's datacenters or pool: its allocations stop;
//! * a target node: an allocation that is still feasible there is kept
//!   (ignored); one whose node no longer passes the constraints stops;
//!   a missing one is placed if the node passes feasibility and has room.
//!
//! Allocations of groups the job no longer has (or with `count` 0) stop, and
//! a stopped or deregistered job stops everything. For `sysbatch`, a
//! terminal allocation of the current job version on a node means the group
//! already ran there, so it is not placed again (as Nomad: whether it
//! completed or failed).
//!
//! Failures follow Nomad: a node the group cannot fit on is a failed
//! placement (its metric, later ones coalesced) and a queued allocation; a
//! node filtered by constraints is not a failure, it simply is not a target.
//! Only when a group is placed nowhere, runs nowhere and every candidate was
//! filtered does it get the merged filter metrics as its failure, so the user
//! can see why nothing runs.
//!
//! Not yet: in-place and destructive updates of allocations of an older job
//! version (they are kept), rolling `update`, deployments, preemption,
//! `distinct_*` constraints (checking them needs every allocation of the job
//! per node; with one allocation per node they rarely matter), and the
//! `unknown` status for allocations on disconnected nodes.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::{
    AllocClientStatus, AllocDesiredStatus, AllocMetric, Allocation, DesiredUpdates, Evaluation,
    Job, JobType, Node, NodeStatus, SchedulingEligibility, TaskGroup,
};
use drover_state::{State, WatchSet};

use super::feasible::{datacenter_matches, node_is_feasible, pool_matches};
use super::generic::{live_usage, Plan, DESC_LOST, DESC_SCALED_DOWN, DESC_STOPPED_JOB};
use super::rank::{
    binpack_score, exhausted, fit, normalize, record_score, Capacity, Usage, BINPACK,
};
use drover_state::command::AllocStopped;

/// What the scheduler does with a node, before looking at task groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeRole {
    /// Down: its allocations are lost.
    Lost,
    /// Draining, disconnected, or in the pool but not ready: leave its
    /// allocations alone, place nothing new.
    Keep,
    /// Ready but outside the job's datacenters or pool: stop what runs there.
    Untargeted,
    /// Ready, eligible, in the job's datacenters and pool: a placement target.
    Target,
}

fn role(node: &Node, job: &Job) -> NodeRole {
    if node.status == NodeStatus::Down {
        return NodeRole::Lost;
    }
    if node.is_draining() || node.status == NodeStatus::Disconnected {
        return NodeRole::Keep;
    }
    let in_pool = pool_matches(&job.node_pool, &node.node_pool);
    let ready = node.status == NodeStatus::Ready
        && node.scheduling_eligibility == SchedulingEligibility::Eligible;
    if !ready {
        return if in_pool {
            NodeRole::Keep
        } else {
            NodeRole::Untargeted
        };
    }
    if in_pool && datacenter_matches(&job.datacenters, &node.datacenter) {
        NodeRole::Target
    } else {
        NodeRole::Untargeted
    }
}

/// Plan `eval` for a system or sysbatch `job` (`None`: the job is gone).
/// `new_id` names new allocations.
pub fn compute_job(
    st: &State,
    eval: &Evaluation,
    job: Option<&Job>,
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) -> Plan {
    let mut ws = WatchSet::new();
    let mut plan = Plan {
        namespace: eval.namespace.clone(),
        job_id: eval.job_id.clone(),
        ..Default::default()
    };
    let rows: Vec<_> = st
        .allocs_by_job(&mut ws, &eval.namespace, &eval.job_id)
        .collect();
    let Some(job) = job.filter(|j| !j.stop) else {
        for r in rows.iter().filter(|r| !r.alloc.is_terminal()) {
            stop(&mut plan, &r.alloc, DESC_STOPPED_JOB, None);
        }
        return plan;
    };
    plan.job_version = job.version;
    for tg in &job.task_groups {
        plan.queued.insert(tg.name.clone(), 0);
        plan.desired_updates.entry(tg.name.clone()).or_default();
    }

    // The job's live allocations by node; for sysbatch, the (node, group)
    // pairs where the current job version already ran.
    let sysbatch = job.job_type == JobType::Sysbatch;
    let mut live: BTreeMap<&str, Vec<&Allocation>> = BTreeMap::new();
    let mut ran: BTreeSet<(&str, &str)> = BTreeSet::new();
    for r in &rows {
        let a = &r.alloc;
        if a.is_terminal() {
            if sysbatch && r.job_create_index == job.create_index && r.job_version == job.version {
                ran.insert((a.node_id.as_str(), a.task_group.as_str()));
            }
        } else if job.task_group(&a.task_group).is_none_or(|tg| tg.count <= 0) {
            stop(&mut plan, a, DESC_SCALED_DOWN, None);
        } else {
            live.entry(a.node_id.as_str()).or_default().push(a);
        }
    }

    let nodes: Vec<(&Node, NodeRole)> = st
        .nodes(&mut ws, "", None, false)
        .map(|n| (n, role(n, job)))
        .collect();
    let mut placer = Placer {
        st,
        job,
        eval_id: &eval.id,
        nodes_available: BTreeMap::new(),
        nodes_in_pool: 0,
        filtered: BTreeMap::new(),
        new_id,
        now,
    };
    for (node, _) in nodes.iter().filter(|(_, r)| *r == NodeRole::Target) {
        *placer
            .nodes_available
            .entry(node.datacenter.clone())
            .or_insert(0) += 1;
        placer.nodes_in_pool += 1;
    }

    for (node, role) in nodes {
        let here = live.remove(node.id.as_str()).unwrap_or_default();
        match role {
            NodeRole::Lost => {
                for a in here {
                    stop(&mut plan, a, DESC_LOST, Some(AllocClientStatus::Lost));
                }
            }
            NodeRole::Keep => {
                for a in here {
                    ignore(&mut plan, &a.task_group);
                }
            }
            NodeRole::Untargeted => {
                for a in here {
                    stop(&mut plan, a, DESC_SCALED_DOWN, None);
                }
            }
            NodeRole::Target => placer.reconcile_node(&mut plan, node, &here, &ran),
        }
    }
    // Whatever is left ran on nodes that no longer exist.
    for a in live.into_values().flatten() {
        stop(&mut plan, a, DESC_LOST, Some(AllocClientStatus::Lost));
    }

    // A group placed nowhere and running nowhere, only because every node
    // was filtered: report why (Nomad's mergeNodeFiltered), so the job does
    // not silently run nothing.
    for (tg, metric) in std::mem::take(&mut placer.filtered) {
        let d = plan.desired_updates.get(&tg).cloned().unwrap_or_default();
        if d.place == 0 && d.ignore == 0 && !plan.failed_tg_allocs.contains_key(&tg) {
            plan.failed_tg_allocs.insert(tg, metric);
        }
    }
    plan
}

/// Placement state for one plan.
struct Placer<'a, 'f> {
    st: &'a State,
    job: &'a Job,
    eval_id: &'a str,
    /// Target nodes per datacenter (Nomad's `NodesAvailable`).
    nodes_available: BTreeMap<String, i64>,
    nodes_in_pool: i64,
    /// Per group: the merged metrics of nodes its constraints filtered out.
    filtered: BTreeMap<String, AllocMetric>,
    new_id: &'f mut dyn FnMut() -> String,
    now: i64,
}

impl Placer<'_, '_> {
    /// Decide every task group on one target node. `here` is the job's live
    /// allocations on it; `ran` the sysbatch groups already run per node.
    fn reconcile_node(
        &mut self,
        plan: &mut Plan,
        node: &Node,
        here: &[&Allocation],
        ran: &BTreeSet<(&str, &str)>,
    ) {
        // Usage is read only if something is placed, then grows with it.
        let mut usage: Option<Usage> = None;
        for tg in &self.job.task_groups {
            if tg.count <= 0 {
                continue;
            }
            let mut mine = here.iter().filter(|a| a.task_group == tg.name);
            if let Some(first) = mine.next() {
                let mut scratch = AllocMetric::default();
                if node_is_feasible(node, self.job, tg, &mut scratch) {
                    ignore(plan, &tg.name);
                } else {
                    stop(plan, first, DESC_SCALED_DOWN, None);
                }
                // One per node: duplicates are extras.
                for a in mine {
                    stop(plan, a, DESC_SCALED_DOWN, None);
                }
                continue;
            }
            if ran.contains(&(node.id.as_str(), tg.name.as_str())) {
                ignore(plan, &tg.name);
                continue;
            }
            let used = usage.get_or_insert_with(|| live_usage(self.st, &node.id));
            self.place(plan, node, tg, used);
        }
    }

    fn place(&mut self, plan: &mut Plan, node: &Node, tg: &TaskGroup, used: &mut Usage) {
        let mut metric = AllocMetric::default();
        if !node_is_feasible(node, self.job, tg, &mut metric) {
            self.filtered
                .entry(tg.name.clone())
                .and_modify(|acc| merge_filtered(acc, &metric))
                .or_insert(metric);
            return;
        }
        metric.nodes_available = self.nodes_available.clone();
        metric.nodes_in_pool = self.nodes_in_pool;
        metric.node_pool = self.job.node_pool.clone();
        plan.desired_updates
            .entry(tg.name.clone())
            .or_default()
            .place += 1;
        let cap = Capacity::of(node);
        let resources = match fit(node, &cap, used, tg) {
            Ok(r) => r,
            Err(dim) => {
                exhausted(&mut metric, dim);
                *plan.queued.entry(tg.name.clone()).or_insert(0) += 1;
                plan.failed_tg_allocs
                    .entry(tg.name.clone())
                    .and_modify(|m| m.coalesced_failures += 1)
                    .or_insert(metric);
                return;
            }
        };
        used.add(&resources);
        let scores = [(BINPACK, binpack_score(&cap, used))];
        record_score(&mut metric, &node.id, &scores, normalize(&scores));
        let job = self.job;
        let job_name = if job.name.is_empty() {
            &job.id
        } else {
            &job.name
        };
        plan.placed.push(Allocation {
            id: (self.new_id)(),
            namespace: job.namespace.clone(),
            eval_id: self.eval_id.to_string(),
            // Nomad names every system allocation with index 0.
            name: format!("{job_name}.{}[0]", tg.name),
            node_id: node.id.clone(),
            node_name: node.name.clone(),
            job_id: job.id.clone(),
            task_group: tg.name.clone(),
            allocated_resources: Some(resources),
            metrics: Some(metric),
            desired_status: AllocDesiredStatus::Run,
            client_status: AllocClientStatus::Pending,
            create_time: self.now,
            modify_time: self.now,
            ..Default::default()
        });
    }
}

fn stop(plan: &mut Plan, a: &Allocation, why: &str, client_status: Option<AllocClientStatus>) {
    plan.stopped.push(AllocStopped {
        id: a.id.clone(),
        desired_description: why.to_string(),
        client_status,
        followup_eval_id: String::new(),
    });
    plan.desired_updates
        .entry(a.task_group.clone())
        .or_default()
        .stop += 1;
}

fn ignore(plan: &mut Plan, tg: &str) {
    let d: &mut DesiredUpdates = plan.desired_updates.entry(tg.to_string()).or_default();
    d.ignore += 1;
}

/// Nomad's `mergeNodeFiltered`: sum what filtering recorded.
fn merge_filtered(acc: &mut AllocMetric, m: &AllocMetric) {
    acc.nodes_evaluated += m.nodes_evaluated;
    acc.nodes_filtered += m.nodes_filtered;
    for (k, v) in &m.class_filtered {
        *acc.class_filtered.entry(k.clone()).or_insert(0) += v;
    }
    for (k, v) in &m.constraint_filtered {
        *acc.constraint_filtered.entry(k.clone()).or_insert(0) += v;
    }
}
