//! `DELETE /v1/evaluations` (Nomad api-docs/evaluations.mdx, "Delete
//! Evaluations"; command/agent/eval_endpoint.go `evalsDeleteRequest`,
//! nomad/eval_endpoint.go `Eval.Delete`): an operator's way out of an
//! evaluation backlog. Only while the eval broker is paused through the
//! scheduler configuration (`PauseEvalBroker`), and only evaluations
//! whose removal cannot lose a reschedule (nomad/state/state_store.go
//! `EvalIsUserDeleteSafe`). By IDs, one unsafe or unknown ID refuses the
//! whole request; by filter, the unsafe ones are skipped. The deletion is
//! the garbage collector's `EvalDelete` command, without allocations.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use drover_api::{
    AllocClientStatus, Allocation, EvalDeleteRequest, EvalDeleteResponse, Evaluation, JobStatus,
    WriteMeta,
};
use drover_state::command::EvalDelete;
use drover_state::filter::Filter;
use drover_state::{Command, State as St, WatchSet};

use super::blocking::write_response;
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write};
use super::App;
use crate::jobs;

/// Nomad's `MaxUUIDsPerWriteRequest`.
const MAX_IDS: usize = 7281;

pub async fn delete(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    let req: EvalDeleteRequest =
        jobs::decode_json(&body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    let (by_filter, n) = (!req.filter.is_empty(), req.eval_ids.len());
    if by_filter && n > 0 {
        return Err(HttpError::bad_request(
            "evals cannot be deleted by both ID and filter",
        ));
    }
    if !by_filter && n == 0 {
        return Err(HttpError::bad_request(
            "evals must be deleted by either ID or filter",
        ));
    }
    if n > MAX_IDS {
        return Err(HttpError::bad_request(format!(
            "request includes {n} evaluation IDs, must be {MAX_IDS} or fewer"
        )));
    }
    let filter = by_filter
        .then(|| Filter::parse(&req.filter))
        .transpose()
        .map_err(|e| {
            HttpError::bad_request(format!("Filter: failed to read filter expression: {e}"))
        })?;
    let ids = {
        let shared = app.raft.shared.read();
        let st = &shared.state;
        let paused = st.scheduler_config().is_some_and(|c| c.pause_eval_broker);
        if !paused {
            return Err(HttpError::bad_request(
                "eval broker is enabled; eval broker must be paused to delete evals",
            ));
        }
        match &filter {
            Some(f) => by_filter_ids(st, f),
            None => by_ids(st, &req.eval_ids)?,
        }
    };
    let count = ids.len();
    let index = if ids.is_empty() {
        app.raft.shared.read().state.latest_index()
    } else {
        write(
            &app,
            Command::EvalDelete(EvalDelete {
                evals: ids,
                allocs: Vec::new(),
                user_initiated: true,
                now: now(),
            }),
        )
        .await?
    };
    let resp = EvalDeleteResponse {
        count,
        meta: WriteMeta { index },
    };
    Ok(write_response(&resp, index))
}

fn by_ids(st: &St, ids: &[String]) -> HttpResult<Vec<String>> {
    let mut ws = WatchSet::new();
    for id in ids {
        let Some(eval) = st.eval(&mut ws, id) else {
            return Err(HttpError::not_found("eval not found"));
        };
        if !user_delete_safe(st, eval) {
            return Err(HttpError::bad_request(format!(
                "eval {id} is not safe to delete"
            )));
        }
    }
    let mut ids = ids.to_vec();
    ids.sort();
    ids.dedup();
    Ok(ids)
}

/// Every evaluation the filter matches and that is safe to delete; one
/// the filter cannot be evaluated on is left alone, as in Nomad.
fn by_filter_ids(st: &St, filter: &Filter) -> Vec<String> {
    st.evals(&mut WatchSet::new(), None, false)
        .filter(|e| user_delete_safe(st, e) && filter.matches(*e).unwrap_or(false))
        .map(|e| e.id.clone())
        .collect()
}

/// nomad/state/state_store.go `isEvalDeleteSafe`: the job is gone,
/// stopped or dead; or none of the evaluation's allocations is (maybe)
/// running, nor a failed one whose reschedule still needs it.
fn user_delete_safe(st: &St, eval: &Evaluation) -> bool {
    let mut ws = WatchSet::new();
    let Some(job) = st
        .job(&mut ws, &eval.namespace, &eval.job_id)
        .filter(|j| !j.stop && j.status != JobStatus::Dead)
    else {
        return true;
    };
    st.allocs_by_eval(&mut ws, &eval.id).all(|row| {
        let a: &Allocation = &row.alloc;
        match a.client_status {
            AllocClientStatus::Running | AllocClientStatus::Unknown => return false,
            AllocClientStatus::Failed => {}
            _ => return true,
        }
        let Some(p) = job
            .task_group(&a.task_group)
            .and_then(|tg| tg.reschedule_policy.as_ref())
        else {
            return true;
        };
        if !p.unlimited && p.attempts == 0 {
            return true;
        }
        if a.next_allocation.is_empty() || p.unlimited {
            return false;
        }
        a.reschedule_tracker
            .as_ref()
            .is_some_and(|t| !t.events.is_empty())
    })
}
