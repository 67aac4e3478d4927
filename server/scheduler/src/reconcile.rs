//! The reconciler for one task group (Nomad scheduler/reconcile.go and
//! reconcile_util.go): sort the group's allocations into what keeps
//! running, what is stopped, what is replaced and what is updated, then
//! size the result to the group's `count`.
//!
//! * Failed allocations follow the group's `reschedule` policy
//!   ([`super::reschedule`]): replaced now, through a follow-up eval later,
//!   or never (they then keep their slot and the group runs short).
//! * Allocations on down or missing nodes are stopped as lost and replaced;
//!   service allocations on draining nodes (and any marked for migration)
//!   are replaced elsewhere and stopped once their replacement is placed.
//! * Allocations of an older job version are updated in place when only
//!   fields that need no restart changed and their node still accepts the
//!   job, and otherwise replaced (a destructive update), at most
//!   `update.max_parallel` at a time: a replacement that has not reported
//!   healthy yet holds a slot, and one that reported unhealthy stops the
//!   rollout, as a failed deployment does in Nomad.
//!
//! Deviation: Drover has no deployment objects yet; "part of the rollout"
//! means "created after the job version was registered".

use std::collections::BTreeSet;

use drover_api::{
    AllocClientStatus, AllocDesiredStatus, AllocMetric, Allocation, DesiredUpdates, Job, JobType,
    Node, NodeStatus, SchedulingEligibility, TaskGroup,
};
use drover_state::command::AllocStopped;
use drover_state::{AllocRow, State};

use super::feasible::node_is_feasible;
use super::reschedule::{self, Decision};

pub const DESC_STOPPED_JOB: &str = "alloc not needed as job is stopped";
pub const DESC_SCALED_DOWN: &str = "alloc not needed due to job update";
pub const DESC_LOST: &str = "alloc is lost since its node is down";
pub const DESC_MIGRATING: &str = "alloc is being migrated";
pub const DESC_UPDATING: &str = "alloc is being updated due to job update";
pub const DESC_RESCHEDULED: &str = "alloc was rescheduled because it failed";

/// One allocation to place.
#[derive(Debug, Clone)]
pub struct Placement<'a> {
    /// The index in the allocation's name, `job.group[index]`.
    pub index: u64,
    /// The allocation this one replaces.
    pub prev: Option<&'a Allocation>,
    /// Stop `prev` with this description, in the same plan and only if the
    /// replacement is placed (Nomad `StopPreviousAlloc`).
    pub stop_prev: Option<&'static str>,
    /// A reschedule of a failed allocation: carries a tracker and avoids
    /// the nodes it failed on.
    pub reschedule: bool,
}

/// What the reconciler decided for one task group.
#[derive(Debug, Default)]
pub struct GroupPlan<'a> {
    pub stop: Vec<AllocStopped>,
    /// Destructive updates first (their old allocations free room), then
    /// replacements and new allocations.
    pub place: Vec<Placement<'a>>,
    pub in_place: Vec<&'a AllocRow>,
    /// Failed allocations to reschedule at a later time (unix ns).
    pub later: Vec<(&'a Allocation, i64)>,
    pub desired: DesiredUpdates,
}

/// What the reconciler reads besides the group's allocations.
pub struct Context<'a> {
    pub st: &'a State,
    pub job: &'a Job,
    pub eval_id: &'a str,
    pub now: i64,
    pub node: &'a dyn Fn(&str) -> Option<&'a Node>,
}

pub fn stop(a: &Allocation, why: &str, client_status: Option<AllocClientStatus>) -> AllocStopped {
    AllocStopped {
        id: a.id.clone(),
        desired_description: why.to_string(),
        client_status,
        followup_eval_id: String::new(),
    }
}

/// The index in `job.tg[3]`.
pub fn name_index(name: &str) -> Option<u64> {
    let open = name.rfind('[')?;
    name[open + 1..].strip_suffix(']')?.parse().ok()
}

/// Reconcile `rows`, every allocation of the job in group `tg` (terminal
/// ones included: a failed one may need rescheduling).
pub fn reconcile_group<'a>(
    cx: &Context<'a>,
    tg: &'a TaskGroup,
    rows: Vec<&'a AllocRow>,
) -> GroupPlan<'a> {
    let job = cx.job;
    let batch = job.job_type == JobType::Batch;
    let policy = tg.reschedule_policy.as_ref();
    let mut out = GroupPlan::default();
    // Live allocations that may be updated, and ones that only keep a slot.
    let mut live: Vec<&'a AllocRow> = Vec::new();
    let mut held: Vec<&'a AllocRow> = Vec::new();
    let mut replace: Vec<Placement<'a>> = Vec::new();
    for r in rows {
        let a = &r.alloc;
        if !a.next_allocation.is_empty() && a.is_terminal() {
            continue; // already replaced
        }
        // Nomad `shouldFilter`: batch work that finished stays done.
        let ran_ok = a.client_status == AllocClientStatus::Complete;
        match a.desired_status {
            AllocDesiredStatus::Run => {}
            AllocDesiredStatus::Stop if batch && ran_ok => {
                held.push(r);
                continue;
            }
            _ => continue,
        }
        match a.client_status {
            AllocClientStatus::Complete if batch => {
                held.push(r);
                continue;
            }
            AllocClientStatus::Complete | AllocClientStatus::Lost => continue,
            AllocClientStatus::Failed => {
                match reschedule::decide(a, policy, cx.eval_id, cx.now) {
                    Decision::Now => replace.push(Placement {
                        index: name_index(&a.name).unwrap_or(0),
                        prev: Some(a),
                        stop_prev: Some(DESC_RESCHEDULED),
                        reschedule: true,
                    }),
                    Decision::Later(at) => {
                        if a.followup_eval_id.is_empty() {
                            out.later.push((a, at));
                        }
                        held.push(r);
                    }
                    Decision::Never => held.push(r),
                }
                continue;
            }
            _ => {}
        }
        let node = (cx.node)(&a.node_id);
        if node.is_none_or(|n| n.status == NodeStatus::Down) {
            out.stop
                .push(stop(a, DESC_LOST, Some(AllocClientStatus::Lost)));
            replace.push(Placement {
                index: name_index(&a.name).unwrap_or(0),
                prev: Some(a),
                stop_prev: None,
                reschedule: false,
            });
            continue;
        }
        let draining = node.is_some_and(|n| n.drain_strategy.is_some()) && !batch;
        if draining || a.desired_transition.migrate == Some(true) {
            replace.push(Placement {
                index: name_index(&a.name).unwrap_or(0),
                prev: Some(a),
                stop_prev: Some(DESC_MIGRATING),
                reschedule: false,
            });
            continue;
        }
        live.push(r);
    }

    // Size to `count`: surplus replacements are dropped first, then the
    // highest-numbered live allocations stop, as Nomad's `computeStop`.
    let count = usize::try_from(tg.count.max(0)).unwrap_or(0);
    let mut excess = (live.len() + held.len() + replace.len()).saturating_sub(count);
    while excess > 0 {
        let Some(p) = replace.pop() else { break };
        if let (Some(prev), Some(_)) = (p.prev, p.stop_prev) {
            out.stop.push(stop(prev, DESC_SCALED_DOWN, None));
        }
        excess -= 1;
    }
    for pool in [&mut live, &mut held] {
        if excess == 0 {
            break;
        }
        pool.sort_by_key(|r| std::cmp::Reverse(name_index(&r.alloc.name).unwrap_or(0)));
        let n = excess.min(pool.len());
        for r in pool.drain(..n) {
            out.stop.push(stop(&r.alloc, DESC_SCALED_DOWN, None));
        }
        excess -= n;
    }
    pool_order(&mut live);

    // Updates of live allocations to the current job version.
    let mut destructive: Vec<&'a AllocRow> = Vec::new();
    for r in &live {
        match update_kind(cx, tg, r) {
            UpdateKind::None => out.desired.ignore += 1,
            UpdateKind::InPlace => {
                out.desired.in_place_update += 1;
                out.in_place.push(r);
            }
            UpdateKind::Destructive => destructive.push(r),
        }
    }
    let limit = rollout_limit(cx, tg, &live, !destructive.is_empty());
    let now_count = destructive.len().min(limit);
    out.desired.destructive_update += now_count as u64;
    out.desired.ignore += (destructive.len() - now_count) as u64 + held.len() as u64;
    for r in destructive.into_iter().take(now_count) {
        out.place.push(Placement {
            index: name_index(&r.alloc.name).unwrap_or(0),
            prev: Some(&r.alloc),
            stop_prev: Some(DESC_UPDATING),
            reschedule: false,
        });
    }

    // Replacements, then new allocations on the free name indexes.
    let used: BTreeSet<u64> = live
        .iter()
        .chain(held.iter())
        .filter_map(|r| name_index(&r.alloc.name))
        .chain(replace.iter().map(|p| p.index))
        .collect();
    let missing = count.saturating_sub(live.len() + held.len() + replace.len());
    let migrating = replace
        .iter()
        .filter(|p| p.stop_prev == Some(DESC_MIGRATING))
        .count();
    out.desired.migrate += migrating as u64;
    out.desired.place += (replace.len() - migrating + missing) as u64;
    out.place.extend(replace);
    for index in (0u64..).filter(|i| !used.contains(i)).take(missing) {
        out.place.push(Placement {
            index,
            prev: None,
            stop_prev: None,
            reschedule: false,
        });
    }
    out.desired.stop += out.stop.len() as u64;
    out
}

/// Lowest name index first, so updates roll through the group in order.
fn pool_order(rows: &mut [&AllocRow]) {
    rows.sort_by_key(|r| (name_index(&r.alloc.name).unwrap_or(0), r.alloc.id.clone()));
}

#[derive(Debug, PartialEq)]
enum UpdateKind {
    None,
    InPlace,
    Destructive,
}

fn update_kind(cx: &Context<'_>, tg: &TaskGroup, r: &AllocRow) -> UpdateKind {
    let job = cx.job;
    if r.job_create_index == job.create_index && r.job_version == job.version {
        return UpdateKind::None;
    }
    let old_job = (r.job_create_index == job.create_index)
        .then(|| cx.st.job_version(&job.namespace, &job.id, r.job_version))
        .flatten();
    let Some(old_job) = old_job else {
        return UpdateKind::Destructive;
    };
    let Some(old_tg) = old_job.task_group(&tg.name) else {
        return UpdateKind::Destructive;
    };
    if tasks_updated(old_job, old_tg, job, tg) {
        return UpdateKind::Destructive;
    }
    // In place only where the node still takes the job (Nomad
    // `inplaceUpdate` runs the stack on that one node); eligibility does
    // not matter for an allocation already there.
    let Some(node) = (cx.node)(&r.alloc.node_id) else {
        return UpdateKind::Destructive;
    };
    let mut view = node.clone();
    view.status = NodeStatus::Ready;
    view.scheduling_eligibility = SchedulingEligibility::Eligible;
    if node_is_feasible(&view, job, tg, &mut AllocMetric::default()) {
        UpdateKind::InPlace
    } else {
        UpdateKind::Destructive
    }
}

/// Whether a change between two versions of a group needs new allocations
/// (Nomad scheduler/util.go `tasksUpdated`): anything a running task sees —
/// driver, config, env, resources, meta, networks, disk, logs, lifecycle — does;
/// counts, policies, constraints and affinities do not.
pub fn tasks_updated(old_job: &Job, old: &TaskGroup, new_job: &Job, new: &TaskGroup) -> bool {
    if old_job.meta != new_job.meta
        || old.meta != new.meta
        || old.networks != new.networks
        || old.ephemeral_disk != new.ephemeral_disk
        || old.tasks.len() != new.tasks.len()
    {
        return true;
    }
    old.tasks.iter().any(|ot| {
        let Some(nt) = new.tasks.iter().find(|t| t.name == ot.name) else {
            return true;
        };
        ot.driver != nt.driver
            || ot.user != nt.user
            || ot.config != nt.config
            || ot.env != nt.env
            || ot.resources != nt.resources
            || ot.meta != nt.meta
            || ot.log_config != nt.log_config
            || ot.leader != nt.leader
            || ot.lifecycle != nt.lifecycle
    })
}

/// How many destructive updates may start now. Without an `update` block
/// (or with `max_parallel = 0`) all of them; otherwise `max_parallel` less
/// the replacements that have not reported healthy, and none at all while
/// one reported unhealthy (Nomad `computeLimit`).
fn rollout_limit(cx: &Context<'_>, tg: &TaskGroup, live: &[&AllocRow], needed: bool) -> usize {
    let job = cx.job;
    let Some(update) = tg.update.as_ref().or(job.update.as_ref()) else {
        return usize::MAX;
    };
    if update.max_parallel <= 0 || !needed {
        return usize::MAX;
    }
    let mut limit = usize::try_from(update.max_parallel).unwrap_or(usize::MAX);
    for r in live {
        let current = r.job_create_index == job.create_index && r.job_version == job.version;
        if !current || r.alloc.create_index <= job.job_modify_index {
            continue;
        }
        match r.alloc.deployment_status.as_ref().and_then(|d| d.healthy) {
            Some(true) => {}
            Some(false) => return 0,
            None => limit = limit.saturating_sub(1),
        }
    }
    limit
}
