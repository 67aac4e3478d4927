use std::sync::Arc;

use drover_api::{Job, JobSummary};

use crate::apply::{set_child_status, upsert_evals, ApplyError};
use crate::command::{JobDeregister, JobRegister};
use crate::summary;
use crate::tables::{Ctx, Tables};

/// Nomad `upsertJobImpl`: a new job starts at version 0; every register of an
/// existing job is a new version (the handler only sends changed specs).
pub(crate) fn register(t: &mut Tables, ctx: &mut Ctx, c: &JobRegister) -> Result<(), ApplyError> {
    if c.job.id.is_empty() || c.job.namespace.is_empty() {
        return Err(ApplyError::Invalid(
            "job ID and Namespace must be set".into(),
        ));
    }
    if !t.namespaces.0.contains_key(&c.job.namespace) {
        return Err(ApplyError::Namespace(format!(
            "job {:?} is in nonexistent namespace {:?}",
            c.job.id, c.job.namespace
        )));
    }
    let key = (c.job.namespace.clone(), c.job.id.clone());
    let existing = t.jobs.get(&key);
    if let Some(expected) = c.enforce_index {
        let actual = existing.map_or(0, |j| j.job_modify_index);
        if actual != expected {
            return Err(ApplyError::JobModifyIndexConflict {
                job_id: c.job.id.clone(),
                expected,
                actual,
            });
        }
    }
    let mut job = c.job.clone();
    let old_status = existing.map(|e| e.status);
    match existing {
        Some(e) => {
            job.create_index = e.create_index;
            job.version = e.version + 1;
        }
        None => {
            job.create_index = ctx.index;
            job.version = 0;
        }
    }
    job.modify_index = ctx.index;
    job.job_modify_index = ctx.index;
    job.stable = false;
    super::lifecycle::stamp_scaling_policies(existing.map(|e| &**e), &mut job, ctx.index);

    let mut s = match t.job_summaries.get(&key) {
        Some(s) => {
            let mut s = JobSummary::clone(s);
            if summary::add_missing_groups(&mut s, &job) {
                s.modify_index = ctx.index;
            }
            s
        }
        None => summary::new_summary(&job, ctx.index),
    };
    if job.is_parent() && s.children.is_none() {
        s.children = Some(Default::default());
    }
    if t.job_summaries.get(&key).map(|s| &**s) != Some(&s) {
        t.put_summary(ctx, s);
    }
    if let Some(eval) = &c.eval {
        // The eval acts on this version: Nomad sets its JobModifyIndex to
        // the register's index in the FSM (applyUpsertJob).
        let mut eval = eval.clone();
        eval.job_modify_index = ctx.index;
        upsert_evals(t, ctx, std::slice::from_ref(&eval));
    }
    let stats = t.ix.job_stats.get(&key).copied().unwrap_or_default();
    job.status = summary::job_status(&job, stats, false);
    let (status, parent_id) = (job.status, job.parent_id.clone());
    crate::periodic::on_register(t, ctx, &job, c.now);
    let job = Arc::new(job);
    t.put_job_version(ctx, &job);
    t.put_job(ctx, job);
    if !parent_id.is_empty() && old_status != Some(status) {
        set_child_status(t, ctx, &key.0, &parent_id, old_status, status);
    }
    Ok(())
}

/// Stop (a new version with `Stop` set) or purge a job.
pub(super) fn deregister(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &JobDeregister,
) -> Result<(), ApplyError> {
    let key = (c.namespace.clone(), c.job_id.clone());
    let Some(existing) = t.jobs.get(&key).map(|j| Job::clone(j)) else {
        return Err(ApplyError::UnknownJob {
            namespace: c.namespace.clone(),
            job_id: c.job_id.clone(),
        });
    };
    if let Some(eval) = &c.eval {
        upsert_evals(t, ctx, std::slice::from_ref(eval));
    }
    if c.no_shutdown_delay {
        skip_shutdown_delay(t, ctx, &existing, c.now);
    }
    if c.purge {
        t.delete_job(ctx, &c.namespace, &c.job_id);
        // A purged job's deployments go with it (Nomad `DeleteJobTxn`).
        for id in t.deployments_of_job(&c.namespace, &c.job_id) {
            t.delete_deployment(ctx, &id);
        }
        return Ok(());
    }
    let mut job = existing;
    job.stop = true;
    job.version += 1;
    job.submit_time = c.now;
    job.modify_index = ctx.index;
    job.job_modify_index = ctx.index;
    job.stable = false;
    let stats = t.ix.job_stats.get(&key).copied().unwrap_or_default();
    let old_status = job.status;
    job.status = summary::job_status(&job, stats, false);
    let (status, parent_id) = (job.status, job.parent_id.clone());
    let job = Arc::new(job);
    t.put_job_version(ctx, &job);
    t.put_job(ctx, job);
    if !parent_id.is_empty() && old_status != status {
        set_child_status(t, ctx, &key.0, &parent_id, Some(old_status), status);
    }
    Ok(())
}

/// Nomad's `handleJobDeregister` with `NoShutdownDelay`: every allocation
/// of this incarnation of the job gets the desired transition, so its
/// client stops it without waiting out `shutdown_delay`.
fn skip_shutdown_delay(t: &mut Tables, ctx: &mut Ctx, job: &Job, now: i64) {
    let ids: Vec<String> =
        t.ix.allocs_by_job
            .range((job.namespace.clone(), job.id.clone(), String::new())..)
            .take_while(|(ns, j, _)| *ns == job.namespace && *j == job.id)
            .map(|(_, _, id)| id.clone())
            .collect();
    let index = ctx.index;
    for id in ids {
        let current = t
            .allocs
            .get(&id)
            .is_some_and(|r| r.job_create_index == job.create_index);
        if !current {
            continue;
        }
        super::alloc::update(t, ctx, &id, |a| {
            a.desired_transition.no_shutdown_delay = Some(true);
            a.modify_index = index;
            a.alloc_modify_index = index;
            a.modify_time = now;
        });
    }
}
