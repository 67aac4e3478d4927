use std::sync::Arc;

use drover_api::{AllocClientStatus, AllocDesiredStatus, Allocation};

use crate::apply::{deployment, upsert_evals, ApplyError};
use crate::command::{AllocClientUpdate, AllocUpdateDesiredTransition, ApplyPlanResults};
use crate::summary;
use crate::tables::{AllocRow, Ctx, Tables};

/// Move one allocation of `job`'s `task_group` between its summary's bins,
/// in place.
fn count_in_summary(
    t: &mut Tables,
    ctx: &mut Ctx,
    job: &(String, String),
    task_group: &str,
    old: Option<AllocClientStatus>,
    new: AllocClientStatus,
) {
    let Some(s) = t.job_summaries.get_mut(job).map(Arc::make_mut) else {
        return;
    };
    if summary::count_alloc(s, task_group, old, new) {
        s.modify_index = ctx.index;
        t.touch_summary(ctx, &job.0, &job.1);
    }
}

/// Change an existing allocation in place and keep its summary in step.
pub(super) fn update(t: &mut Tables, ctx: &mut Ctx, id: &str, f: impl FnOnce(&mut Allocation)) {
    let Some(change) = t.update_alloc(ctx, id, f) else {
        return;
    };
    if change.old_status != change.new_status {
        count_in_summary(
            t,
            ctx,
            &change.job,
            &change.task_group,
            Some(change.old_status),
            change.new_status,
        );
    }
}

/// Nomad `upsertPlanResults`: stops and preemptions are diffs against the
/// stored allocation; placements are whole allocations.
pub(super) fn plan_results(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &ApplyPlanResults,
) -> Result<(), ApplyError> {
    if c.placed.iter().any(|a| a.id.is_empty()) {
        return Err(ApplyError::Invalid(
            "placed allocation without an ID".into(),
        ));
    }
    if let Some(d) = &c.deployment {
        if d.namespace != c.namespace || d.job_id != c.job_id {
            return Err(ApplyError::Invalid(format!(
                "deployment {:?} is not of job {:?}",
                d.id, c.job_id
            )));
        }
        deployment::check_plan_deployment(t, d)?;
    }
    let index = ctx.index;
    // The deployment first, so the placements below count into it.
    if let Some(d) = &c.deployment {
        deployment::upsert_from_plan(t, ctx, d, c.now);
    }
    deployment::plan_status_updates(t, ctx, &c.deployment_updates, c.now);
    // Placements run the live incarnation of the job (0: it is gone).
    let job_create_index = t
        .jobs
        .get(&(c.namespace.clone(), c.job_id.clone()))
        .map_or(0, |j| j.create_index);
    for stop in &c.stopped {
        update(t, ctx, &stop.id, |a| {
            a.desired_status = AllocDesiredStatus::Stop;
            a.desired_description.clone_from(&stop.desired_description);
            if let Some(cs) = stop.client_status {
                a.client_status = cs;
            }
            if !stop.followup_eval_id.is_empty() {
                a.followup_eval_id.clone_from(&stop.followup_eval_id);
            }
            a.modify_index = index;
            a.alloc_modify_index = index;
            a.modify_time = c.now;
        });
    }
    for f in &c.followups {
        update(t, ctx, &f.id, |a| {
            a.followup_eval_id.clone_from(&f.followup_eval_id);
            a.modify_index = index;
            a.alloc_modify_index = index;
            a.modify_time = c.now;
        });
    }
    for p in &c.preempted {
        update(t, ctx, &p.id, |a| {
            a.desired_status = AllocDesiredStatus::Evict;
            a.desired_description.clone_from(&p.desired_description);
            a.preempted_by_allocation.clone_from(&p.preempted_by);
            a.modify_index = index;
            a.alloc_modify_index = index;
            a.modify_time = c.now;
        });
    }
    for placed in &c.placed {
        let mut a = placed.clone();
        a.job = None;
        a.namespace.clone_from(&c.namespace);
        a.job_id.clone_from(&c.job_id);
        let old = t.allocs.get(&a.id).map(|r| &r.alloc);
        let old_status = old.map(|o| o.client_status);
        match old {
            Some(old) => {
                a.create_index = old.create_index;
                a.create_time = old.create_time;
                a.task_states.clone_from(&old.task_states);
                // A scheduler marking the allocation lost or unknown decides the
                // client status; otherwise the client's report stands.
                if !matches!(
                    a.client_status,
                    AllocClientStatus::Lost | AllocClientStatus::Unknown
                ) {
                    a.client_status = old.client_status;
                    a.client_description.clone_from(&old.client_description);
                }
            }
            None => {
                a.create_index = index;
                if a.create_time == 0 {
                    a.create_time = c.now;
                }
            }
        }
        a.modify_index = index;
        a.alloc_modify_index = index;
        a.modify_time = c.now;
        // Link the replaced allocation forward (Nomad `upsertAllocsImpl`).
        let prev = a.previous_allocation.clone();
        if !prev.is_empty()
            && t.allocs
                .get(&prev)
                .is_some_and(|r| r.alloc.next_allocation != a.id)
        {
            let next = a.id.clone();
            update(t, ctx, &prev, |p| {
                p.next_allocation = next;
                p.modify_index = index;
            });
        }
        let job = (a.namespace.clone(), a.job_id.clone());
        count_in_summary(t, ctx, &job, &a.task_group, old_status, a.client_status);
        // Only an allocation in a deployment counts into it: the copy of
        // the stored one is for that, so a plan outside any deployment
        // (batch, system, no `update` block) makes none.
        if !a.deployment_id.is_empty() {
            let old = t.allocs.get(&a.id).map(|r| r.alloc.clone());
            deployment::update_with_alloc(t, ctx, &a, old.as_ref());
        }
        t.put_alloc(
            ctx,
            AllocRow {
                alloc: a,
                job_version: c.job_version,
                job_create_index,
            },
        );
    }
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}

/// Nomad `nestedUpdateAllocFromClient`: only client-owned fields change;
/// updates for allocations already collected are dropped.
pub(super) fn client_update(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AllocClientUpdate,
) -> Result<(), ApplyError> {
    let index = ctx.index;
    for u in &c.updates {
        let old = t
            .allocs
            .get(&u.id)
            .filter(|r| !r.alloc.deployment_id.is_empty())
            .map(|r| r.alloc.clone());
        update(t, ctx, &u.id, |a| {
            a.client_status = u.client_status;
            a.client_description.clone_from(&u.client_description);
            a.task_states.clone_from(&u.task_states);
            if let Some(ds) = &u.deployment_status {
                let mut ds = ds.clone();
                // Whether it is a canary is the scheduler's to say, not the
                // client's (Nomad's client reports only health and time).
                ds.canary = a.deployment_status.as_ref().is_some_and(|d| d.canary);
                ds.modify_index = index;
                a.deployment_status = Some(ds);
            }
            a.modify_index = index;
            a.modify_time = c.now;
        });
        if let Some(old) = old {
            if let Some(new) = t.allocs.get(&u.id).map(|r| r.alloc.clone()) {
                deployment::update_with_alloc(t, ctx, &new, Some(&old));
            }
        }
    }
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}

pub(super) fn desired_transition(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AllocUpdateDesiredTransition,
) -> Result<(), ApplyError> {
    let index = ctx.index;
    for (id, tr) in &c.transitions {
        update(t, ctx, id, |a| {
            a.desired_transition.merge(tr);
            a.modify_index = index;
            a.alloc_modify_index = index;
            a.modify_time = c.now;
        });
    }
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}
