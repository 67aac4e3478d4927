//! Writes to nodes and allocations, and forced evaluations (Nomad
//! node_endpoint.go `UpdateEligibility`, `UpdateDrain`, `Evaluate`,
//! `Deregister`; alloc_endpoint.go
//! `Stop`; job_endpoint.go `Evaluate`). Each writes its change and the
//! evaluations that act on it in one Raft entry; the scheduler
//! processes them.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{
    trigger, AllocStopResponse, DesiredTransition, DrainStrategy, Evaluation, Job,
    JobRegisterResponse, NodeEvent, NodeUpdateDrainRequest, NodeUpdateEligibilityRequest,
    NodeUpdateResponse, SchedulingEligibility, WriteMeta,
};
use drover_state::command::{
    AllocUpdateDesiredTransition, EvalUpdate, NodeDeregister, NodeUpdateDrain,
    NodeUpdateEligibility,
};
use drover_state::{Command, WatchSet};

use super::blocking::write_response;
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, pending_eval, write};
use super::query::RawQuery;
use super::App;
use crate::evals::node_evals;
use crate::jobs;

fn eval_for(job: &Job, triggered_by: &str, node_id: &str, now: i64) -> Evaluation {
    Evaluation {
        node_id: node_id.to_string(),
        ..pending_eval(job, triggered_by, now)
    }
}

fn node_event(message: &str, now: i64) -> NodeEvent {
    NodeEvent {
        message: message.into(),
        subsystem: "Drain".into(),
        timestamp: Some(now),
        ..Default::default()
    }
}

fn node_response(index: u64, evals: &[Evaluation]) -> Response {
    let body = NodeUpdateResponse {
        node_modify_index: index,
        eval_ids: evals.iter().map(|e| e.id.clone()).collect(),
        eval_create_index: if evals.is_empty() { 0 } else { index },
        meta: WriteMeta { index },
        ..Default::default()
    };
    write_response(&body, index)
}

fn existing_node(app: &App, id: &str) -> HttpResult<()> {
    match app.raft.shared.read().state.node(&mut WatchSet::new(), id) {
        Some(_) => Ok(()),
        None => Err(HttpError::not_found("node not found")),
    }
}

/// `POST /v1/node/{id}/eligibility`. Marking a node eligible creates evals
/// so waiting work can land on it.
pub async fn eligibility(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: NodeUpdateEligibilityRequest =
        jobs::decode_json(&body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    if !req.node_id.is_empty() && req.node_id != id {
        return Err(HttpError::bad_request("NodeID: does not match URL"));
    }
    existing_node(&app, &id)?;
    let now = now();
    let evals = match req.eligibility {
        SchedulingEligibility::Eligible => node_evals(&app.raft.shared.read().state, &id, now),
        SchedulingEligibility::Ineligible => Vec::new(),
    };
    let message = match req.eligibility {
        SchedulingEligibility::Eligible => "Node marked as eligible for scheduling",
        SchedulingEligibility::Ineligible => "Node marked as ineligible for scheduling",
    };
    let cmd = Command::NodeUpdateEligibility(NodeUpdateEligibility {
        node_id: id,
        eligibility: req.eligibility,
        event: Some(node_event(message, now)),
        evals: evals.clone(),
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(node_response(index, &evals))
}

/// `POST /v1/node/{id}/purge` (Nomad api-docs/nodes.mdx, "Purge Node";
/// nomad/node_endpoint.go `Node.Deregister`): the node is removed, then,
/// as Nomad does after its deregister, a `node-update` evaluation is
/// written for each job with allocations on it and each system and
/// sysbatch job. `NodeModifyIndex` and `Index` are the removal's index,
/// `EvalCreateIndex` the evaluations'.
pub async fn purge_node(State(app): State<App>, Path(id): Path<String>) -> HttpResult<Response> {
    existing_node(&app, &id)?;
    let now = now();
    let evals = node_evals(&app.raft.shared.read().state, &id, now);
    let index = write(
        &app,
        Command::NodeDeregister(NodeDeregister {
            node_ids: vec![id],
            now,
        }),
    )
    .await?;
    let eval_create_index = if evals.is_empty() {
        0
    } else {
        write(
            &app,
            Command::EvalUpdate(EvalUpdate {
                evals: evals.clone(),
                now,
            }),
        )
        .await?
    };
    let body = NodeUpdateResponse {
        node_modify_index: index,
        eval_ids: evals.iter().map(|e| e.id.clone()).collect(),
        eval_create_index,
        meta: WriteMeta { index },
        ..Default::default()
    };
    Ok(write_response(&body, index))
}

/// `POST /v1/node/{id}/evaluate` (Nomad api-docs/nodes.mdx, "Create Node
/// Evaluation"; nomad/node_endpoint.go `Node.Evaluate`): an evaluation,
/// triggered by `node-update`, for each job with allocations on the node and
/// each system and sysbatch job. The node itself is not written, so
/// `NodeModifyIndex` is 0 as in Nomad; with no job to evaluate nothing is
/// written and `EvalCreateIndex` is 0 too.
pub async fn evaluate_node(State(app): State<App>, Path(id): Path<String>) -> HttpResult<Response> {
    existing_node(&app, &id)?;
    let now = now();
    let (evals, latest) = {
        let shared = app.raft.shared.read();
        (
            node_evals(&shared.state, &id, now),
            shared.state.latest_index(),
        )
    };
    let index = if evals.is_empty() {
        latest
    } else {
        write(
            &app,
            Command::EvalUpdate(EvalUpdate {
                evals: evals.clone(),
                now,
            }),
        )
        .await?
    };
    let body = NodeUpdateResponse {
        eval_ids: evals.iter().map(|e| e.id.clone()).collect(),
        eval_create_index: if evals.is_empty() { 0 } else { index },
        meta: WriteMeta { index },
        ..Default::default()
    };
    Ok(write_response(&body, index))
}

/// `POST /v1/node/{id}/drain`: a `DrainSpec` starts a drain (the node turns
/// ineligible and its allocations are re-evaluated); none cancels it.
pub async fn drain(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: NodeUpdateDrainRequest =
        jobs::decode_json(&body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    if !req.node_id.is_empty() && req.node_id != id {
        return Err(HttpError::bad_request("NodeID: does not match URL"));
    }
    existing_node(&app, &id)?;
    let now = now();
    let (strategy, message) = match &req.drain_spec {
        Some(spec) => {
            if spec.deadline < 0 {
                return Err(HttpError::bad_request(
                    "DrainSpec.Deadline: must be >= 0 (0 means no deadline)",
                ));
            }
            let force = (spec.deadline > 0).then(|| now.saturating_add(spec.deadline));
            let s = DrainStrategy {
                deadline: spec.deadline,
                ignore_system_jobs: spec.ignore_system_jobs,
                force_deadline: force,
                started_at: Some(now),
            };
            (Some(s), "Node drain strategy set")
        }
        None => (None, "Node drain strategy cancelled"),
    };
    let evals = if strategy.is_some() || req.mark_eligible {
        node_evals(&app.raft.shared.read().state, &id, now)
    } else {
        Vec::new()
    };
    let cmd = Command::NodeUpdateDrain(NodeUpdateDrain {
        node_id: id,
        drain_strategy: strategy,
        mark_eligible: req.mark_eligible,
        event: Some(node_event(message, now)),
        meta: req.meta,
        evals: evals.clone(),
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(node_response(index, &evals))
}

/// `POST /v1/allocation/{id}/stop`: mark the allocation to migrate and write
/// an eval that replaces it (Nomad alloc_endpoint.go `Stop`).
pub async fn stop_alloc(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let no_shutdown_delay = q.flag("no_shutdown_delay")?;
    let reschedule = q.flag("reschedule")?;
    let now = now();
    let eval = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        let mut ws = WatchSet::new();
        let row = st
            .alloc(&mut ws, &id)
            .ok_or_else(|| HttpError::not_found("alloc not found"))?;
        let job = st
            .alloc_job(row)
            .map(|j| Job::clone(j))
            .ok_or_else(|| HttpError::not_found("job not found"))?;
        eval_for(&job, trigger::ALLOC_STOP, "", now)
    };
    let transition = DesiredTransition {
        migrate: Some(true),
        no_shutdown_delay: Some(no_shutdown_delay),
        reschedule: reschedule.then_some(true),
        ..Default::default()
    };
    let eval_id = eval.id.clone();
    let cmd = Command::AllocUpdateDesiredTransition(AllocUpdateDesiredTransition {
        transitions: BTreeMap::from([(id, transition)]),
        evals: vec![eval],
        now,
    });
    let index = write(&app, cmd).await?;
    Ok(write_response(
        &AllocStopResponse {
            eval_id,
            meta: WriteMeta { index },
        },
        index,
    ))
}

/// `PUT /v1/job/{id}/evaluate`: a new eval for the job as it stands.
pub async fn evaluate(app: &App, q: &RawQuery, id: &str) -> HttpResult<Response> {
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
    if job.is_parent() {
        return Err(HttpError::bad_request(
            "can't evaluate periodic or parameterized job",
        ));
    }
    let now = now();
    let mut eval = eval_for(&job, trigger::JOB_REGISTER, "", now);
    eval.job_modify_index = job.job_modify_index;
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
        job_modify_index: job.job_modify_index,
        warnings: String::new(),
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}
