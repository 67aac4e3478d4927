//! `PUT /v1/job/{id}/plan`: what registering a job would do, without doing
//! it (Nomad nomad/job_endpoint.go `Job.Plan`; api/jobs.go `JobPlanResponse`).
//!
//! The job is decoded, defaulted and validated exactly as register does, then
//! given the version and `JobModifyIndex` register would give it, and the
//! scheduler plans a pending eval for it against the applied state. Nothing
//! is written: the placements, the eval and the blocked eval exist only in
//! the answer.
//!
//! Periodic and parameterized jobs are not scheduled (their plan is
//! empty); an enabled periodic job's `NextPeriodicLaunch` is its next
//! launch after now, as Nomad computes it. Differs from Nomad: when the
//! scheduler leaves `desired_updates` empty the per-group counts
//! are derived from the plan's placements and stops.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::response::Response;
use drover_api::{
    trigger, DesiredUpdates, EvalStatus, JobPlanRequest, JobPlanResponse, JobRegisterRequest,
    PlanAnnotations,
};
use drover_scheduler::generic::Plan;
use drover_state::{Command, State, WatchSet};

use super::blocking::write_response;
use super::error::{HttpError, HttpResult};
use super::job_writes::{new_id, now, pending_eval, spec_changed};
use super::query::RawQuery;
use super::App;
use crate::jobs;

pub async fn plan(app: &App, q: &RawQuery, id: &str, body: &Bytes) -> HttpResult<Response> {
    let req: JobRegisterRequest =
        jobs::decode_job_request(body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let flags: JobPlanRequest =
        jobs::decode_json(body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let mut job = jobs::validate_register(&req, Some(id))
        .map_err(|e| HttpError::bad_request(e.to_string()))?
        .clone();
    job.namespace = jobs::namespace_for_job(&job.namespace, q.get("namespace"), &req.namespace);
    jobs::canonicalize(&mut job);
    let drivers: Vec<&str> = app.info.known_drivers.iter().map(String::as_str).collect();
    jobs::validate(&job, &drivers).map_err(|e| HttpError::bad_request(e.to_string()))?;
    super::job_writes::namespace_allows(app, &job)?;
    let now = now();
    job.submit_time = now;

    let shared = app.raft.shared.read();
    let st: &State = &shared.state;
    let existing = st
        .job(&mut WatchSet::new(), &job.namespace, &job.id)
        .cloned();
    // As Job.Plan: the version and JobModifyIndex register would give it.
    let stored_index = existing.as_ref().map_or(0, |o| o.job_modify_index);
    if let Some(old) = &existing {
        let changed = spec_changed(old, &job);
        job.version = old.version + u64::from(changed);
        job.create_index = old.create_index;
        job.job_modify_index = stored_index + u64::from(changed);
        job.status = old.status;
    }
    let mut eval = pending_eval(&job, trigger::JOB_REGISTER, now);
    eval.job_modify_index = job.job_modify_index;
    eval.annotate_plan = true;
    let plan = if job.is_parent() {
        Plan::default()
    } else {
        drover_scheduler::compute_job(st, &eval, Some(&job), &mut new_id, now)
    };
    let updates = desired_updates(st, &plan);
    let diff = flags
        .diff
        .then(|| jobs::diff::job_diff(existing.as_ref(), Some(&job), &updates));
    let created_evals = blocked_evals(&plan, eval, now);
    let index = st.latest_index();
    drop(shared);

    let resp = JobPlanResponse {
        annotations: Some(PlanAnnotations {
            desired_tg_updates: updates,
            preempted_allocs: None,
        }),
        failed_tg_allocs: (!plan.failed_tg_allocs.is_empty()).then_some(plan.failed_tg_allocs),
        job_modify_index: stored_index,
        created_evals,
        diff,
        next_periodic_launch: job
            .periodic
            .as_ref()
            .filter(|_| job.is_periodic_active())
            .and_then(|p| crate::periodic::next_launch(p, now)),
        warnings: String::new(),
        index,
    };
    Ok(write_response(&resp, index))
}

/// The blocked eval a real run would create (Nomad's `planner.CreateEvals`),
/// built by the same code that commits plans.
fn blocked_evals(
    plan: &Plan,
    eval: drover_api::Evaluation,
    now: i64,
) -> Option<Vec<drover_api::Evaluation>> {
    if plan.failed_tg_allocs.is_empty() {
        return None;
    }
    let Command::ApplyPlanResults(c) = plan.clone().into_command(eval, new_id(), now) else {
        return None;
    };
    let blocked: Vec<_> = c
        .evals
        .into_iter()
        .filter(|e| e.status == EvalStatus::Blocked)
        .collect();
    (!blocked.is_empty()).then_some(blocked)
}

/// The scheduler's per-group counts; derived from the plan when it gave none.
fn desired_updates(st: &State, plan: &Plan) -> BTreeMap<String, DesiredUpdates> {
    if !plan.desired_updates.is_empty() || plan.is_noop() && plan.failed_tg_allocs.is_empty() {
        return plan.desired_updates.clone();
    }
    let mut out: BTreeMap<String, DesiredUpdates> = BTreeMap::new();
    for a in &plan.placed {
        out.entry(a.task_group.clone()).or_default().place += 1;
    }
    for (tg, n) in &plan.queued {
        out.entry(tg.clone()).or_default().place += u64::try_from(*n).unwrap_or(0);
    }
    let mut ws = WatchSet::new();
    for s in &plan.stopped {
        if let Some(row) = st.alloc(&mut ws, &s.id) {
            out.entry(row.alloc.task_group.clone()).or_default().stop += 1;
        }
    }
    out
}
