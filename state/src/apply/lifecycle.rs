//! The job lifecycle's writes besides register and deregister: a version's
//! stability, scaling events, and registers that carry their source
//! (Nomad nomad/state/state_store.go `UpdateJobStability`,
//! `UpsertScalingEvent`, `updateJobSubmission`).

use std::sync::Arc;

use drover_api::{Job, JobSubmission, JOB_TRACKED_SCALING_EVENTS};

use crate::apply::ApplyError;
use crate::command::{JobStability, JobSubmit, ScalingEventRegister};
use crate::tables::{Ctx, JobScalingEvents, Tables};
use crate::watch::WatchKey;

/// `POST /v1/job/:id/stable`. Emits no events: Nomad's event stream has
/// none for a stability write (nomad/state/events.go `MsgTypeEvents` has no
/// entry for `JobStabilityRequestType`).
pub(super) fn stability(t: &mut Tables, ctx: &mut Ctx, c: &JobStability) -> Result<(), ApplyError> {
    let before = ctx.events.len();
    let result = set_job_stability(t, ctx, &c.namespace, &c.job_id, c.version, c.stable);
    ctx.events.truncate(before);
    result
}

/// Set the `Stable` flag of `version` of the live job: the version's row
/// and, when it is the current version, the job (its `ModifyIndex` moves,
/// its `Version` and `JobModifyIndex` stay). Setting the flag it already
/// has changes nothing. One function, because a successful deployment marks
/// its version stable the same way `POST /v1/job/:id/stable` does.
pub(crate) fn set_job_stability(
    t: &mut Tables,
    ctx: &mut Ctx,
    namespace: &str,
    job_id: &str,
    version: u64,
    stable: bool,
) -> Result<(), ApplyError> {
    let key = (namespace.to_string(), job_id.to_string());
    let Some(current) = t.jobs.get(&key).cloned() else {
        return Err(ApplyError::UnknownJob {
            namespace: namespace.to_string(),
            job_id: job_id.to_string(),
        });
    };
    let vkey = (key.0.clone(), key.1.clone(), current.create_index, version);
    let Some(row) = t.job_versions.get(&vkey).cloned() else {
        return Err(ApplyError::Invalid(format!(
            "job {job_id:?} in namespace {namespace:?} at version {version} not found"
        )));
    };
    if row.stable == stable {
        return Ok(());
    }
    let mut job = Job::clone(&row);
    job.stable = stable;
    job.modify_index = ctx.index;
    let job = Arc::new(job);
    t.put_job_version(ctx, &job);
    if current.version == version {
        t.put_job(ctx, job);
    }
    Ok(())
}

/// A scaling event, after the count change it reports (if any) was
/// registered; a register that is refused records no event.
pub(super) fn scaling_event(
    t: &mut Tables,
    ctx: &mut Ctx,
    c: &ScalingEventRegister,
) -> Result<(), ApplyError> {
    let key = (c.namespace.clone(), c.job_id.clone());
    let Some(job) = t.jobs.get(&key) else {
        return Err(ApplyError::UnknownJob {
            namespace: c.namespace.clone(),
            job_id: c.job_id.clone(),
        });
    };
    if job.task_group(&c.task_group).is_none() {
        return Err(ApplyError::Invalid(format!(
            "task group {:?} specified for scaling does not exist in job",
            c.task_group
        )));
    }
    if let Some(reg) = &c.register {
        if (reg.job.namespace.as_str(), reg.job.id.as_str()) != (&c.namespace, &c.job_id) {
            return Err(ApplyError::Invalid(
                "the scaled job is not the job of the scaling event".into(),
            ));
        }
        super::job::register(t, ctx, reg)?;
    }
    let mut row = t
        .scaling_events
        .get(&key)
        .map(|e| JobScalingEvents::clone(e))
        .unwrap_or_else(|| JobScalingEvents {
            namespace: c.namespace.clone(),
            job_id: c.job_id.clone(),
            ..JobScalingEvents::default()
        });
    let mut event = c.event.clone();
    event.create_index = ctx.index;
    let events = row.events.entry(c.task_group.clone()).or_default();
    events.insert(0, event);
    events.truncate(JOB_TRACKED_SCALING_EVENTS);
    row.modify_index = ctx.index;
    t.scaling_events.insert(key, Arc::new(row));
    ctx.touched
        .push(WatchKey::job_scaling_events(&c.namespace, &c.job_id));
    Ok(())
}

/// Register, then keep the submitted source with the version just made.
pub(super) fn submit(t: &mut Tables, ctx: &mut Ctx, c: &JobSubmit) -> Result<(), ApplyError> {
    super::job::register(t, ctx, &c.register)?;
    let (ns, id) = (&c.register.job.namespace, &c.register.job.id);
    let Some(job) = t.jobs.get(&(ns.clone(), id.clone())) else {
        return Ok(());
    };
    let sub = JobSubmission {
        namespace: ns.clone(),
        job_id: id.clone(),
        version: job.version,
        job_modify_index: ctx.index,
        ..c.submission.clone()
    };
    let vkey = (ns.clone(), id.clone(), job.create_index, job.version);
    t.job_submissions.insert(vkey, Arc::new(sub));
    Ok(())
}

/// Stamp the indexes of a registered job's scaling policies: created when
/// its ID first appeared, modified by every register (Nomad
/// `UpsertScalingPoliciesTxn`).
pub(super) fn stamp_scaling_policies(old: Option<&Job>, job: &mut Job, index: u64) {
    for p in job
        .task_groups
        .iter_mut()
        .filter_map(|tg| tg.scaling.as_mut())
    {
        let created = old
            .into_iter()
            .flat_map(|j| &j.task_groups)
            .filter_map(|tg| tg.scaling.as_ref())
            .find(|o| !o.id.is_empty() && o.id == p.id)
            .map(|o| o.create_index);
        p.create_index = created.unwrap_or(index);
        p.modify_index = index;
    }
}
