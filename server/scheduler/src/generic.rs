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
//! Rolling updates, canaries and rescheduling are decided in
//! [`super::reconcile`] and [`super::reschedule`]. Service jobs deploy each
//! version (Nomad reconcile_cluster.go): the plan creates the version's
//! deployment when a group needs one, places allocations into the active
//! deployment, cancels a deployment of an older version (or of a stopped
//! job) and marks the current one successful once every group is
//! complete. Preemption is not built yet.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use drover_api::{
    deployment_description, deployment_status, AllocClientStatus, AllocDeploymentStatus,
    AllocDesiredStatus, AllocMetric, Allocation, Deployment, DeploymentStatusUpdate, Evaluation,
    Job, JobType, Node, TaskGroup,
};
use drover_state::command::{AllocFollowup, AllocStopped, ApplyPlanResults};
use drover_state::usage::Reserved;
use drover_state::{AllocRow, Command, State, WatchSet};

use super::affinity::{affinity_score, SpreadScorer, ALLOCATION_SPREAD, NODE_AFFINITY};
use super::feasible::{
    distinct_ok, node_is_feasible, CONSTRAINT_DISTINCT_HOSTS, CONSTRAINT_DISTINCT_PROPERTY,
};
use super::rank::{
    binpack_score, exhausted, fit, job_anti_affinity, normalize, record_score, Capacity, Usage,
    BINPACK, JOB_ANTI_AFFINITY,
};
use super::reconcile::{reconcile_group, Context, DeployContext, GroupPlan, Placement};
use super::reschedule;

pub use super::reconcile::{stop, DESC_LOST, DESC_SCALED_DOWN, DESC_STOPPED_JOB};

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
    /// Evals that reschedule failed allocations later (`WaitUntil` set).
    pub followup_evals: Vec<Evaluation>,
    /// Failed allocations pointed at those evals.
    pub followups: Vec<AllocFollowup>,
    /// The Raft index of the state the plan was computed against (set by
    /// the worker); a blocked eval waits for changes after it.
    pub snapshot_index: u64,
    /// A deployment this plan creates (Nomad `Plan.Deployment`).
    pub deployment: Option<Deployment>,
    /// Status changes of the job's deployments: an older version's
    /// cancelled, the current one successful (`Plan.DeploymentUpdates`).
    pub deployment_updates: Vec<DeploymentStatusUpdate>,
    /// The active deployment the plan's placements belong to (empty: none).
    pub deployment_id: String,
}

impl Plan {
    /// Whether the plan changes no allocation. (A plan may still create
    /// or update a deployment: see `deployment` and `deployment_updates`.)
    pub fn is_noop(&self) -> bool {
        self.placed.is_empty() && self.stopped.is_empty() && self.followups.is_empty()
    }

    /// The Raft command that commits this plan, with the eval's final state.
    /// When placements failed, a blocked eval (Nomad `CreateBlockedEval`)
    /// waits for capacity; `blocked_id` names it. It is not terminal, so
    /// the job stays pending rather than dead.
    pub fn into_command(self, mut eval: Evaluation, blocked_id: String, now: i64) -> Command {
        let mut evals = Vec::new();
        // A failure that will be retried by a delayed follow-up eval gets no
        // blocked eval as well (Nomad `delayInstead`).
        let delay_instead = !self.followup_evals.is_empty() && eval.wait_until.is_none();
        if !self.failed_tg_allocs.is_empty() && !delay_instead {
            let blocked = Evaluation {
                status_description: "created to place remaining allocations".to_string(),
                failed_tg_allocs: self.failed_tg_allocs.clone().into_iter().collect(),
                snapshot_index: self.snapshot_index,
                ..chained_eval(
                    &eval,
                    blocked_id,
                    drover_api::trigger::QUEUED_ALLOCS,
                    drover_api::EvalStatus::Blocked,
                    now,
                )
            };
            eval.blocked_eval = blocked.id.clone();
            evals.push(blocked);
        }
        eval.status = drover_api::EvalStatus::Complete;
        if !self.deployment_id.is_empty() {
            eval.deployment_id.clone_from(&self.deployment_id);
        }
        eval.snapshot_index = eval.snapshot_index.max(self.snapshot_index);
        eval.failed_tg_allocs = self.failed_tg_allocs.into_iter().collect();
        eval.queued_allocations = self.queued.into_iter().collect();
        eval.modify_time = now;
        evals.insert(0, eval);
        evals.extend(self.followup_evals);
        Command::ApplyPlanResults(ApplyPlanResults {
            deployment: self.deployment,
            deployment_updates: self.deployment_updates,
            namespace: self.namespace,
            job_id: self.job_id,
            job_version: self.job_version,
            placed: self.placed,
            stopped: self.stopped,
            preempted: vec![],
            followups: self.followups,
            evals,
            now,
        })
    }
}

/// A new eval for `prev`'s job that follows from it: a blocked eval, a
/// delayed reschedule, a retry of a failed eval (Nomad builds all three
/// this way, `JobModifyIndex` and `PreviousEval` included).
pub fn chained_eval(
    prev: &Evaluation,
    id: String,
    triggered_by: &str,
    status: drover_api::EvalStatus,
    now: i64,
) -> Evaluation {
    Evaluation {
        id,
        namespace: prev.namespace.clone(),
        priority: prev.priority,
        eval_type: prev.eval_type.clone(),
        triggered_by: triggered_by.to_string(),
        job_id: prev.job_id.clone(),
        job_modify_index: prev.job_modify_index,
        status,
        previous_eval: prev.id.clone(),
        create_time: now,
        modify_time: now,
        ..Default::default()
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
    live_usage_excluding(st, node_id, &BTreeSet::new())
}

/// [`live_usage`] without the allocations a plan stops or replaces. Reads
/// the state's per-node usage index, so the cost does not grow with the
/// number of allocations on the node.
pub fn live_usage_excluding(st: &State, node_id: &str, freed: &BTreeSet<String>) -> Usage {
    let Some(usage) = st.node_usage(node_id) else {
        return Usage::default();
    };
    let mut ws = WatchSet::new();
    let mut freed_here = freed
        .iter()
        .filter_map(|id| st.alloc(&mut ws, id))
        .filter(|r| r.alloc.node_id == node_id && !r.alloc.is_terminal())
        .peekable();
    if freed_here.peek().is_none() {
        return Usage::from_node(usage);
    }
    let mut usage = usage.clone();
    for r in freed_here {
        usage.remove(&Reserved::of(&r.alloc));
    }
    Usage::from_node(&usage)
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
        .collect();
    let latest = st.latest_deployment_by_job(&mut ws, &eval.namespace, &eval.job_id);
    let Some(job) = job.filter(|j| !j.stop) else {
        for r in rows.iter().filter(|r| !r.alloc.is_terminal()) {
            plan.stopped.push(stop(&r.alloc, DESC_STOPPED_JOB, None));
        }
        if let Some(d) = latest.filter(|d| d.active()) {
            plan.deployment_updates.push(status_update(
                d,
                deployment_status::CANCELLED,
                deployment_description::STOPPED_JOB,
            ));
        }
        return plan;
    };
    plan.job_version = job.version;
    let deploy = deploy_context(job, latest, &mut plan.deployment_updates);
    let nodes: Vec<&Node> = st.nodes_unwatched().collect();
    let lookup = |id: &str| st.node_unwatched(id);
    let cx = Context {
        st,
        job,
        eval_id: &eval.id,
        now,
        node: &lookup,
        deploy,
    };
    let mut by_group: BTreeMap<&str, Vec<&AllocRow>> = BTreeMap::new();
    for r in rows {
        if job.task_group(&r.alloc.task_group).is_some() {
            by_group
                .entry(r.alloc.task_group.as_str())
                .or_default()
                .push(r);
        } else if !r.alloc.is_terminal() {
            plan.stopped.push(stop(&r.alloc, DESC_SCALED_DOWN, None));
        }
    }
    let groups: Vec<(&TaskGroup, GroupPlan)> = job
        .task_groups
        .iter()
        .map(|tg| {
            let rows = by_group.remove(tg.name.as_str()).unwrap_or_default();
            (tg, reconcile_group(&cx, tg, rows))
        })
        .collect();
    // Everything this plan stops frees its room before anything is placed.
    let mut freed: BTreeSet<String> = plan.stopped.iter().map(|s| s.id.clone()).collect();
    for (_, g) in &groups {
        freed.extend(g.stop.iter().map(|s| s.id.clone()));
        freed.extend(
            g.place
                .iter()
                .filter(|p| p.stop_prev.is_some())
                .filter_map(|p| p.prev.map(|a| a.id.clone())),
        );
    }
    deployment_for_plan(&mut plan, job, eval, &deploy, &groups, new_id, now);
    let mut placer = Placer::new(st, job, &nodes, eval, &freed);
    let mut later: Vec<(&Allocation, i64)> = Vec::new();
    for (tg, g) in groups {
        plan.stopped.extend(g.stop);
        plan.desired_updates.insert(tg.name.clone(), g.desired);
        for r in g.in_place {
            let mut a = r.alloc.clone();
            a.eval_id.clone_from(&eval.id);
            a.job = None;
            // An allocation updated in place joins the deployment and is
            // judged healthy again (Nomad generic_sched.go).
            if a.deployment_id != plan.deployment_id {
                a.deployment_id.clone_from(&plan.deployment_id);
                a.deployment_status = None;
            }
            plan.placed.push(a);
        }
        later.extend(g.later);
        for p in &g.place {
            match placer.place(tg, p, new_id, now) {
                Ok(mut a) => {
                    a.deployment_id.clone_from(&plan.deployment_id);
                    if p.canary && !plan.deployment_id.is_empty() {
                        a.deployment_status = Some(AllocDeploymentStatus {
                            canary: true,
                            ..Default::default()
                        });
                    }
                    if let (Some(prev), Some(why)) = (p.prev, p.stop_prev) {
                        plan.stopped.push(stop(prev, why, None));
                    }
                    plan.placed.push(a);
                }
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
    followup_evals(&mut plan, eval, later, new_id, now);
    plan
}

fn status_update(d: &Deployment, status: &str, description: &str) -> DeploymentStatusUpdate {
    DeploymentStatusUpdate {
        deployment_id: d.id.clone(),
        status: status.to_string(),
        status_description: description.to_string(),
    }
}

/// Nomad `cancelUnneededServiceDeployments`: the job's latest deployment is
/// the current one if it is of this version and not yet successful; an
/// active one of another version (or incarnation) is cancelled and only
/// its unpromoted canaries still matter.
fn deploy_context<'a>(
    job: &Job,
    latest: Option<&'a Deployment>,
    updates: &mut Vec<DeploymentStatusUpdate>,
) -> DeployContext<'a> {
    let Some(d) = latest else {
        return DeployContext::default();
    };
    if d.job_create_index != job.create_index || d.job_version != job.version {
        if d.active() {
            updates.push(status_update(
                d,
                deployment_status::CANCELLED,
                deployment_description::NEWER_JOB,
            ));
        }
        return DeployContext {
            old: Some(d),
            ..Default::default()
        };
    }
    if d.status == deployment_status::SUCCESSFUL {
        return DeployContext {
            old: Some(d),
            ..Default::default()
        };
    }
    DeployContext {
        current: Some(d),
        old: None,
        paused: matches!(
            d.status.as_str(),
            deployment_status::PAUSED
                | deployment_status::PENDING
                | deployment_status::INITIALIZING
        ),
        failed: d.status == deployment_status::FAILED,
    }
}

/// The deployment side of the plan: a new deployment when a group needs
/// one and the version has none (Nomad `createDeployment` and
/// `NewDeployment`), the deployment placements join (the active one), and
/// success once every group is complete (`setDeploymentStatusAndUpdates`).
fn deployment_for_plan(
    plan: &mut Plan,
    job: &Job,
    eval: &Evaluation,
    deploy: &DeployContext<'_>,
    groups: &[(&TaskGroup, GroupPlan<'_>)],
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) {
    if let Some(d) = deploy.current {
        if d.active() {
            plan.deployment_id.clone_from(&d.id);
        }
        if groups.iter().all(|(_, g)| g.complete) {
            plan.deployment_updates.push(status_update(
                d,
                deployment_status::SUCCESSFUL,
                deployment_description::SUCCESSFUL,
            ));
        }
        return;
    }
    let wanted: Vec<(&str, &drover_api::DeploymentState)> = groups
        .iter()
        .filter_map(|(tg, g)| g.new_deployment.as_ref().map(|s| (tg.name.as_str(), s)))
        .collect();
    if wanted.is_empty() {
        return;
    }
    let mut d = Deployment {
        id: new_id(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_version: job.version,
        job_modify_index: job.modify_index,
        job_spec_modify_index: job.job_modify_index,
        job_create_index: job.create_index,
        status: deployment_status::RUNNING.to_string(),
        status_description: deployment_description::RUNNING.to_string(),
        task_groups: wanted
            .into_iter()
            .map(|(name, s)| (name.to_string(), s.clone()))
            .collect(),
        eval_priority: eval.priority,
        create_time: now,
        modify_time: now,
        ..Default::default()
    };
    if d.requires_promotion() {
        let auto = d
            .task_groups
            .values()
            .all(|s| s.desired_canaries == 0 || s.auto_promote);
        d.status_description = if auto {
            deployment_description::RUNNING_AUTO_PROMOTION
        } else {
            deployment_description::RUNNING_NEEDS_PROMOTION
        }
        .to_string();
    }
    plan.deployment_id.clone_from(&d.id);
    plan.deployment = Some(d);
}

/// Follow-up evals for failed allocations due later, one per batch of
/// failures within [`reschedule::BATCH_WINDOW`] of the batch's first
/// (Nomad `createRescheduleLaterEvals`); each allocation is pointed at its
/// eval so that eval replaces it.
fn followup_evals(
    plan: &mut Plan,
    eval: &Evaluation,
    mut later: Vec<(&Allocation, i64)>,
    new_id: &mut dyn FnMut() -> String,
    now: i64,
) {
    later.sort_by_key(|(a, at)| (*at, a.id.clone()));
    let mut current: Option<(String, i64)> = None;
    for (a, at) in later {
        let id = match &current {
            Some((id, start)) if at - start <= reschedule::BATCH_WINDOW => id.clone(),
            _ => {
                let id = new_id();
                plan.followup_evals.push(Evaluation {
                    status_description: "created for delayed rescheduling".to_string(),
                    wait_until: Some(at),
                    ..chained_eval(
                        eval,
                        id.clone(),
                        drover_api::trigger::ALLOC_FAILURE,
                        drover_api::EvalStatus::Pending,
                        now,
                    )
                });
                current = Some((id.clone(), at));
                id
            }
        };
        plan.followups.push(AllocFollowup {
            id: a.id.clone(),
            followup_eval_id: id,
        });
    }
}

/// Placement state for one plan: usage per node includes what this plan
/// already placed and leaves out what it stops, so two placements never
/// share the same free capacity.
///
/// Per-node caches are keyed by the node's position in `nodes`, not by its
/// ID: a placement looks at a few dozen nodes at most, and hashing a
/// position costs a fraction of comparing IDs down a `BTreeMap`.
struct Placer<'a> {
    st: &'a State,
    job: &'a Job,
    nodes: &'a [&'a Node],
    /// Capacity and usage per node position, computed on first use. The
    /// usage includes this plan's placements and leaves out what it frees.
    seen: HashMap<usize, (Capacity, Usage)>,
    /// Allocations of the job per node and group, for anti-affinity.
    collisions: HashMap<&'a str, BTreeMap<String, usize>>,
    start: usize,
    eval_id: String,
    /// Allocations this plan stops: their room is free.
    freed: &'a BTreeSet<String>,
    /// The job's allocations (stored and proposed), for `distinct_*`
    /// checks and spread; kept only when a constraint or spread reads them.
    /// Proposed ones are copies of what those read, without metrics.
    job_allocs: Vec<Allocation>,
    /// Whether any `distinct_*` constraint or spread reads `job_allocs`.
    reads_job_allocs: bool,
}

/// What `distinct_*` checks and spread scoring read of a placement.
fn placed_view(a: &Allocation) -> Allocation {
    Allocation {
        id: a.id.clone(),
        namespace: a.namespace.clone(),
        name: a.name.clone(),
        node_id: a.node_id.clone(),
        job_id: a.job_id.clone(),
        task_group: a.task_group.clone(),
        desired_status: a.desired_status,
        client_status: a.client_status,
        ..Default::default()
    }
}

/// The score name Nomad gives the penalty on nodes a rescheduled
/// allocation failed on (`NodeReschedulingPenaltyIterator`).
pub const RESCHEDULE_PENALTY: &str = "node-reschedule-penalty";

impl<'a> Placer<'a> {
    fn new(
        st: &'a State,
        job: &'a Job,
        nodes: &'a [&'a Node],
        eval: &Evaluation,
        freed: &'a BTreeSet<String>,
    ) -> Self {
        let mut ws = WatchSet::new();
        let stored: Vec<&'a AllocRow> = st
            .allocs_by_job(&mut ws, &job.namespace, &job.id)
            .filter(|r| !r.alloc.is_terminal() && !freed.contains(&r.alloc.id))
            .collect();
        let mut collisions: HashMap<&'a str, BTreeMap<String, usize>> = HashMap::new();
        for r in &stored {
            *collisions
                .entry(r.alloc.node_id.as_str())
                .or_default()
                .entry(r.alloc.task_group.clone())
                .or_insert(0) += 1;
        }
        let reads_job_allocs = !job.spreads.is_empty()
            || job.task_groups.iter().any(|tg| !tg.spreads.is_empty())
            || job
                .constraints
                .iter()
                .chain(job.task_groups.iter().flat_map(|tg| &tg.constraints))
                .any(|c| {
                    c.operand == CONSTRAINT_DISTINCT_HOSTS
                        || c.operand == CONSTRAINT_DISTINCT_PROPERTY
                });
        let job_allocs = if reads_job_allocs {
            stored.iter().map(|r| r.alloc.clone()).collect()
        } else {
            Vec::new()
        };
        Placer {
            st,
            job,
            nodes,
            seen: HashMap::new(),
            collisions,
            start: rotation(&eval.id, nodes.len()),
            eval_id: eval.id.clone(),
            freed,
            job_allocs,
            reads_job_allocs,
        }
    }

    fn place(
        &mut self,
        tg: &TaskGroup,
        p: &Placement<'_>,
        new_id: &mut dyn FnMut() -> String,
        now: i64,
    ) -> Result<Allocation, Box<AllocMetric>> {
        let mut metric = AllocMetric::default();
        let limit = candidate_limit(self.job.job_type, self.nodes.len());
        let desired = usize::try_from(tg.count.max(1)).unwrap_or(1);
        let penalty: Vec<String> = match p.prev {
            Some(prev) if p.reschedule => reschedule::penalty_nodes(prev),
            _ => Vec::new(),
        };
        let st = self.st;
        let lookup = |id: &str| st.node_unwatched(id);
        let existing: Vec<&Allocation> = self.job_allocs.iter().collect();
        let spread = SpreadScorer::new(self.job, tg, &existing, &lookup);
        let mut best: Option<(f64, usize, drover_api::AllocatedResources)> = None;
        let mut scored = 0;
        let n = self.nodes.len();
        let mut examined = 0;
        let mut scores: Vec<(&str, f64)> = Vec::with_capacity(5);
        for k in 0..n {
            examined = k + 1;
            let at = (self.start + k) % n;
            let node = self.nodes[at];
            if !node_is_feasible(node, self.job, tg, &mut metric) {
                continue;
            }
            if !distinct_ok(node, self.job, tg, &existing, &lookup, &mut metric) {
                continue;
            }
            let freed = self.freed;
            let (cap, used) = self.seen.entry(at).or_insert_with(|| {
                (
                    Capacity::of(node),
                    live_usage_excluding(st, &node.id, freed),
                )
            });
            let resources = match fit(node, cap, used, tg) {
                Ok(r) => r,
                Err(dim) => {
                    exhausted(&mut metric, dim);
                    continue;
                }
            };
            // Bin-packing reads only CPU and memory: no need to copy ports.
            let mut after = Usage {
                cpu_mhz: used.cpu_mhz,
                memory_mb: used.memory_mb,
                disk_mb: used.disk_mb,
                ports: BTreeSet::new(),
            };
            after.add(&resources);
            let collisions = self
                .collisions
                .get(node.id.as_str())
                .and_then(|m| m.get(tg.name.as_str()))
                .copied()
                .unwrap_or(0);
            scores.clear();
            scores.push((BINPACK, binpack_score(cap, &after)));
            if let Some(s) = job_anti_affinity(collisions, desired) {
                scores.push((JOB_ANTI_AFFINITY, s));
            }
            if penalty.contains(&node.id) {
                scores.push((RESCHEDULE_PENALTY, -1.0));
            }
            // Nomad leaves a zero affinity or spread out of the average.
            if let Some(a) = affinity_score(node, self.job, tg).filter(|a| *a != 0.0) {
                scores.push((NODE_AFFINITY, a));
            }
            if let Some(sp) = spread
                .as_ref()
                .map(|sp| sp.score(node))
                .filter(|s| *s != 0.0)
            {
                scores.push((ALLOCATION_SPREAD, sp));
            }
            let norm = normalize(&scores);
            record_score(&mut metric, &node.id, &scores, norm);
            let nodes = self.nodes;
            if best
                .as_ref()
                .is_none_or(|(b, bi, _)| norm > *b || (norm == *b && node.id < nodes[*bi].id))
            {
                best = Some((norm, at, resources));
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
        let Some((_, at, resources)) = best else {
            return Err(Box::new(metric));
        };
        let node = self.nodes[at];
        if let Some((_, used)) = self.seen.get_mut(&at) {
            used.add(&resources);
        }
        let mut alloc = Allocation {
            id: new_id(),
            namespace: self.job.namespace.clone(),
            eval_id: self.eval_id.clone(),
            name: format!("{}.{}[{}]", self.job.id, tg.name, p.index),
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
        if let Some(prev) = p.prev {
            alloc.previous_allocation.clone_from(&prev.id);
            if p.reschedule {
                let policy = tg.reschedule_policy.as_ref();
                alloc.reschedule_tracker = Some(reschedule::tracker_for(prev, policy, now));
            } else if let Some(t) = &prev.reschedule_tracker {
                // A replacement for another reason keeps the history.
                alloc.reschedule_tracker = Some(t.clone());
            }
        }
        *self
            .collisions
            .entry(node.id.as_str())
            .or_default()
            .entry(alloc.task_group.clone())
            .or_insert(0) += 1;
        if self.reads_job_allocs {
            self.job_allocs.push(placed_view(&alloc));
        }
        Ok(alloc)
    }
}
