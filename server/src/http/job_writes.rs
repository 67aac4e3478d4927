//! Job writes: register, deregister, parse (Nomad job_endpoint.go
//! `Register`, `Deregister`; command/agent/job_endpoint.go `jobsParse`).
//!
//! The handler does everything nondeterministic (IDs, the clock) and all
//! validation; the state machine only applies. As in Nomad, the job and its
//! evaluation travel in one Raft entry, and re-submitting an unchanged job
//! writes only a new evaluation (no new version).

use axum::body::Bytes;
use axum::response::Response;
use drover_api::{
    trigger, Job, JobDeregisterResponse, JobRegisterRequest, JobRegisterResponse,
    JobValidateResponse, JobsParseRequest, WriteMeta,
};
use drover_state::command::{EvalUpdate, JobDeregister, JobRegister, JobSubmit};
use drover_state::{Command, WatchSet};

use super::blocking::{json, write_response, QueryMeta};
use super::error::{HttpError, HttpResult};
use super::query::RawQuery;
use super::App;
use crate::raft::node::WriteError;
use crate::{jobs, jobspec};

pub(super) use crate::clock::unix_nanos as now;

pub(super) use crate::evals::new_id;

pub(super) fn write_error(e: WriteError) -> HttpError {
    match e {
        WriteError::NotLeader {
            leader_addr: Some(addr),
            ..
        } => HttpError::internal(format!(
            "this server lost leadership while serving the request (leader RPC address now {addr}); retry"
        )),
        WriteError::NotLeader { .. } => HttpError::internal("No cluster leader"),
        WriteError::Raft(m) => HttpError::internal(m),
        WriteError::LeadershipLost => HttpError::internal(e.to_string()),
        WriteError::Unavailable(m) => HttpError::internal(format!(
            "write refused, the Raft log cannot be written: {m}"
        )),
    }
}

/// Write `cmd`; a command the state machine refused is the caller's error.
pub(super) async fn write(app: &App, cmd: Command) -> HttpResult<u64> {
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    out.result
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    Ok(out.index)
}

pub(crate) use crate::evals::pending as pending_eval;

/// Whether `new` differs from `old` in anything the user wrote (Nomad
/// `Job.SpecChanged`): server-kept fields are ignored.
pub(crate) fn spec_changed(old: &Job, new: &Job) -> bool {
    let strip = |j: &Job| {
        let mut j = j.clone();
        j.status = Default::default();
        j.status_description.clear();
        j.stable = false;
        j.version = 0;
        j.submit_time = 0;
        j.create_index = 0;
        j.modify_index = 0;
        j.job_modify_index = 0;
        for p in j
            .task_groups
            .iter_mut()
            .filter_map(|tg| tg.scaling.as_mut())
        {
            p.create_index = 0;
            p.modify_index = 0;
        }
        j
    };
    strip(old) != strip(new)
}

/// Nomad's `ErrJobRegistrationDisabled`, answered with a 403.
pub(super) const JOB_REGISTRATION_DISABLED: &str =
    "Job registration, dispatch, and scale are disabled by the scheduler configuration";

/// Registers of every kind (register, revert, scale, dispatch) are refused
/// with a 403 while the scheduler configuration's `RejectJobRegistration`
/// is set, but for a management token (Nomad's `registrationsAreAllowed`,
/// nomad/job_endpoint.go; with ACLs off there is none, and every register
/// is refused).
pub(super) fn registrations_allowed(app: &App) -> HttpResult<()> {
    if crate::acl::enforce::caller_is_management() {
        return Ok(());
    }
    let rejecting = app
        .raft
        .shared
        .read()
        .state
        .scheduler_config()
        .is_some_and(|c| c.reject_job_registration);
    if rejecting {
        return Err(HttpError::new(
            axum::http::StatusCode::FORBIDDEN,
            JOB_REGISTRATION_DISABLED,
        ));
    }
    Ok(())
}

/// Nomad's namespace admission check: the job's namespace exists and its
/// capabilities allow the job's task drivers and network modes.
pub(super) fn namespace_allows(app: &App, job: &Job) -> HttpResult<()> {
    let shared = app.raft.shared.read();
    let ns = shared.state.namespace(&mut WatchSet::new(), &job.namespace);
    jobs::check_namespace(job, ns).map_err(HttpError::bad_request)
}

/// `PUT /v1/jobs` and `PUT /v1/job/{id}`; refused first while
/// registrations are disabled ([`registrations_allowed`]).
pub async fn register(
    app: &App,
    q: &RawQuery,
    path_id: Option<&str>,
    body: &Bytes,
) -> HttpResult<Response> {
    registrations_allowed(app)?;
    let req: JobRegisterRequest =
        jobs::decode_job_request(body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let mut job = jobs::validate_register(&req, path_id)
        .map_err(|e| HttpError::bad_request(e.to_string()))?
        .clone();
    job.namespace = jobs::namespace_for_job(&job.namespace, q.get("namespace"), &req.namespace);
    jobs::canonicalize(&mut job);
    let drivers: Vec<&str> = app.info.known_drivers.iter().map(String::as_str).collect();
    jobs::validate(&job, &drivers).map_err(|e| HttpError::bad_request(e.to_string()))?;
    namespace_allows(app, &job)?;
    let now = now();
    job.submit_time = now;
    let existing = app
        .raft
        .shared
        .read()
        .state
        .job(&mut WatchSet::new(), &job.namespace, &job.id)
        .cloned();
    jobs::propagate_scaling_policy_ids(existing.as_ref(), &mut job, new_id);
    // Periodic and parameterized jobs are templates: no evaluation of their own.
    let eval = (!job.is_parent()).then(|| pending_eval(&job, trigger::JOB_REGISTER, now));
    let unchanged = existing
        .as_ref()
        .is_some_and(|old| !spec_changed(old, &job));
    if let (true, false, Some(old)) = (unchanged, req.enforce_index, &existing) {
        let Some(eval) = eval else {
            let resp = JobRegisterResponse {
                job_modify_index: old.job_modify_index,
                meta: WriteMeta {
                    index: old.modify_index,
                },
                ..Default::default()
            };
            return Ok(write_response(&resp, old.modify_index));
        };
        let mut eval = eval;
        eval.job_modify_index = old.job_modify_index;
        let eval_id = eval.id.clone();
        let index = write(
            app,
            Command::EvalUpdate(EvalUpdate {
                evals: vec![eval],
                now,
            }),
        )
        .await?;
        let resp = JobRegisterResponse {
            eval_id,
            eval_create_index: index,
            job_modify_index: old.job_modify_index,
            warnings: String::new(),
            meta: WriteMeta { index },
        };
        return Ok(write_response(&resp, index));
    }
    let eval_id = eval.as_ref().map(|e| e.id.clone()).unwrap_or_default();
    let has_eval = eval.is_some();
    let enforce_index = req.enforce_index.then_some(req.job_modify_index);
    let register = JobRegister {
        job,
        eval,
        enforce_index,
        now,
    };
    let (submission, warnings) = super::submission::accept(req.submission);
    let cmd = match submission {
        Some(submission) => Command::JobSubmit(JobSubmit {
            register,
            submission,
        }),
        None => Command::JobRegister(register),
    };
    let index = write(app, cmd).await?;
    let resp = JobRegisterResponse {
        eval_id,
        eval_create_index: if has_eval { index } else { 0 },
        job_modify_index: index,
        warnings,
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}

/// `DELETE /v1/job/{id}` (`purge=true` deletes instead of stopping;
/// command/agent/job_endpoint.go `jobDelete`). `eval_priority` overrides
/// the priority of the stop's evaluation, `no_shutdown_delay` has the
/// allocations stop without their `shutdown_delay`, and `global` (which
/// only multiregion jobs use) is checked to be a boolean and has nothing
/// more to do.
pub async fn deregister(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let purge = q.flag("purge")?;
    q.flag("global")?;
    let no_shutdown_delay = q.flag("no_shutdown_delay")?;
    let eval_priority = eval_priority(q)?;
    let ns = match q.get("namespace") {
        None | Some("") => "default".to_string(),
        Some(n) => n.to_string(),
    };
    let job = app
        .raft
        .shared
        .read()
        .state
        .job(&mut WatchSet::new(), &ns, id)
        .cloned();
    let job = job.ok_or_else(|| HttpError::not_found("job not found"))?;
    let now = now();
    let eval = (!job.is_parent()).then(|| {
        let mut eval = pending_eval(&job, trigger::JOB_DEREGISTER, now);
        if let Some(p) = eval_priority {
            eval.priority = p;
        }
        eval
    });
    let eval_id = eval.as_ref().map(|e| e.id.clone()).unwrap_or_default();
    let has_eval = eval.is_some();
    let index = write(
        app,
        Command::JobDeregister(JobDeregister {
            namespace: ns,
            job_id: id.to_string(),
            purge,
            no_shutdown_delay,
            eval,
            now,
        }),
    )
    .await?;
    let resp = JobDeregisterResponse {
        eval_id,
        eval_create_index: if has_eval { index } else { 0 },
        job_modify_index: index,
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}

/// `eval_priority`: absent or 0 means the job's own; otherwise 1 to 100
/// (command/agent/job_endpoint.go `validateEvalPriorityOpt`).
fn eval_priority(q: &RawQuery) -> HttpResult<Option<i32>> {
    let Some(v) = q.get("eval_priority") else {
        return Ok(None);
    };
    let p: i64 = v.parse().map_err(|_| {
        HttpError::bad_request(format!(
            "eval_priority: failed to parse {v:?} as an integer"
        ))
    })?;
    match p {
        0 => Ok(None),
        1..=100 => Ok(i32::try_from(p).ok()),
        _ => Err(HttpError::bad_request(
            "eval_priority: Eval priority must be between 1 and 100 inclusively",
        )),
    }
}

/// `PUT /v1/validate/job` (Nomad command/agent/job_endpoint.go
/// `ValidateJobRequest`, nomad/job_endpoint.go `Job.Validate`): the job is
/// decoded, defaulted and validated as register does it, and its problems
/// are listed in a 200 answer, as Nomad lists them. Only a body that does
/// not decode, or holds no job, is a 400. Nothing is written, so any server
/// answers it.
pub async fn validate(app: &App, body: &Bytes) -> HttpResult<Response> {
    let req: JobRegisterRequest =
        jobs::decode_job_request(body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let Some(job) = &req.job else {
        return Err(HttpError::bad_request("Job must be specified"));
    };
    let mut job = job.clone();
    jobs::canonicalize(&mut job);
    let drivers: Vec<&str> = app.info.known_drivers.iter().map(String::as_str).collect();
    let mut resp = JobValidateResponse {
        driver_config_validated: true,
        ..JobValidateResponse::default()
    };
    if let Err(errs) = jobs::validate(&job, &drivers) {
        resp.validation_errors = errs.0.iter().map(ToString::to_string).collect();
        resp.error = errs.to_string();
    } else if let Err(e) = namespace_allows(app, &job) {
        // Nomad's Job.Validate runs the admission validators too.
        resp.validation_errors = vec![e.message.clone()];
        resp.error = e.message;
    }
    Ok(json(&resp, &QueryMeta::latest(app)))
}

/// `PUT /v1/jobs/parse`: an HCL job file to the JSON job.
pub async fn parse(app: &App, body: &Bytes) -> HttpResult<Response> {
    let req: JobsParseRequest =
        jobs::decode_json(body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    if req.job_hcl.trim().is_empty() {
        return Err(HttpError::bad_request("Job spec is empty"));
    }
    let parsed = if req.variables.trim().is_empty() {
        jobspec::parse_hcl(&req.job_hcl)
    } else {
        jobspec::parse_hcl_with_variables(&req.job_hcl, &req.variables)
    };
    let parsed = parsed.map_err(|e| HttpError::bad_request(e.to_string()))?;
    // Nomad's parser output: a group without `count` has `"Count": null`.
    let mut value = parsed
        .to_json()
        .map_err(|e| HttpError::internal(e.to_string()))?;
    if !req.canonicalize {
        return Ok(json(&value, &QueryMeta::latest(app)));
    }
    // Absent fields get Nomad's API defaults exactly as a JSON submission would.
    jobs::strip_nulls(&mut value);
    jobs::canonicalize_value(&mut value);
    let mut job: Job =
        serde_json::from_value(value).map_err(|e| HttpError::internal(e.to_string()))?;
    jobs::canonicalize(&mut job);
    Ok(json(&job, &QueryMeta::latest(app)))
}
