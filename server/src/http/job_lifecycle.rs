//! A job's lifecycle beyond register and deregister: revert, stability,
//! scaling and the submitted source (Nomad command/agent/job_endpoint.go
//! `jobRevert`, `jobStable`, `jobScale*`, `jobSubmissionCRUD`;
//! nomad/job_endpoint.go `Revert`, `Stable`, `Scale`, `ScaleStatus`,
//! `GetJobSubmission`).
//!
//! Every refusal happens here, before anything is written, so a 400
//! leaves the job's version and indexes where they were; what the state
//! machine checks again (the enforced index, the version still existing)
//! is only what a concurrent write could have changed.

use axum::body::Bytes;
use axum::response::Response;
use drover_api::{
    trigger, AllocClientStatus, Job, JobRegisterResponse, JobRevertRequest, JobScaleStatusResponse,
    JobStabilityRequest, JobType, ScalingEvent, ScalingRequest, TaskGroupScaleStatus, WriteMeta,
};
use drover_state::command::{EvalUpdate, JobRegister, JobStability, ScalingEventRegister};
use drover_state::{Command, WatchSet};

use super::blocking::{blocking, json, write_response};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, pending_eval, registrations_allowed, spec_changed, write};
use super::query::{QueryOptions, RawQuery};
use super::App;
use crate::jobs;
use crate::revert::{revert_command, RevertError};

/// The namespace a write names (`?namespace=`, `default` when absent).
fn write_namespace(q: &RawQuery) -> String {
    match q.get("namespace") {
        None | Some("") => "default".to_string(),
        Some(n) => n.to_string(),
    }
}

fn decode<T: serde::de::DeserializeOwned>(body: &Bytes) -> HttpResult<T> {
    jobs::decode_json(body).map_err(|e| HttpError::bad_request(e.to_string()))
}

/// The body's `JobID` must be there and be the URL's (Nomad's messages).
fn check_job_id(body_id: &str, url_id: &str) -> HttpResult<()> {
    if body_id.is_empty() {
        return Err(HttpError::bad_request("JobID must be specified"));
    }
    if body_id != url_id {
        return Err(HttpError::bad_request("Job ID does not match"));
    }
    Ok(())
}

fn current_job(app: &App, ns: &str, id: &str) -> Option<Job> {
    app.raft
        .shared
        .read()
        .state
        .job(&mut WatchSet::new(), ns, id)
        .cloned()
}

/// `POST /v1/job/:id/revert`: register an old version again as a new one.
/// Answers Nomad's `JobRegisterResponse`.
pub async fn revert(app: &App, q: &RawQuery, id: &str, body: &Bytes) -> HttpResult<Response> {
    let req: JobRevertRequest = decode(body)?;
    check_job_id(&req.job_id, id)?;
    let ns = write_namespace(q);
    let now = now();
    let (cmd, current) = {
        let shared = app.raft.shared.read();
        let st = &shared.state;
        let cmd = revert_command(st, &ns, id, req.job_version, req.enforce_prior_version, now);
        let current = st.job(&mut WatchSet::new(), &ns, id).cloned();
        (cmd, current)
    };
    let cmd = cmd.map_err(|e| match e {
        RevertError::UnknownJob(_) => HttpError::not_found(e.to_string()),
        _ => HttpError::bad_request(e.to_string()),
    })?;
    registrations_allowed(app)?;
    let current = current.ok_or_else(|| HttpError::not_found("job not found"))?;
    register_or_evaluate(app, &current, cmd).await
}

/// Write `cmd` as a new version, or, when its spec equals the current one
/// (a revert to a version the job already runs again), only its evaluation,
/// as Nomad's `Job.Register` does for an unchanged job.
async fn register_or_evaluate(app: &App, current: &Job, cmd: JobRegister) -> HttpResult<Response> {
    if !spec_changed(current, &cmd.job) {
        let Some(mut eval) = cmd.eval else {
            let resp = JobRegisterResponse {
                job_modify_index: current.job_modify_index,
                meta: WriteMeta {
                    index: current.modify_index,
                },
                ..Default::default()
            };
            return Ok(write_response(&resp, current.modify_index));
        };
        eval.job_modify_index = current.job_modify_index;
        let eval_id = eval.id.clone();
        let index = write(
            app,
            Command::EvalUpdate(EvalUpdate {
                evals: vec![eval],
                now: cmd.now,
            }),
        )
        .await?;
        let resp = JobRegisterResponse {
            eval_id,
            eval_create_index: index,
            job_modify_index: current.job_modify_index,
            warnings: String::new(),
            meta: WriteMeta { index },
        };
        return Ok(write_response(&resp, index));
    }
    let eval_id = cmd.eval.as_ref().map(|e| e.id.clone()).unwrap_or_default();
    let has_eval = cmd.eval.is_some();
    let index = write(app, Command::JobRegister(cmd)).await?;
    let resp = JobRegisterResponse {
        eval_id,
        eval_create_index: if has_eval { index } else { 0 },
        job_modify_index: index,
        warnings: String::new(),
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}

/// `POST /v1/job/:id/stable`: set one version's `Stable` flag. Answers
/// `{Index}`.
pub async fn stable(app: &App, q: &RawQuery, id: &str, body: &Bytes) -> HttpResult<Response> {
    let req: JobStabilityRequest = decode(body)?;
    check_job_id(&req.job_id, id)?;
    let ns = write_namespace(q);
    let known = {
        let shared = app.raft.shared.read();
        let st = &shared.state;
        match st.job(&mut WatchSet::new(), &ns, id) {
            None => None,
            Some(_) => Some(st.job_version(&ns, id, req.job_version).is_some()),
        }
    };
    match known {
        None => return Err(HttpError::not_found(format!("job {id:?} not found"))),
        Some(false) => {
            return Err(HttpError::bad_request(format!(
                "JobVersion: job {id:?} in namespace {ns:?} at version {} not found",
                req.job_version
            )))
        }
        Some(true) => {}
    }
    let index = write(
        app,
        Command::JobStability(JobStability {
            namespace: ns,
            job_id: id.to_string(),
            version: req.job_version,
            stable: req.stable,
            now: now(),
        }),
    )
    .await?;
    Ok(write_response(&WriteMeta { index }, index))
}

/// `GET /v1/job/:id/scale`: each group's desired count, what is placed and
/// running, deployment health, and its scaling events.
pub async fn scale_status(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    let (status, meta) = blocking(app, &opts, |st, ws| {
        let Some(job) = st.job(ws, &ns, id) else {
            return Ok((None, st.index_of_set(ws)));
        };
        let mut events = st.job_scaling_events(ws, &ns, id);
        let mut status = JobScaleStatusResponse {
            job_id: job.id.clone(),
            namespace: job.namespace.clone(),
            job_create_index: job.create_index,
            job_modify_index: job.modify_index,
            job_stopped: job.stop,
            task_groups: Default::default(),
        };
        for tg in &job.task_groups {
            let g = TaskGroupScaleStatus {
                desired: i64::from(tg.count),
                events: events.remove(&tg.name).unwrap_or_default(),
                ..Default::default()
            };
            status.task_groups.insert(tg.name.clone(), g);
        }
        let create_index = job.create_index;
        // Live allocations of this incarnation; canaries are left out, as
        // in Nomad's `Job.ScaleStatus`.
        for row in st.allocs_by_job(ws, &ns, id) {
            let a = &row.alloc;
            if row.job_create_index != create_index || a.is_terminal() {
                continue;
            }
            let deployment = a.deployment_status.as_ref();
            if deployment.is_some_and(|d| d.canary) {
                continue;
            }
            let Some(g) = status.task_groups.get_mut(&a.task_group) else {
                continue;
            };
            g.placed += 1;
            if a.client_status == AllocClientStatus::Running {
                g.running += 1;
            }
            match deployment.and_then(|d| d.healthy) {
                Some(true) => g.healthy += 1,
                Some(false) => g.unhealthy += 1,
                None => {}
            }
        }
        Ok((Some(status), st.index_of_set(ws)))
    })
    .await?;
    let status = status.ok_or_else(|| HttpError::not_found("job not found"))?;
    Ok(json(&status, &meta))
}

/// `POST /v1/job/:id/scale`: with a `Count`, a new version of the job with
/// that group's count and an evaluation; without, a scaling event only.
/// Either way the event is kept with the group's last 20.
pub async fn scale(app: &App, q: &RawQuery, id: &str, body: &Bytes) -> HttpResult<Response> {
    let req: ScalingRequest = decode(body)?;
    let ns = write_namespace(q);
    let target = |k: &str| req.target.get(k).map(String::as_str).unwrap_or("");
    if !target("Namespace").is_empty() && target("Namespace") != ns {
        return Err(HttpError::bad_request(
            "Target.Namespace: namespace in payload did not match header",
        ));
    }
    if !target("Job").is_empty() && target("Job") != id {
        return Err(HttpError::bad_request(
            "Target.Job: job ID in payload did not match URL",
        ));
    }
    let group = target("Group").to_string();
    if group.is_empty() {
        return Err(HttpError::bad_request(
            "Target.Group: missing task group name for scaling action",
        ));
    }
    if let Some(count) = req.count {
        if count < 0 {
            return Err(HttpError::bad_request(
                "Count: scaling action count can't be negative",
            ));
        }
        if req.error {
            return Err(HttpError::bad_request(
                "Count: scaling action should not contain count if error is true",
            ));
        }
        if i32::try_from(count).is_err() {
            return Err(HttpError::bad_request(format!(
                "Count: new scaling count is too large for TaskGroup.Count (int): {count}"
            )));
        }
    }
    registrations_allowed(app)?;
    let job = current_job(app, &ns, id)
        .ok_or_else(|| HttpError::not_found(format!("job {id:?} not found")))?;
    let Some(tg) = job.task_group(&group) else {
        return Err(HttpError::bad_request(format!(
            "Target.Group: task group {group:?} specified for scaling does not exist in job"
        )));
    };
    let previous_count = i64::from(tg.count);
    let now = now();
    let mut event = ScalingEvent {
        time: now,
        count: req.count,
        previous_count,
        message: req.message.clone(),
        error: req.error,
        meta: req.meta.clone(),
        eval_id: None,
        create_index: 0,
    };
    let mut register = None;
    if let Some(count) = req.count {
        if job.job_type == JobType::System && count > 1 {
            return Err(HttpError::bad_request(
                "Count: jobs of type \"system\" can only be scaled between 0 and 1",
            ));
        }
        if let Some(p) = &tg.scaling {
            if let Some(min) = p.min.filter(|min| count < *min) {
                return Err(HttpError::bad_request(format!(
                    "Count: group count was less than scaling policy minimum: {count} < {min}"
                )));
            }
            if let Some(max) = p.max.filter(|max| count > *max) {
                return Err(HttpError::bad_request(format!(
                    "Count: group count was greater than scaling policy maximum: {count} > {max}"
                )));
            }
        }
        let mut scaled = job.clone();
        for g in &mut scaled.task_groups {
            if g.name == group {
                // Checked above to fit.
                g.count = i32::try_from(count).unwrap_or(g.count);
            }
        }
        scaled.submit_time = now;
        // The scaled job must still be a valid job (the sum of the counts
        // within `job_max_count`, as Nomad checks in `Job.Scale`).
        let drivers: Vec<&str> = app.info.known_drivers.iter().map(String::as_str).collect();
        jobs::validate(&scaled, &drivers).map_err(|e| HttpError::bad_request(e.to_string()))?;
        // nomad/job_endpoint.go `Scale`, after the count checks: a count
        // change waits until the live job's latest deployment is no
        // longer active.
        if deployment_active(app, &job) {
            return Err(HttpError::bad_request(
                "job scaling blocked due to active deployment",
            ));
        }
        let eval = (!scaled.is_parent()).then(|| pending_eval(&scaled, trigger::JOB_SCALING, now));
        event.eval_id = eval.as_ref().map(|e| e.id.clone());
        register = Some(JobRegister {
            job: scaled,
            eval,
            enforce_index: req.enforce_index.then_some(req.job_modify_index),
            now,
        });
    }
    let eval_id = event.eval_id.clone().unwrap_or_default();
    let scaled = register.is_some();
    let index = write(
        app,
        Command::ScalingEventRegister(ScalingEventRegister {
            namespace: ns,
            job_id: id.to_string(),
            task_group: group,
            event,
            register,
            now,
        }),
    )
    .await?;
    let resp = JobRegisterResponse {
        eval_create_index: if eval_id.is_empty() { 0 } else { index },
        eval_id,
        // Nomad answers the job's ModifyIndex when nothing was registered.
        job_modify_index: if scaled { index } else { job.modify_index },
        warnings: String::new(),
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}

/// Whether the job's latest deployment is active and belongs to this
/// incarnation of the job (not one purged before it was registered again).
fn deployment_active(app: &App, job: &Job) -> bool {
    let shared = app.raft.shared.read();
    let latest =
        shared
            .state
            .latest_deployment_by_job(&mut WatchSet::new(), &job.namespace, &job.id);
    latest.is_some_and(|d| d.active() && d.job_create_index == job.create_index)
}

/// `GET /v1/job/:id/submission?version=N`: the source submitted for that
/// version; 404 when none was kept.
pub async fn submission(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    let version = match q.get("version").map(str::parse::<u64>) {
        Some(Ok(v)) => v,
        _ => {
            return Err(HttpError::bad_request(
                "version: Unable to parse job submission version parameter",
            ))
        }
    };
    let (sub, meta) = blocking(app, &opts, |st, ws| {
        let sub = st.job_submission(ws, &ns, id, version).cloned();
        Ok((sub, st.index_of_set(ws)))
    })
    .await?;
    let sub = sub.ok_or_else(|| HttpError::not_found("job source not found"))?;
    Ok(json(&sub, &meta))
}
