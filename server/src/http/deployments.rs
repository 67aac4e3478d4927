//! `/v1/deployments`, `/v1/deployment/...` and a job's deployments (Nomad
//! command/agent/deployment_endpoint.go, nomad/deployment_endpoint.go and
//! `Job.Deployments`/`Job.LatestDeployment` in nomad/job_endpoint.go).
//!
//! Reads report the deployment table's index, as Nomad's do (a single
//! deployment its `ModifyIndex`, its allocations the allocation table's),
//! but park only on what they read: one deployment, one job's deployments
//! or one deployment's allocations.
//!
//! Writes (`promote`, `fail`, `pause`, `allocation-health`) are what Nomad's
//! deployment watcher does for these RPCs (nomad/deploymentwatcher/
//! deployment_watcher.go): the handler checks the deployment is active
//! (Nomad's `can't ... terminal deployment` errors, nomad/structs/errors.go),
//! stamps the time and an evaluation that moves the job on (`TriggeredBy`
//! `deployment-watcher`), and, when a failure hits a group with
//! `auto_revert`, the latest stable job version to register again. The
//! state refuses what only it can check (unhealthy canaries, allocations
//! outside the deployment) with Nomad's state-store messages; every
//! refusal is a 400. Unlike Nomad, a body without `DeploymentID` takes the
//! path's (one that names another is still a 400).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{
    deployment_description, deployment_status, AllocListStub, Deployment,
    DeploymentAllocHealthRequest, DeploymentPauseRequest, DeploymentPromoteRequest,
    DeploymentStatusUpdate, DeploymentUpdateResponse, EvalStatus, Evaluation, Job,
};
use drover_state::command::{DeploymentAllocHealth, DeploymentPromote, DeploymentStatusSet};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{Command, Table, WatchKey, WatchSet};
use serde::de::DeserializeOwned;

use super::allocs::stub;
use super::blocking::{blocking, json, read_one, write_response};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, spec_changed, write};
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// `GET /v1/deployments`: ordered by (CreateIndex, ID), or by ID with
/// `prefix`, as `/v1/evaluations`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let by_prefix = !opts.prefix.is_empty();
    let kind = if by_prefix {
        TokenKind::Id
    } else {
        TokenKind::CreateIndexId
    };
    let start = start_key(&opts, kind)?;
    let ((deployments, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let it = if by_prefix {
            st.deployments_by_prefix(ws, &opts.prefix, start.as_ref(), opts.page.reverse)
        } else {
            st.deployments(ws, start.as_ref(), opts.page.reverse)
        };
        let it = it.filter(|d| opts.namespace.sel().matches(&d.namespace));
        let key = |d: &Deployment| match kind {
            TokenKind::Id => SortKey::Id(d.id.clone()),
            _ => SortKey::CreateIndexId(d.create_index, d.id.clone()),
        };
        let l = page(it, kind, &opts, key, |d| d)?;
        let ds: Vec<Deployment> = l.items.into_iter().cloned().collect();
        Ok(((ds, l.next_token), st.table_index(Table::Deployment)))
    })
    .await?;
    meta.next_token = next;
    Ok(json(&deployments, &meta))
}

/// `GET /v1/deployment/{id}`.
pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "deployment not found", |st, ws| {
        let d = st.deployment(ws, &id).cloned();
        (d, st.index_of(&WatchKey::Deployment(id.clone())))
    })
    .await
}

/// `GET /v1/deployment/allocations/{id}`: stubs of the allocations placed
/// by the deployment.
pub async fn allocations(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (stubs, meta) = blocking(&app, &opts, |st, ws| {
        let stubs: Vec<AllocListStub> = st
            .allocs_by_deployment(ws, &id)
            .map(|r| stub(st, r, false, true))
            .collect();
        Ok((stubs, st.index_of_set(ws)))
    })
    .await?;
    Ok(json(&stubs, &meta))
}

/// `GET /v1/job/{id}/deployments`: newest first; without `all=true` only
/// the deployments of the live job, not of an earlier incarnation purged
/// and registered again (Nomad `DeploymentsByJobID`).
pub async fn of_job(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let all = q.flag("all")?;
    let ns = opts.namespace.one().to_string();
    let (ds, meta) = blocking(app, &opts, |st, ws| {
        let current = st.job(ws, &ns, id).map(|j| j.create_index);
        let mut ds: Vec<Deployment> = st
            .deployments_by_job(ws, &ns, id)
            .filter(|d| all || current.is_none_or(|ci| d.job_create_index == ci))
            .cloned()
            .collect();
        ds.sort_by(|a, b| (b.create_index, &b.id).cmp(&(a.create_index, &a.id)));
        Ok((ds, st.table_index(Table::Deployment)))
    })
    .await?;
    Ok(json(&ds, &meta))
}

/// `GET /v1/job/{id}/deployment`: the newest deployment, `null` when the
/// job has none (Nomad answers 200 with a null body).
pub async fn latest_of_job(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(q)?;
    let ns = opts.namespace.one().to_string();
    let (d, meta) = blocking(app, &opts, |st, ws| {
        let d = st.latest_deployment_by_job(ws, &ns, id).cloned();
        Ok((d, st.table_index(Table::Deployment)))
    })
    .await?;
    Ok(json(&d, &meta))
}

/// `TriggeredBy` of the evaluations deployment changes create (Nomad
/// `EvalTriggerDeploymentWatcher`).
pub const DEPLOYMENT_WATCHER: &str = "deployment-watcher";

/// A request body; an empty one is the type's default.
fn decode<T: DeserializeOwned + Default>(body: &Bytes) -> HttpResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| HttpError::bad_request(format!("invalid body: {e}")))
}

fn check_id(in_body: &str, in_path: &str) -> HttpResult<()> {
    if !in_body.is_empty() && in_body != in_path {
        return Err(HttpError::bad_request("Deployment ID does not match"));
    }
    Ok(())
}

/// What a write reads first: the deployment, its job and the job's
/// stable versions (newest first), from one view of the state.
struct Found {
    deployment: Deployment,
    job: Job,
    stable: Option<Job>,
}

fn lookup(app: &App, id: &str) -> HttpResult<Found> {
    let applied = app.raft.shared.read();
    let st = &applied.state;
    let mut ws = WatchSet::new();
    let deployment = st
        .deployment(&mut ws, id)
        .cloned()
        .ok_or_else(|| HttpError::not_found("deployment not found"))?;
    let job = st
        .job(&mut ws, &deployment.namespace, &deployment.job_id)
        .cloned()
        .ok_or_else(|| HttpError::not_found("job not found"))?;
    let stable = st
        .job_versions(&mut ws, &deployment.namespace, &deployment.job_id)
        .into_iter()
        .find(|j| j.stable)
        .map(|j| Job::clone(&j));
    Ok(Found {
        deployment,
        job,
        stable,
    })
}

/// Nomad's watcher `getEval`: a pending eval of the deployment's job.
fn deployment_eval(f: &Found, now: i64) -> Evaluation {
    let priority = if f.deployment.eval_priority == 0 {
        f.job.priority
    } else {
        f.deployment.eval_priority
    };
    Evaluation {
        deployment_id: f.deployment.id.clone(),
        priority,
        status: EvalStatus::Pending,
        ..crate::evals::pending(&f.job, DEPLOYMENT_WATCHER, now)
    }
}

fn status_update(d: &Deployment, status: &str, description: String) -> DeploymentStatusUpdate {
    DeploymentStatusUpdate {
        deployment_id: d.id.clone(),
        status: status.to_string(),
        status_description: description,
    }
}

/// Nomad's `latestStableJob` and `handleRollbackValidity`: the job version
/// to register again when a failure hits an `auto_revert` group, and the
/// status description that says so.
fn rollback(f: &Found, base: &str) -> (Option<Job>, String) {
    match &f.stable {
        Some(stable) if spec_changed(&f.job, stable) => (
            Some(stable.clone()),
            format!("{base} - rolling back to job version {}", stable.version),
        ),
        Some(stable) => (
            None,
            format!(
                "{base} - not rolling back to stable job version {} as current job has same specification",
                stable.version
            ),
        ),
        None => (
            None,
            format!("{base} - no stable job version to auto revert to"),
        ),
    }
}

fn respond(eval: Option<&Evaluation>, reverted: Option<&Job>, index: u64) -> Response {
    let body = DeploymentUpdateResponse {
        eval_id: eval.map(|e| e.id.clone()).unwrap_or_default(),
        eval_create_index: if eval.is_some() { index } else { 0 },
        deployment_modify_index: index,
        reverted_job_version: reverted.map(|j| j.version),
        index,
    };
    write_response(&body, index)
}

/// `POST /v1/deployment/promote/{id}`: `{"All": true}` or `{"Groups": [..]}`.
pub async fn promote(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: DeploymentPromoteRequest = decode(&body)?;
    check_id(&req.deployment_id, &id)?;
    let f = lookup(&app, &id)?;
    let d = &f.deployment;
    if !d.active() {
        return Err(HttpError::bad_request("can't promote terminal deployment"));
    }
    if !req.all && req.groups.is_empty() {
        return Err(HttpError::bad_request(
            "Groups: name the task groups to promote, or set All",
        ));
    }
    if let Some(g) = req.groups.iter().find(|g| !d.task_groups.contains_key(*g)) {
        return Err(HttpError::bad_request(format!(
            "Groups: task group {g:?} is not part of deployment {id:?}"
        )));
    }
    let promoted = |tg: &str| req.all || req.groups.iter().any(|g| g == tg);
    if !d
        .task_groups
        .iter()
        .any(|(tg, s)| promoted(tg) && s.desired_canaries > 0)
    {
        return Err(HttpError::bad_request(
            "deployment has no canaries to promote",
        ));
    }
    let now = now();
    let eval = deployment_eval(&f, now);
    let cmd = Command::DeploymentPromote(DeploymentPromote {
        deployment_id: id,
        all: req.all,
        groups: req.groups,
        eval: Some(eval.clone()),
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(respond(Some(&eval), None, index))
}

/// `POST /v1/deployment/fail/{id}`: fail the deployment, reverting the job
/// when a group has `auto_revert`.
pub async fn fail(State(app): State<App>, Path(id): Path<String>) -> HttpResult<Response> {
    let f = lookup(&app, &id)?;
    if !f.deployment.active() {
        return Err(HttpError::bad_request("can't fail terminal deployment"));
    }
    let base = deployment_description::FAILED_BY_USER;
    let (job, desc) = if f.deployment.task_groups.values().any(|s| s.auto_revert) {
        rollback(&f, base)
    } else {
        (None, base.to_string())
    };
    let now = now();
    let eval = deployment_eval(&f, now);
    let cmd = Command::DeploymentStatusSet(DeploymentStatusSet {
        update: status_update(&f.deployment, deployment_status::FAILED, desc),
        job: job.clone(),
        eval: Some(eval.clone()),
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(respond(Some(&eval), job.as_ref(), index))
}

/// `POST /v1/deployment/pause/{id}`: `{"Pause": true}` pauses, `false`
/// resumes (with an eval, so placements go on).
pub async fn pause(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: DeploymentPauseRequest = decode(&body)?;
    check_id(&req.deployment_id, &id)?;
    let f = lookup(&app, &id)?;
    if !f.deployment.active() {
        return Err(HttpError::bad_request(if req.pause {
            "can't pause terminal deployment"
        } else {
            "can't resume terminal deployment"
        }));
    }
    let now = now();
    let (status, desc, eval) = if req.pause {
        (
            deployment_status::PAUSED,
            deployment_description::PAUSED,
            None,
        )
    } else {
        (
            deployment_status::RUNNING,
            deployment_description::RUNNING,
            Some(deployment_eval(&f, now)),
        )
    };
    let cmd = Command::DeploymentStatusSet(DeploymentStatusSet {
        update: status_update(&f.deployment, status, desc.to_string()),
        job: None,
        eval: eval.clone(),
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(respond(eval.as_ref(), None, index))
}

/// `POST /v1/deployment/allocation-health/{id}`: set allocations healthy or
/// unhealthy by hand (for `health_check = "manual"`); an unhealthy one
/// fails the deployment, reverting the job if its group has `auto_revert`.
pub async fn allocation_health(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: DeploymentAllocHealthRequest = decode(&body)?;
    check_id(&req.deployment_id, &id)?;
    if req.healthy_allocation_ids.is_empty() && req.unhealthy_allocation_ids.is_empty() {
        return Err(HttpError::bad_request(
            "must specify at least one healthy/unhealthy allocation ID",
        ));
    }
    let f = lookup(&app, &id)?;
    if !f.deployment.active() {
        return Err(HttpError::bad_request(
            "can't set health of allocations for a terminal deployment",
        ));
    }
    let (update, job) = if req.unhealthy_allocation_ids.is_empty() {
        (None, None)
    } else {
        let groups: Vec<String> = {
            let applied = app.raft.shared.read();
            let mut ws = WatchSet::new();
            req.unhealthy_allocation_ids
                .iter()
                .filter_map(|a| applied.state.alloc(&mut ws, a))
                .map(|r| r.alloc.task_group.clone())
                .collect()
        };
        let revert = groups.iter().any(|g| {
            f.deployment
                .task_groups
                .get(g)
                .is_some_and(|s| s.auto_revert)
        });
        let base = deployment_description::FAILED_ALLOCATIONS;
        let (job, desc) = if revert {
            let (job, desc) = rollback(&f, base);
            // Nomad names no missing target here, only a revert or a no-op.
            (
                job,
                if f.stable.is_some() {
                    desc
                } else {
                    base.to_string()
                },
            )
        } else {
            (None, base.to_string())
        };
        (
            Some(status_update(
                &f.deployment,
                deployment_status::FAILED,
                desc,
            )),
            job,
        )
    };
    let now = now();
    let eval = deployment_eval(&f, now);
    let cmd = Command::DeploymentAllocHealth(DeploymentAllocHealth {
        deployment_id: id,
        healthy: req.healthy_allocation_ids,
        unhealthy: req.unhealthy_allocation_ids,
        update,
        job: job.clone(),
        eval: Some(eval.clone()),
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(respond(Some(&eval), job.as_ref(), index))
}
