//! The service and batch scheduler (Nomad scheduler/generic_sched.go), as a
//! pure function of the state and an evaluation: [`compute`] returns the
//! plan; the worker submits it and the plan applier commits it.
//!
//! This slice reconciles counts and places: per task group it keeps the live
//! allocations up to `count`, stops the extras (highest name index first, as
//! Nomad), marks allocations on down or missing nodes lost and replaces
//! them, and places what is missing. Placement walks the nodes in a rotation
//! seeded by the eval ID, filters with [`super::feasible`], fits and scores
//! with [`super::rank`], and stops after Nomad's candidate limit, so the
//! cost of one placement stays flat as nodes grow. Every decision is
//! recorded in the placement's `AllocMetric`; a group that cannot be placed
//! gets `FailedTGAllocs` and a queued count.
//!
//! Not yet (later slices of issue C): rolling and in-place updates (`update`
//! stanza), reschedule delays and trackers, deployments, preemption.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::{
    AllocClientStatus, AllocDesiredStatus, AllocMetric, Allocation, Evaluation, Job, JobType, Node,
    NodeStatus, TaskGroup,
};
use drover_state::command::{AllocStopped, ApplyPlanResults};
use drover_state::{AllocRow, Command, State, WatchSet};

use super::feasible::{distinct_ok, node_is_feasible};
use super::rank::{
    binpack_score, exhausted, fit, job_anti_affinity, normalize, record_score, Capacity, Usage,
    BINPACK, JOB_ANTI_AFFINITY,
};

pub const DESC_STOPPED_JOB: &str = "alloc not needed as job is stopped";
pub const DESC_SCALED_DOWN: &str = "alloc not needed due to job update";
pub const DESC_LOST: &str = "alloc is lost since its node is down";

/// What a scheduler decided for one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub namespace: String,
    pub job_id: String,
    pub job_version: u64,
    pub placed: Vec<Allocation>,
    pub stopped: Vec<AllocStopped>,
    /// Per task group: why its placements failed (coalesced, as Nomad).
    pub failed_tg_allocs: BTreeMap<String, AllocMetric>,
    /// Per task group: placements that could not be made.
    pub queued: BTreeMap<String, i64>,
    /// Per task group: what the plan does to it, for plan annotations.
    pub desired_updates: BTreeMap<String, drover_api::DesiredUpdates>,
}

impl Plan {
    /// Whether the plan changes anything.
    pub fn is_noop(&self) -> bool {
        self.placed.is_empty() && self.stopped.is_empty()
    }

    /// The Raft command that commits this plan, with the eval's final state.
    /// When placements failed, a blocked eval (Nomad `CreateBlockedEval`)
    /// waits for capacity; `blocked_id` names it. It is not terminal, so
    /// the job stays pending rather than dead.
    pub fn into_command(self, mut eval: Evaluation, blocked_id: String, now: i64) -> Command {
        let mut evals = Vec::new();
        if !self.failed_tg_allocs.is_empty() {
            let blocked = Evaluation {
                id: blocked_id,
                namespace: eval.namespace.clone(),
                priority: eval.priority,
                eval_type: eval.eval_type.clone(),
                triggered_by: drover_api::trigger::QUEUED_ALLOCS.to_string(),
                job_id: eval.job_id.clone(),
                job_modify_index: eval.job_modify_index,
                status: drover_api::EvalStatus::Blocked,
                status_description: "created to place remaining allocations".to_string(),
                previous_eval: eval.id.clone(),
                failed_tg_allocs: self.failed_tg_allocs.clone(),
                create_time: now,
                modify_time: now,
                ..Default::default()
            };
            eval.blocked_eval = blocked.id.clone();
            evals.push(blocked);
        }
        eval.status = drover_api::EvalStatus::Complete;
        eval.failed_tg_allocs = self.failed_tg_allocs;
        eval.queued_allocations = self.queued;
        eval.modify_time = now;
        evals.insert(0, eval);
        Command::ApplyPlanResults(ApplyPlanResults {
            namespace: self.namespace,
            job_id: self.job_id,
            job_version: self.job_version,
            placed: self.placed,
            stopped: self.stopped,
            preempted: vec![],
            followups: vec![],
            evals,
            now,
        })
    }
}

/// Nomad's candidate limit: log2 of the node count (at least 2) for service
/// jobs, 2 for batch ("power of two choices"), scheduler/feasible/stack.go.
pub fn candidate_limit(job_type: JobType, nodes: usize) -> usize {
    match job_type {
        JobType::Batch | JobType::Sysbatch => 2,
        JobType::Service | JobType::System => ((nodes.max(1) as f64).log2().ceil() as usize).max(2),
    }
}

/// What the live allocations on a node use. Shared by placement and by the
/// plan applier's re-check, so both count exactly the same allocations.
pub fn live_usage(st: &State, node_id: &str) -> Usage {
    let mut ws = WatchSet::new();
    let allocs: Vec<&Allocation> = st
        .allocs_by_node(&mut ws, node_id)
        .filter(|r| !r.alloc.is_terminal())
        .map(|r| &r.alloc)
        .collect();
    Usage::of(&allocs)
}

/// The index in `job.tg[3]`.
fn name_index(name: &str) -> Option<u64> {
    let open = name.rfind('[')?;
    name[open + 1..].strip_suffix(']')?.parse().ok()
}

/// A stable rotation start: FNV-1a of the eval ID.
fn rotation(seed: &str, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n as u64) as usize
}

/// Compute the plan for `eval` against `st`. `new_id` names new allocations.
pub fn compute(
    st: &State,
    eval: &Evaluation,
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) -> Plan {
    let job = st.job(&mut WatchSet::new(), &eval.namespace, &eval.job_id);
    compute_job(st, eval, job, new_id, now)
}

/// [`compute`] against a given version of the job rather than the stored
/// one: `PUT /v1/job/{id}/plan` plans a job that is not registered yet
/// (Nomad's `Job.Plan` upserts it into a scratch snapshot instead). `None`
/// means the job is gone, so everything it runs stops.
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
    let rows: Vec<&AllocRow> = st
        .allocs_by_job(&mut ws, &eval.namespace, &eval.job_id)
        .filter(|r| !r.alloc.is_terminal())
        .collect();
    let Some(job) = job.filter(|j| !j.stop) else {
        for r in rows {
            plan.stopped.push(stop(&r.alloc, DESC_STOPPED_JOB, None));
        }
        return plan;
    };
    plan.job_version = job.version;
    let nodes: Vec<&Node> = st.nodes(&mut ws, "", None, false).collect();
    let node_ok = |id: &str| {
        nodes
            .iter()
            .find(|n| n.id == id)
            .is_some_and(|n| !matches!(n.status, NodeStatus::Down))
    };
    // Allocations of groups the job no longer has, or on lost nodes.
    let mut keep: BTreeMap<&str, Vec<&AllocRow>> = BTreeMap::new();
    for r in rows {
        let a = &r.alloc;
        if job.task_group(&a.task_group).is_none() {
            plan.stopped.push(stop(a, DESC_SCALED_DOWN, None));
        } else if !node_ok(&a.node_id) {
            plan.stopped
                .push(stop(a, DESC_LOST, Some(AllocClientStatus::Lost)));
        } else {
            keep.entry(a.task_group.as_str()).or_default().push(r);
        }
    }
    // Batch allocations that finished successfully are done, not missing.
    let completed: BTreeMap<&str, usize> = if job.job_type == JobType::Batch {
        let mut m = BTreeMap::new();
        for r in st.allocs_by_job(&mut ws, &eval.namespace, &eval.job_id) {
            if r.alloc.client_status == AllocClientStatus::Complete
                && r.job_create_index == job.create_index
            {
                *m.entry(r.alloc.task_group.as_str()).or_insert(0) += 1;
            }
        }
        m
    } else {
        BTreeMap::new()
    };
    let mut placer = Placer::new(st, job, &nodes, eval);
    for tg in &job.task_groups {
        let mut current = keep.remove(tg.name.as_str()).unwrap_or_default();
        let desired = usize::try_from(tg.count.max(0))
            .unwrap_or(0)
            .saturating_sub(completed.get(tg.name.as_str()).copied().unwrap_or(0));
        if current.len() > desired {
            current.sort_by_key(|r| std::cmp::Reverse(name_index(&r.alloc.name).unwrap_or(0)));
            let extra = current.len() - desired;
            for r in current.drain(..extra) {
                plan.stopped.push(stop(&r.alloc, DESC_SCALED_DOWN, None));
            }
        }
        let used: BTreeSet<u64> = current
            .iter()
            .filter_map(|r| name_index(&r.alloc.name))
            .collect();
        let missing = desired - current.len();
        let free_indexes = (0u64..).filter(|i| !used.contains(i)).take(missing);
        for index in free_indexes {
            match placer.place(tg, index, new_id, now) {
                Ok(a) => plan.placed.push(a),
                Err(metric) => {
                    *plan.queued.entry(tg.name.clone()).or_insert(0) += 1;
                    plan.failed_tg_allocs
                        .entry(tg.name.clone())
                        .and_modify(|m| m.coalesced_failures += 1)
                        .or_insert(*metric);
                }
            }
        }
    }
    plan
}

fn stop(a: &Allocation, why: &str, client_status: Option<AllocClientStatus>) -> AllocStopped {
    AllocStopped {
        id: a.id.clone(),
        desired_description: why.to_string(),
        client_status,
        followup_eval_id: String::new(),
    }
}

/// Placement state for one plan: usage per node includes what this plan
/// already placed, so two placements never share the same free capacity.
struct Placer<'a> {
    st: &'a State,
    job: &'a Job,
    nodes: &'a [&'a Node],
    start: usize,
    eval_id: String,
    usage: BTreeMap<String, Usage>,
    /// The job's allocations (stored and proposed), for distinct_* checks and anti-affinity.
    job_allocs: Vec<Allocation>,
}

impl<'a> Placer<'a> {
    fn new(st: &'a State, job: &'a Job, nodes: &'a [&'a Node], eval: &Evaluation) -> Self {
        let mut ws = WatchSet::new();
        let job_allocs = st
            .allocs_by_job(&mut ws, &job.namespace, &job.id)
            .filter(|r| !r.alloc.is_terminal())
            .map(|r| r.alloc.clone())
            .collect();
        Placer {
            st,
            job,
            nodes,
            start: rotation(&eval.id, nodes.len()),
            eval_id: eval.id.clone(),
            usage: BTreeMap::new(),
            job_allocs,
        }
    }

    fn usage(&mut self, node: &Node) -> &Usage {
        let st = self.st;
        self.usage
            .entry(node.id.clone())
            .or_insert_with(|| live_usage(st, &node.id))
    }

    fn place(
        &mut self,
        tg: &TaskGroup,
        index: u64,
        new_id: &mut dyn FnMut() -> String,
        now: i64,
    ) -> Result<Allocation, Box<AllocMetric>> {
        let mut metric = AllocMetric::default();
        let limit = candidate_limit(self.job.job_type, self.nodes.len());
        let desired = usize::try_from(tg.count.max(1)).unwrap_or(1);
        let mut best: Option<(f64, &Node, drover_api::AllocatedResources)> = None;
        let mut scored = 0;
        let n = self.nodes.len();
        let mut examined = 0;
        for k in 0..n {
            examined = k + 1;
            let node = self.nodes[(self.start + k) % n];
            if !node_is_feasible(node, self.job, tg, &mut metric) {
                continue;
            }
            let existing: Vec<&Allocation> = self.job_allocs.iter().collect();
            let lookup = |id: &str| self.nodes.iter().copied().find(|n| n.id == id);
            if !distinct_ok(node, self.job, tg, &existing, &lookup, &mut metric) {
                continue;
            }
            let cap = Capacity::of(node);
            let used = self.usage(node).clone();
            let resources = match fit(node, &cap, &used, tg) {
                Ok(r) => r,
                Err(dim) => {
                    exhausted(&mut metric, dim);
                    continue;
                }
            };
            let mut after = used;
            after.add(&resources);
            let collisions = self
                .job_allocs
                .iter()
                .filter(|a| a.node_id == node.id && a.task_group == tg.name)
                .count();
            let mut scores = vec![(BINPACK, binpack_score(&cap, &after))];
            if let Some(s) = job_anti_affinity(collisions, desired) {
                scores.push((JOB_ANTI_AFFINITY, s));
            }
            let norm = normalize(&scores);
            record_score(&mut metric, &node.id, &scores, norm);
            if best
                .as_ref()
                .is_none_or(|(b, bn, _)| norm > *b || (norm == *b && node.id < bn.id))
            {
                best = Some((norm, node, resources));
            }
            scored += 1;
            if scored >= limit {
                break;
            }
        }
        // The next placement resumes where this one stopped, as Nomad's node
        // iterator does, so a limited scan still sees every node in turn.
        if n > 0 {
            self.start = (self.start + examined) % n;
        }
        let Some((_, node, resources)) = best else {
            return Err(Box::new(metric));
        };
        self.usage
            .entry(node.id.clone())
            .or_default()
            .add(&resources);
        let alloc = Allocation {
            id: new_id(),
            namespace: self.job.namespace.clone(),
            eval_id: self.eval_id.clone(),
            name: format!("{}.{}[{}]", self.job.id, tg.name, index),
            node_id: node.id.clone(),
            node_name: node.name.clone(),
            job_id: self.job.id.clone(),
            task_group: tg.name.clone(),
            allocated_resources: Some(resources),
            metrics: Some(metric),
            desired_status: AllocDesiredStatus::Run,
            client_status: AllocClientStatus::Pending,
            create_time: now,
            modify_time: now,
            ..Default::default()
        };
        self.job_allocs.push(alloc.clone());
        Ok(alloc)
    }
}
