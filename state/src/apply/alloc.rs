use drover_api::{AllocClientStatus, AllocDesiredStatus, Allocation};

use crate::apply::{upsert_evals, ApplyError};
use crate::command::{AllocClientUpdate, AllocUpdateDesiredTransition, ApplyPlanResults};
use crate::summary;
use crate::tables::{AllocRow, Ctx, Tables};

/// Store one allocation change and move it between its job summary's bins.
fn write_alloc(t: &mut Tables, ctx: &mut Ctx, old: Option<&Allocation>, row: AllocRow) {
    let key = (row.alloc.namespace.clone(), row.alloc.job_id.clone());
    if let Some(s) = t.job_summaries.get_mut(&key) {
        if summary::count_alloc(s, old, &row.alloc) {
            s.modify_index = ctx.index;
            let s = s.clone();
            t.put_summary(ctx, s);
        }
    }
    t.put_alloc(ctx, row);
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
    for stop in &c.stopped {
        let Some(row) = t.allocs.get(&stop.id) else {
            continue;
        };
        let old = row.alloc.clone();
        let mut row = row.clone();
        let a = &mut row.alloc;
        a.desired_status = AllocDesiredStatus::Stop;
        a.desired_description = stop.desired_description.clone();
        if let Some(cs) = stop.client_status {
            a.client_status = cs;
        }
        if !stop.followup_eval_id.is_empty() {
            a.followup_eval_id = stop.followup_eval_id.clone();
        }
        a.modify_index = ctx.index;
        a.alloc_modify_index = ctx.index;
        a.modify_time = c.now;
        write_alloc(t, ctx, Some(&old), row);
    }
    for p in &c.preempted {
        let Some(row) = t.allocs.get(&p.id) else {
            continue;
        };
        let old = row.alloc.clone();
        let mut row = row.clone();
        let a = &mut row.alloc;
        a.desired_status = AllocDesiredStatus::Evict;
        a.desired_description = p.desired_description.clone();
        a.preempted_by_allocation = p.preempted_by.clone();
        a.modify_index = ctx.index;
        a.alloc_modify_index = ctx.index;
        a.modify_time = c.now;
        write_alloc(t, ctx, Some(&old), row);
    }
    for placed in &c.placed {
        let mut a = placed.clone();
        a.job = None;
        a.namespace.clone_from(&c.namespace);
        a.job_id.clone_from(&c.job_id);
        let old = t.allocs.get(&a.id).map(|r| r.alloc.clone());
        match &old {
            Some(old) => {
                a.create_index = old.create_index;
                a.create_time = old.create_time;
                a.task_states = old.task_states.clone();
                // A scheduler marking the allocation lost or unknown decides the
                // client status; otherwise the client's report stands.
                if !matches!(
                    a.client_status,
                    AllocClientStatus::Lost | AllocClientStatus::Unknown
                ) {
                    a.client_status = old.client_status;
                    a.client_description = old.client_description.clone();
                }
            }
            None => {
                a.create_index = ctx.index;
                if a.create_time == 0 {
                    a.create_time = c.now;
                }
            }
        }
        a.modify_index = ctx.index;
        a.alloc_modify_index = ctx.index;
        a.modify_time = c.now;
        // Link the replaced allocation forward (Nomad `upsertAllocsImpl`).
        if !a.previous_allocation.is_empty() {
            if let Some(prev) = t.allocs.get(&a.previous_allocation) {
                if prev.alloc.next_allocation != a.id {
                    let prev_old = prev.alloc.clone();
                    let mut prev = prev.clone();
                    prev.alloc.next_allocation = a.id.clone();
                    prev.alloc.modify_index = ctx.index;
                    write_alloc(t, ctx, Some(&prev_old), prev);
                }
            }
        }
        write_alloc(
            t,
            ctx,
            old.as_ref(),
            AllocRow {
                alloc: a,
                job_version: c.job_version,
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
    for u in &c.updates {
        let Some(row) = t.allocs.get(&u.id) else {
            continue;
        };
        let old = row.alloc.clone();
        let mut row = row.clone();
        let a = &mut row.alloc;
        a.client_status = u.client_status;
        a.client_description.clone_from(&u.client_description);
        a.task_states.clone_from(&u.task_states);
        if let Some(ds) = &u.deployment_status {
            let mut ds = ds.clone();
            ds.modify_index = ctx.index;
            a.deployment_status = Some(ds);
        }
        a.modify_index = ctx.index;
        a.modify_time = c.now;
        write_alloc(t, ctx, Some(&old), row);
    }
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}

pub(super) fn desired_transition(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &AllocUpdateDesiredTransition,
) -> Result<(), ApplyError> {
    for (id, tr) in &c.transitions {
        let Some(row) = t.allocs.get(id) else {
            continue;
        };
        let old = row.alloc.clone();
        let mut row = row.clone();
        row.alloc.desired_transition.merge(tr);
        row.alloc.modify_index = ctx.index;
        row.alloc.alloc_modify_index = ctx.index;
        row.alloc.modify_time = c.now;
        write_alloc(t, ctx, Some(&old), row);
    }
    upsert_evals(t, ctx, &c.evals);
    Ok(())
}
