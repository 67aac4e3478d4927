//! `POST /v1/job/:id/dispatch` and `POST /v1/job/:id/periodic/force`
//! (Nomad nomad/job_endpoint.go `Dispatch` and `validateDispatchRequest`,
//! nomad/periodic_endpoint.go `Force`).
//!
//! A dispatch registers a child of a parameterized job, with its
//! evaluation, in one Raft entry. The payload is checked on its decoded
//! size (at most 16 KiB), then stored Snappy-compressed, as Nomad stores
//! it; the client decompresses it into the task's `dispatch_payload` file.
//! Every refusal is a 400 that names the field and writes nothing.

use axum::body::Bytes;
use axum::response::Response;
use base64::Engine;
use drover_api::{
    trigger, Job, JobDispatchRequest, JobDispatchResponse, PeriodicForceResponse, WriteMeta,
    DISPATCH_LAUNCH_SUFFIX, DISPATCH_PAYLOAD_FORBIDDEN, DISPATCH_PAYLOAD_REQUIRED,
    DISPATCH_PAYLOAD_SIZE_LIMIT,
};
use drover_state::command::JobRegister;
use drover_state::{Command, NamespaceSel, WatchSet};

use super::blocking::write_response;
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, pending_eval, write};
use super::query::RawQuery;
use super::App;
use crate::periodic;

fn namespace(q: &RawQuery) -> String {
    match q.get("namespace") {
        None | Some("") => "default".to_string(),
        Some(n) => n.to_string(),
    }
}

fn current_job(app: &App, ns: &str, id: &str) -> Option<Job> {
    app.raft
        .shared
        .read()
        .state
        .job(&mut WatchSet::new(), ns, id)
        .cloned()
}

/// `POST /v1/job/:id/dispatch`.
pub async fn dispatch(app: &App, q: &RawQuery, id: &str, body: &Bytes) -> HttpResult<Response> {
    super::job_writes::registrations_allowed(app)?;
    let req: JobDispatchRequest = if body.is_empty() {
        JobDispatchRequest::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| HttpError::bad_request(format!("invalid dispatch request: {e}")))?
    };
    let ns = namespace(q);
    let parent = current_job(app, &ns, id)
        .ok_or_else(|| HttpError::not_found("parameterized job not found"))?;
    let payload = check_request(&parent, &req)?;

    // Idempotency: a live child dispatched with the same token answers
    // again instead of dispatching twice (Nomad's `Dispatch`).
    if !req.idempotency_token.is_empty() {
        if let Some(existing) = existing_dispatch(app, &parent, &req.idempotency_token) {
            let resp = JobDispatchResponse {
                dispatched_job_id: existing.id.clone(),
                job_create_index: existing.create_index,
                meta: WriteMeta {
                    index: existing.modify_index,
                },
                ..Default::default()
            };
            return Ok(write_response(&resp, existing.modify_index));
        }
    }

    let now = now();
    let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let stored = if payload.is_empty() {
        None
    } else {
        let compressed = snap::raw::Encoder::new()
            .compress_vec(&payload)
            .map_err(|e| HttpError::internal(format!("compressing the payload: {e}")))?;
        Some(base64::engine::general_purpose::STANDARD.encode(compressed))
    };
    let mut child = periodic::derive_dispatch_child(
        &parent,
        now,
        &suffix,
        &req.meta,
        stored,
        &req.idempotency_token,
    );
    child.submit_time = now;
    let eval = pending_eval(&child, trigger::JOB_REGISTER, now);
    let eval_id = eval.id.clone();
    let child_id = child.id.clone();
    let index = write(
        app,
        Command::JobRegister(JobRegister {
            job: child,
            eval: Some(eval),
            enforce_index: Some(0),
            now,
        }),
    )
    .await?;
    let resp = JobDispatchResponse {
        dispatched_job_id: child_id,
        eval_id,
        eval_create_index: index,
        job_create_index: index,
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}

/// Nomad's `validateDispatchRequest`: the decoded payload when the request
/// fits the parent's `parameterized` block.
fn check_request(parent: &Job, req: &JobDispatchRequest) -> HttpResult<Vec<u8>> {
    let Some(cfg) = parent
        .parameterized_job
        .as_ref()
        .filter(|_| !parent.dispatched)
    else {
        return Err(HttpError::bad_request(format!(
            "Specified job {:?} is not a parameterized job (it has no ParameterizedJob)",
            parent.id
        )));
    };
    if parent.stop {
        return Err(HttpError::bad_request(format!(
            "Specified job {:?} is stopped",
            parent.id
        )));
    }
    let payload = match req.payload.as_deref() {
        None | Some("") => Vec::new(),
        Some(p) => base64::engine::general_purpose::STANDARD
            .decode(p)
            .map_err(|e| HttpError::bad_request(format!("Payload is not valid base64: {e}")))?,
    };
    if payload.len() > DISPATCH_PAYLOAD_SIZE_LIMIT {
        return Err(HttpError::bad_request(format!(
            "Payload exceeds maximum size; {} > {DISPATCH_PAYLOAD_SIZE_LIMIT}",
            payload.len()
        )));
    }
    match cfg.payload.as_str() {
        DISPATCH_PAYLOAD_FORBIDDEN if !payload.is_empty() => {
            return Err(HttpError::bad_request(
                "Payload is not allowed: the job's parameterized payload is \"forbidden\"",
            ))
        }
        DISPATCH_PAYLOAD_REQUIRED if payload.is_empty() => {
            return Err(HttpError::bad_request(
                "Payload is not provided: the job's parameterized payload is \"required\"",
            ))
        }
        _ => {}
    }
    let allowed = |k: &String| cfg.meta_required.contains(k) || cfg.meta_optional.contains(k);
    let unpermitted: Vec<&str> = req
        .meta
        .keys()
        .filter(|k| !allowed(k))
        .map(String::as_str)
        .collect();
    if !unpermitted.is_empty() {
        return Err(HttpError::bad_request(format!(
            "Dispatch request included unpermitted Meta keys: {unpermitted:?}"
        )));
    }
    let missing: Vec<&str> = cfg
        .meta_required
        .iter()
        .filter(|k| !req.meta.contains_key(*k))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        return Err(HttpError::bad_request(format!(
            "Dispatch did not provide required Meta keys: {missing:?}"
        )));
    }
    Ok(payload)
}

/// A child of `parent` dispatched with `token` that is not stopped.
fn existing_dispatch(app: &App, parent: &Job, token: &str) -> Option<Job> {
    let applied = app.raft.shared.read();
    let prefix = format!("{}{DISPATCH_LAUNCH_SUFFIX}", parent.id);
    let found = applied
        .state
        .jobs(
            &mut WatchSet::new(),
            NamespaceSel::One(&parent.namespace),
            &prefix,
            None,
            false,
        )
        .find(|j| j.parent_id == parent.id && j.dispatch_idempotency_token == token && !j.stop)
        .cloned();
    found
}

/// `POST /v1/job/:id/periodic/force`: launch the periodic job now, as its
/// schedule would (Nomad's `PeriodicDispatch.ForceRun`; overlap is not
/// checked, as in Nomad).
pub async fn periodic_force(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
    let ns = namespace(q);
    let parent = current_job(app, &ns, id).ok_or_else(|| HttpError::not_found("job not found"))?;
    if !parent.is_periodic_active() {
        return Err(HttpError::bad_request(format!(
            "can't force launch non-periodic job {:?} (it has no enabled Periodic)",
            parent.id
        )));
    }
    let now = now();
    let cmd = periodic::launch_command(&parent, now, now, true);
    let eval_id = match &cmd {
        Command::JobRegister(r) => r.eval.as_ref().map(|e| e.id.clone()).unwrap_or_default(),
        _ => String::new(),
    };
    let index = write(app, cmd).await?;
    let resp = PeriodicForceResponse {
        eval_id,
        eval_create_index: index,
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}
