//! The reconciler for one task group (Nomad scheduler/reconciler/
//! reconcile_cluster.go and allocs.go): sort the group's allocations into
//! what keeps running, what is stopped, what is replaced and what is
//! updated, then size the result to the group's `count`.
//!
//! * Failed allocations follow the group's `reschedule` policy
//!   ([`super::reschedule`]): replaced now, through a follow-up eval later,
//!   or never (they then keep their slot and the group runs short).
//! * Allocations on down or missing nodes are stopped as lost and replaced;
//!   service allocations on draining nodes (and any marked for migration)
//!   are replaced elsewhere and stopped once their replacement is placed.
//! * Allocations of an older job version are updated in place when only
//!   fields that need no restart changed and their node still accepts the
//!   job, and otherwise replaced (a destructive update).
//!
//! Deployments (service groups with an `update` block whose `max_parallel`
//! is above 0): the group's part of the job version's deployment
//! ([`DeployContext`]) decides how many destructive updates start now
//! (Nomad `computeUnderProvisionedBy`): `max_parallel` less the
//! allocations of the deployment that have not reported healthy, none once
//! one reported unhealthy, none while the deployment is paused or failed
//! or its canaries wait for promotion. With `canary = N`, a destructive
//! change first places N canaries beside the old allocations, which keep
//! running; after promotion the old allocation that shares a canary's name
//! stops and the rest roll as usual. A group reports whether its part of
//! the deployment is complete (nothing left to do and every allocation it
//! wanted healthy), and, when the job version has no deployment yet, the
//! [`DeploymentState`] a new one should carry.

use std::collections::BTreeSet;

use drover_api::{
    AllocClientStatus, AllocDesiredStatus, AllocMetric, Allocation, Deployment, DeploymentState,
    DesiredUpdates, Job, JobType, Node, NodeStatus, SchedulingEligibility, TaskGroup,
    UpdateStrategy,
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
    /// A canary of the deployment (`DeploymentStatus.Canary`).
    pub canary: bool,
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
    /// The group's state in a deployment to create (Nomad
    /// `createDeployment`): set only when the job version has no
    /// deployment yet and this group needs one.
    pub new_deployment: Option<DeploymentState>,
    /// Nothing left to do for the current deployment and every allocation
    /// it wants healthy (Nomad `isDeploymentComplete`).
    pub complete: bool,
}

/// The deployment a job's plan works in (Nomad's reconciler fields
/// `DeploymentCurrent`, `DeploymentOld`, `DeploymentPaused`,
/// `DeploymentFailed`).
#[derive(Debug, Default, Clone, Copy)]
pub struct DeployContext<'a> {
    /// The deployment of the job version being planned, unless it already
    /// succeeded.
    pub current: Option<&'a Deployment>,
    /// The job's previous deployment, superseded by a newer version.
    pub old: Option<&'a Deployment>,
    pub paused: bool,
    pub failed: bool,
}

/// What the reconciler reads besides the group's allocations.
pub struct Context<'a> {
    pub st: &'a State,
    pub job: &'a Job,
    pub eval_id: &'a str,
    pub now: i64,
    pub node: &'a dyn Fn(&str) -> Option<&'a Node>,
    pub deploy: DeployContext<'a>,
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

/// The group's rolling-update strategy, if it has one that makes
/// deployments (Nomad `UpdateStrategy.IsEmpty`: none, or `max_parallel`
/// 0, which forces every update at once). Only service jobs deploy.
pub fn deploying_update<'j>(job: &Job, tg: &'j TaskGroup) -> Option<&'j UpdateStrategy> {
    if job.job_type != JobType::Service {
        return None;
    }
    tg.update.as_ref().filter(|u| u.max_parallel > 0)
}

fn is_canary(a: &Allocation) -> bool {
    a.deployment_status.as_ref().is_some_and(|d| d.canary)
}

fn placement<'a>(
    a: &'a Allocation,
    stop_prev: Option<&'static str>,
    reschedule: bool,
) -> Placement<'a> {
    Placement {
        index: name_index(&a.name).unwrap_or(0),
        prev: Some(a),
        stop_prev,
        reschedule,
        canary: is_canary(a),
    }
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
    let update = deploying_update(job, tg);
    let deploy = cx.deploy;
    let mut out = GroupPlan::default();

    // Canaries of a superseded deployment, or of a failed one, that were
    // never promoted stop (Nomad `cancelUnneededCanaries`).
    let mut unneeded: BTreeSet<&str> = BTreeSet::new();
    let failed_current = deploy.current.filter(|_| deploy.failed);
    for d in deploy.old.iter().chain(failed_current.iter()) {
        for s in d.task_groups.values().filter(|s| !s.promoted) {
            unneeded.extend(s.placed_canaries.iter().map(String::as_str));
        }
    }
    let current_canaries: BTreeSet<&str> = deploy
        .current
        .map(|d| {
            d.task_groups
                .values()
                .flat_map(|s| s.placed_canaries.iter().map(String::as_str))
                .collect()
        })
        .unwrap_or_default();
    // The group's part of the deployment: stored, or what a new one would
    // start with (Nomad `initializeDeploymentState`).
    let existing = deploy.current.and_then(|d| d.task_groups.get(&tg.name));
    let mut dstate = existing.cloned().unwrap_or_else(|| DeploymentState {
        auto_revert: update.is_some_and(|u| u.auto_revert),
        auto_promote: update.is_some_and(|u| u.auto_promote),
        progress_deadline: update.map_or(0, |u| u.progress_deadline),
        ..Default::default()
    });
    let had_running = rows.iter().any(|r| {
        r.job_create_index == job.create_index
            && r.job_version == job.version
            && !(r.alloc.desired_status != AllocDesiredStatus::Run && r.alloc.is_terminal())
    });

    // Live allocations that may be updated, and ones that only keep a slot.
    let mut live: Vec<&'a AllocRow> = Vec::new();
    let mut canaries: Vec<&'a AllocRow> = Vec::new();
    let mut held: Vec<&'a AllocRow> = Vec::new();
    let mut replace: Vec<Placement<'a>> = Vec::new();
    let mut reschedule_now = 0usize;
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
        // So do canaries of any deployment but the current one (a canary
        // flag still set means it was never promoted): a failed canary of
        // a failed deployment would otherwise keep its slot.
        let stale_canary = is_canary(a) && !current_canaries.contains(a.id.as_str());
        if unneeded.contains(a.id.as_str()) || stale_canary {
            out.stop.push(stop(a, DESC_SCALED_DOWN, None));
            continue;
        }
        match a.client_status {
            AllocClientStatus::Complete if batch => {
                held.push(r);
                continue;
            }
            AllocClientStatus::Complete | AllocClientStatus::Lost => continue,
            // In a deployment still under way, a failed allocation waits
            // until the deployment watcher lets it be replaced (Nomad
            // reconcile_util.go `updateByReschedulable`).
            AllocClientStatus::Failed
                if deploy
                    .current
                    .is_some_and(|d| d.id == a.deployment_id && d.active())
                    && a.desired_transition.reschedule != Some(true) =>
            {
                held.push(r);
                continue;
            }
            AllocClientStatus::Failed => {
                match reschedule::decide(a, policy, cx.eval_id, cx.now) {
                    Decision::Now => {
                        reschedule_now += 1;
                        replace.push(placement(a, Some(DESC_RESCHEDULED), true));
                    }
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
        let canary = current_canaries.contains(a.id.as_str());
        let node = (cx.node)(&a.node_id);
        if node.is_none_or(|n| n.status == NodeStatus::Down) {
            out.stop
                .push(stop(a, DESC_LOST, Some(AllocClientStatus::Lost)));
            // A lost canary is not replaced: the deployment places its
            // canaries again (Nomad stops them in `cancelUnneededCanaries`).
            if !canary {
                replace.push(placement(a, None, false));
            }
            continue;
        }
        let draining = node.is_some_and(|n| n.drain_strategy.is_some()) && !batch;
        if draining || a.desired_transition.migrate == Some(true) {
            if canary {
                out.stop.push(stop(a, DESC_MIGRATING, None));
            } else {
                replace.push(placement(a, Some(DESC_MIGRATING), false));
            }
            continue;
        }
        if canary {
            canaries.push(r);
        } else {
            live.push(r);
        }
    }
    let mut canarying = dstate.desired_canaries != 0 && !dstate.promoted;
    if !canarying {
        // Promoted (or never wanted): canaries are ordinary allocations.
        live.append(&mut canaries);
    }

    // Size to `count`: surplus replacements are dropped first, then the
    // highest-numbered live allocations stop, as Nomad's `computeStop`.
    // Canaries waiting for promotion do not count; once promoted, the old
    // allocation that shares a canary's name goes first.
    let count = usize::try_from(tg.count.max(0)).unwrap_or(0);
    let mut excess = (live.len() + held.len() + replace.len()).saturating_sub(count);
    while excess > 0 {
        let Some(p) = replace.pop() else { break };
        if let (Some(prev), Some(_)) = (p.prev, p.stop_prev) {
            out.stop.push(stop(prev, DESC_SCALED_DOWN, None));
        }
        excess -= 1;
    }
    if excess > 0 && !current_canaries.is_empty() {
        let names: BTreeSet<&str> = live
            .iter()
            .filter(|r| current_canaries.contains(r.alloc.id.as_str()))
            .map(|r| r.alloc.name.as_str())
            .collect();
        let mut i = 0;
        while excess > 0 && i < live.len() {
            let r = live[i];
            if !current_canaries.contains(r.alloc.id.as_str())
                && names.contains(r.alloc.name.as_str())
            {
                out.stop.push(stop(&r.alloc, DESC_SCALED_DOWN, None));
                live.remove(i);
                excess -= 1;
            } else {
                i += 1;
            }
        }
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
    if existing.is_none() {
        dstate.desired_total += (destructive.len() + out.in_place.len()) as i32;
    }

    // Canaries for a destructive change (Nomad `requiresCanaries`,
    // `computeCanaries`): named after the allocations they stand in for.
    let wanted_canaries = update.map_or(0, |u| usize::try_from(u.canary.max(0)).unwrap_or(0));
    let requires_canaries =
        !destructive.is_empty() && canaries.len() < wanted_canaries && !dstate.promoted;
    let mut new_canaries = Vec::new();
    if requires_canaries {
        dstate.desired_canaries = wanted_canaries as i32;
        if !deploy.paused && !deploy.failed {
            let taken: BTreeSet<u64> = canaries
                .iter()
                .filter_map(|r| name_index(&r.alloc.name))
                .collect();
            let n = wanted_canaries - canaries.len();
            // The destructive allocations' indexes first, then any index
            // not taken yet (Nomad `NextCanaries`).
            let mut chosen = BTreeSet::new();
            let indexes: Vec<u64> = destructive
                .iter()
                .filter_map(|r| name_index(&r.alloc.name))
                .chain(0u64..)
                .filter(|i| !taken.contains(i) && chosen.insert(*i))
                .take(n)
                .collect();
            out.desired.canary += indexes.len() as u64;
            for index in indexes {
                new_canaries.push(Placement {
                    index,
                    prev: None,
                    stop_prev: None,
                    reschedule: false,
                    canary: true,
                });
            }
        }
    }
    canarying = dstate.desired_canaries != 0 && !dstate.promoted;

    // How many destructive updates may start now.
    let mut under = under_provisioned(cx, update, &live, &destructive, &replace, canarying);

    // Replacements, then new allocations on the free name indexes.
    let used: BTreeSet<u64> = live
        .iter()
        .chain(held.iter())
        .chain(canaries.iter())
        .filter_map(|r| name_index(&r.alloc.name))
        .chain(replace.iter().map(|p| p.index))
        .collect();
    let missing = count.saturating_sub(live.len() + held.len() + replace.len());
    let migrating = replace
        .iter()
        .filter(|p| p.stop_prev == Some(DESC_MIGRATING))
        .count();
    if existing.is_none() {
        dstate.desired_total += (replace.len() - migrating + missing) as i32;
    }
    // Placements wait while the deployment is paused or failed or its
    // canaries wait for promotion; lost allocations, migrations and
    // reschedules (outside a failed deployment) are replaced regardless.
    let place_ready = !deploy.paused && !deploy.failed && !canarying;
    let mut placements: Vec<Placement<'a>> = Vec::new();
    for p in replace {
        let in_failed = deploy.failed
            && p.prev
                .zip(deploy.current)
                .is_some_and(|(a, d)| a.deployment_id == d.id);
        let go = place_ready
            || p.stop_prev == Some(DESC_MIGRATING)
            || p.stop_prev.is_none()
            || (p.reschedule && !in_failed);
        if go {
            placements.push(p);
        } else {
            out.desired.ignore += 1;
        }
    }
    if place_ready {
        for index in (0u64..).filter(|i| !used.contains(i)).take(missing) {
            placements.push(Placement {
                index,
                prev: None,
                stop_prev: None,
                reschedule: false,
                canary: false,
            });
        }
        let placed_migrations = placements
            .iter()
            .filter(|p| p.stop_prev == Some(DESC_MIGRATING))
            .count();
        under = under.saturating_sub(placements.len() - placed_migrations);
    }

    let now_count = if place_ready {
        destructive.len().min(under)
    } else {
        0
    };
    out.desired.destructive_update += now_count as u64;
    out.desired.ignore += (destructive.len() - now_count) as u64 + held.len() as u64;
    for r in destructive.iter().take(now_count) {
        out.place
            .push(placement(&r.alloc, Some(DESC_UPDATING), false));
    }
    out.place.append(&mut new_canaries);
    let placed_migrations = placements
        .iter()
        .filter(|p| p.stop_prev == Some(DESC_MIGRATING))
        .count();
    out.desired.migrate += placed_migrations as u64;
    out.desired.place += (placements.len() - placed_migrations) as u64;
    out.place.extend(placements);
    out.desired.stop += out.stop.len() as u64;

    // A new deployment for this version, if the group needs one (Nomad
    // `createDeployment`): not for a version already running unchanged.
    let updating_spec = !destructive.is_empty() || !out.in_place.is_empty();
    if existing.is_none()
        && deploy.current.is_none()
        && update.is_some()
        && dstate.desired_total > 0
        && (!had_running || updating_spec)
    {
        out.new_deployment = Some(dstate.clone());
    }
    let nothing_left = destructive.is_empty()
        && out.in_place.is_empty()
        && out.place.is_empty()
        && out.later.is_empty()
        && reschedule_now == 0
        && !requires_canaries;
    out.complete = nothing_left
        && deploy.current.is_some()
        && existing.is_none_or(|s| {
            s.healthy_allocs >= s.desired_total.max(s.desired_canaries)
                && (s.desired_canaries == 0 || s.promoted)
        });
    out
}

/// Nomad `computeUnderProvisionedBy`: how many destructive updates may
/// start. Without a deploying `update` block, or with nothing to replace,
/// all of them; before the version's deployment exists, `max_parallel`;
/// none while it is paused or failed or canaries await promotion;
/// otherwise `max_parallel` less the deployment's allocations that have
/// not reported healthy, and none once one reported unhealthy.
fn under_provisioned(
    cx: &Context<'_>,
    update: Option<&UpdateStrategy>,
    live: &[&AllocRow],
    destructive: &[&AllocRow],
    replace: &[Placement<'_>],
    canarying: bool,
) -> usize {
    let migrating = replace
        .iter()
        .filter(|p| p.stop_prev == Some(DESC_MIGRATING))
        .count();
    let Some(update) = update else {
        return usize::MAX;
    };
    if destructive.len() + migrating == 0 {
        return usize::MAX;
    }
    let max_parallel = usize::try_from(update.max_parallel.max(0)).unwrap_or(0);
    let Some(d) = cx.deploy.current else {
        return max_parallel;
    };
    if cx.deploy.paused || cx.deploy.failed || canarying {
        return 0;
    }
    let mut under = max_parallel;
    for r in live.iter().filter(|r| r.alloc.deployment_id == d.id) {
        match r.alloc.deployment_status.as_ref().and_then(|s| s.healthy) {
            Some(true) => {}
            Some(false) => return 0,
            None => under = under.saturating_sub(1),
        }
    }
    under
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
