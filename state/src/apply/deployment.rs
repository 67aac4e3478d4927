//! Deployment writes (nomad/state/state_store.go: `upsertDeploymentImpl`,
//! `updateDeploymentStatusImpl`, `UpdateDeploymentPromotion`,
//! `UpdateDeploymentAllocHealth`, `updateDeploymentWithAlloc`,
//! `updateJobStabilityImpl`). Every command is checked in full before
//! anything is written, so a refused one changes nothing.

use std::collections::BTreeMap;

use drover_api::{
    deployment_description, deployment_status, AllocDeploymentStatus, Allocation, Deployment,
    DeploymentStatusUpdate, Job,
};

use crate::apply::{job, upsert_evals, ApplyError};
use crate::command::{
    DeploymentAllocHealth, DeploymentDelete, DeploymentPromote, DeploymentStatusSet, JobRegister,
};
use crate::tables::{Ctx, Tables};

fn not_found(id: &str) -> ApplyError {
    ApplyError::Deployment(format!(
        "Deployment ID {id:?} couldn't be updated as it does not exist"
    ))
}

fn terminal(d: &Deployment) -> ApplyError {
    ApplyError::Deployment(format!(
        "Deployment {:?} has terminal status {:?}:",
        d.id, d.status
    ))
}

/// The stored deployment, if it exists and is active.
fn active(t: &Tables, id: &str) -> Result<Deployment, ApplyError> {
    let d = t.deployments.get(id).ok_or_else(|| not_found(id))?;
    if !d.active() {
        return Err(terminal(d));
    }
    Ok(Deployment::clone(d))
}

/// A plan's deployment: created, or replaced with the counters the
/// allocations own kept as stored (Nomad `MergeClientValues`). Undoing a
/// promotion is refused (a plan computed before the promotion).
pub(super) fn check_plan_deployment(t: &Tables, d: &Deployment) -> Result<(), ApplyError> {
    if d.id.is_empty() {
        return Err(ApplyError::Invalid("deployment without an ID".into()));
    }
    if let Some(old) = t.deployments.get(&d.id) {
        for (tg, s) in &old.task_groups {
            if s.promoted && d.task_groups.get(tg).is_some_and(|n| !n.promoted) {
                return Err(ApplyError::Deployment(
                    "deployment promotion cannot be undone".into(),
                ));
            }
        }
    }
    Ok(())
}

pub(super) fn upsert_from_plan(t: &mut Tables, ctx: &mut Ctx, d: &Deployment, now: i64) {
    let mut d = d.clone();
    match t.deployments.get(&d.id) {
        Some(old) => {
            for (tg, s) in &old.task_groups {
                match d.task_groups.get_mut(tg) {
                    Some(n) => {
                        n.healthy_allocs = s.healthy_allocs;
                        n.unhealthy_allocs = s.unhealthy_allocs;
                        n.placed_allocs = s.placed_allocs;
                        n.require_progress_by = s.require_progress_by;
                    }
                    None => {
                        d.task_groups.insert(tg.clone(), s.clone());
                    }
                }
            }
            d.create_index = old.create_index;
            d.create_time = old.create_time;
        }
        None => {
            d.create_index = ctx.index;
            if d.create_time == 0 {
                d.create_time = now;
            }
        }
    }
    d.modify_index = ctx.index;
    d.modify_time = now;
    put(t, ctx, d);
}

/// Store `d` and, when it succeeded, mark its job version stable.
fn put(t: &mut Tables, ctx: &mut Ctx, d: Deployment) {
    let stable = (d.status == deployment_status::SUCCESSFUL)
        .then(|| (d.namespace.clone(), d.job_id.clone(), d.job_version));
    t.put_deployment(ctx, d);
    if let Some((ns, id, version)) = stable {
        // Nomad `updateJobStabilityImpl`; a version no longer stored (or
        // a job purged meanwhile) is left alone.
        let _ = super::lifecycle::set_job_stability(t, ctx, &ns, &id, version, true);
    }
}

/// Nomad `updateDeploymentStatusImpl`, without the write: the deployment
/// after the update, or why not.
fn status_changed(
    t: &Tables,
    u: &DeploymentStatusUpdate,
    index: u64,
    now: i64,
) -> Result<Deployment, ApplyError> {
    let mut d = active(t, &u.deployment_id)?;
    d.status.clone_from(&u.status);
    d.status_description.clone_from(&u.status_description);
    d.modify_index = index;
    d.modify_time = now;
    // A running or paused deployment gets a fresh progress deadline, so one
    // that was paused does not fail the moment it resumes.
    if d.status == deployment_status::PAUSED || d.status == deployment_status::RUNNING {
        for s in d.task_groups.values_mut() {
            if s.progress_deadline != 0 {
                s.require_progress_by = Some(now.saturating_add(s.progress_deadline));
            }
        }
    }
    Ok(d)
}

/// The status changes a plan carries: an update of a deployment that is
/// gone or already terminal is dropped, as Nomad's `upsertDeploymentUpdates`
/// ignores its errors.
pub(super) fn plan_status_updates(
    t: &mut Tables,
    ctx: &mut Ctx,
    updates: &[DeploymentStatusUpdate],
    now: i64,
) {
    for u in updates {
        if let Ok(d) = status_changed(t, u, ctx.index, now) {
            put(t, ctx, d);
        }
    }
}

/// Register `job` again (an auto-revert), as a new version.
fn revert(t: &mut Tables, ctx: &mut Ctx, job: &Option<Job>, now: i64) -> Result<(), ApplyError> {
    let Some(job) = job else { return Ok(()) };
    job::register(
        t,
        ctx,
        &JobRegister {
            job: job.clone(),
            eval: None,
            enforce_index: None,
            now,
        },
    )
}

pub(super) fn set_status(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &DeploymentStatusSet,
) -> Result<(), ApplyError> {
    let d = status_changed(t, &c.update, ctx.index, c.now)?;
    put(t, ctx, d);
    revert(t, ctx, &c.job, c.now)?;
    if let Some(eval) = &c.eval {
        upsert_evals(t, ctx, std::slice::from_ref(eval));
    }
    Ok(())
}

/// Nomad `UpdateDeploymentPromotion`: every promoted group must have as many
/// healthy canaries as it wants; its canaries then stop being canaries.
pub(super) fn promote(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &DeploymentPromote,
) -> Result<(), ApplyError> {
    let mut d = active(t, &c.deployment_id)?;
    let wanted = |tg: &str| c.all || c.groups.iter().any(|g| g == tg);
    let canaries: Vec<&String> = d
        .task_groups
        .values()
        .flat_map(|s| s.placed_canaries.iter())
        .collect();
    let mut healthy: BTreeMap<String, i32> = BTreeMap::new();
    let mut promotable: Vec<String> = Vec::new();
    for id in canaries {
        let Some(row) = t.allocs.get(id) else {
            continue;
        };
        let a = &row.alloc;
        if a.deployment_id != d.id || !wanted(&a.task_group) || a.is_terminal() {
            continue;
        }
        if a.deployment_status.as_ref().and_then(|s| s.healthy) != Some(true) {
            continue;
        }
        *healthy.entry(a.task_group.clone()).or_default() += 1;
        promotable.push(a.id.clone());
    }
    let short: Vec<String> = d
        .task_groups
        .iter()
        .filter(|(tg, s)| wanted(tg) && s.desired_canaries > 0)
        .filter_map(|(tg, s)| {
            let have = healthy.get(tg.as_str()).copied().unwrap_or(0);
            (have < s.desired_canaries).then(|| {
                format!(
                    "Task group {tg:?} has {have}/{} healthy allocations",
                    s.desired_canaries
                )
            })
        })
        .collect();
    if !short.is_empty() {
        return Err(ApplyError::Deployment(multierror(&short)));
    }
    for (tg, s) in d.task_groups.iter_mut() {
        if !wanted(tg) {
            continue;
        }
        if s.progress_deadline > 0 && s.require_progress_by.is_some() {
            s.require_progress_by = Some(c.now.saturating_add(s.progress_deadline));
        }
        s.promoted = true;
    }
    if !d.requires_promotion() && d.status == deployment_status::RUNNING {
        d.status_description = deployment_description::RUNNING.to_string();
    }
    d.modify_index = ctx.index;
    d.modify_time = c.now;
    put(t, ctx, d);
    if let Some(eval) = &c.eval {
        upsert_evals(t, ctx, std::slice::from_ref(eval));
    }
    let index = ctx.index;
    for id in promotable {
        super::alloc::update(t, ctx, &id, |a| {
            let ds = a.deployment_status.get_or_insert_with(Default::default);
            ds.canary = false;
            ds.modify_index = index;
            a.modify_index = index;
            a.alloc_modify_index = index;
        });
    }
    Ok(())
}

/// go-multierror's text for several errors.
fn multierror(errs: &[String]) -> String {
    let mut s = format!(
        "{} error{} occurred:\n",
        errs.len(),
        if errs.len() == 1 { "" } else { "s" }
    );
    for e in errs {
        s.push_str(&format!("\t* {e}\n"));
    }
    s.push('\n');
    s
}

/// Nomad `UpdateDeploymentAllocHealth`.
pub(super) fn alloc_health(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &DeploymentAllocHealth,
) -> Result<(), ApplyError> {
    active(t, &c.deployment_id)?;
    let ids = c
        .healthy
        .iter()
        .map(|id| (id, true))
        .chain(c.unhealthy.iter().map(|id| (id, false)));
    for (id, _) in ids.clone() {
        let Some(row) = t.allocs.get(id) else {
            return Err(ApplyError::Deployment(format!("unknown alloc {id:?}")));
        };
        if row.alloc.deployment_id != c.deployment_id {
            return Err(ApplyError::Deployment(format!(
                "alloc {id:?} is not part of deployment {:?}",
                c.deployment_id
            )));
        }
    }
    let update = c
        .update
        .as_ref()
        .map(|u| status_changed(t, u, ctx.index, c.now))
        .transpose()?;
    let index = ctx.index;
    for (id, healthy) in ids {
        let Some(old) = t.allocs.get(id).map(|r| r.alloc.clone()) else {
            continue;
        };
        super::alloc::update(t, ctx, id, |a| {
            let ds = a.deployment_status.get_or_insert_with(Default::default);
            ds.healthy = Some(healthy);
            ds.timestamp = Some(c.now);
            ds.modify_index = index;
            a.modify_index = index;
            a.modify_time = c.now;
        });
        if let Some(new) = t.allocs.get(id).map(|r| r.alloc.clone()) {
            update_with_alloc(t, ctx, &new, Some(&old));
        }
    }
    if let Some(d) = update {
        // Re-read: the health changes above moved its counters.
        let mut d = d;
        if let Some(now) = t.deployments.get(&d.id) {
            d.task_groups.clone_from(&now.task_groups);
        }
        put(t, ctx, d);
    }
    revert(t, ctx, &c.job, c.now)?;
    if let Some(eval) = &c.eval {
        upsert_evals(t, ctx, std::slice::from_ref(eval));
    }
    Ok(())
}

pub(super) fn delete(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &DeploymentDelete,
) -> Result<(), ApplyError> {
    for id in &c.ids {
        t.delete_deployment(ctx, id);
    }
    Ok(())
}

/// Nomad `updateDeploymentWithAlloc`: an allocation placed into a
/// deployment, or one whose health was first decided (or turned from
/// healthy to unhealthy), moves its group's counters, canary list and
/// progress deadline. `alloc` is the allocation as now stored.
pub(crate) fn update_with_alloc(
    t: &mut Tables,
    ctx: &mut Ctx,
    alloc: &Allocation,
    existing: Option<&Allocation>,
) {
    if alloc.deployment_id.is_empty() {
        return;
    }
    let Some(stored) = t.deployments.get(&alloc.deployment_id) else {
        return;
    };
    if !stored.task_groups.contains_key(&alloc.task_group) {
        return;
    }
    let health = |a: Option<&AllocDeploymentStatus>| a.and_then(|s| s.healthy);
    let new_health = health(alloc.deployment_status.as_ref());
    let old_health = existing.and_then(|e| health(e.deployment_status.as_ref()));
    let (mut placed, mut healthy, mut unhealthy) = (0, 0, 0);
    if existing.is_none_or(|e| e.deployment_id != alloc.deployment_id) {
        placed = 1;
    } else {
        match (old_health, new_health) {
            (None, Some(true)) => healthy = 1,
            (None, Some(false)) => unhealthy = 1,
            (Some(true), Some(false)) => {
                healthy = -1;
                unhealthy = 1;
            }
            _ => {}
        }
    }
    let canary = alloc.deployment_status.as_ref().is_some_and(|s| s.canary);
    let mut d = Deployment::clone(stored);
    let Some(s) = d.task_groups.get_mut(&alloc.task_group) else {
        return;
    };
    let new_canary = canary && !s.placed_canaries.contains(&alloc.id);
    if placed == 0 && healthy == 0 && unhealthy == 0 && !new_canary {
        return;
    }
    s.placed_allocs += placed;
    s.healthy_allocs += healthy;
    s.unhealthy_allocs += unhealthy;
    if new_canary {
        s.placed_canaries.push(alloc.id.clone());
    }
    let pd = s.progress_deadline;
    if pd != 0 {
        if placed != 0 && s.require_progress_by.is_none() {
            s.require_progress_by = Some(alloc.modify_time.saturating_add(pd));
        } else if healthy != 0 {
            let ts = alloc
                .deployment_status
                .as_ref()
                .and_then(|s| s.timestamp)
                .unwrap_or(alloc.modify_time);
            let by = ts.saturating_add(pd);
            if s.require_progress_by.is_none_or(|r| by > r) {
                s.require_progress_by = Some(by);
            }
        }
    }
    d.modify_index = ctx.index;
    d.modify_time = alloc.modify_time;
    put(t, ctx, d);
}
