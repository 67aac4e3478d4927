//! `/v1/evaluations` and `/v1/evaluation/{id}` (Nomad eval_endpoint.go).

use std::collections::{BTreeSet, VecDeque};

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{AllocListStub, EvalStatus, Evaluation};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{State as St, Table, WatchKey, WatchSet};

use super::allocs::stub;
use super::blocking::{blocking, json, read_one};
use super::error::{HttpError, HttpResult};
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;

fn parse_status(s: &str) -> HttpResult<EvalStatus> {
    serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
        HttpError::bad_request(format!(
            "Invalid status: {s:?} (expected blocked, pending, complete, failed or canceled)"
        ))
    })
}

/// `GET /v1/evaluations`, with Nomad's legacy `status=` and `job=` filters,
/// which cannot be combined with `filter=`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let status = q
        .get("status")
        .filter(|s| !s.is_empty())
        .map(parse_status)
        .transpose()?;
    let job = q.get("job").filter(|s| !s.is_empty()).map(str::to_string);
    if opts.filter.is_some() && (status.is_some() || job.is_some()) {
        return Err(HttpError::bad_request(
            "cannot use filter and status or job parameters together",
        ));
    }
    let by_prefix = !opts.prefix.is_empty();
    let kind = if by_prefix {
        TokenKind::Id
    } else {
        TokenKind::CreateIndexId
    };
    let start = start_key(&opts, kind)?;
    let ((evals, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let it = if by_prefix {
            st.evals_by_prefix(ws, &opts.prefix, start.as_ref(), opts.page.reverse)
        } else {
            st.evals(ws, start.as_ref(), opts.page.reverse)
        };
        let it = it.filter(|e| {
            opts.namespace.sel().matches(&e.namespace)
                && status.is_none_or(|s| e.status == s)
                && job.as_deref().is_none_or(|j| e.job_id == j)
        });
        let key = |e: &Evaluation| match kind {
            TokenKind::Id => SortKey::Id(e.id.clone()),
            _ => SortKey::CreateIndexId(e.create_index, e.id.clone()),
        };
        let l = page(it, kind, &opts, key, |e| e)?;
        let evals: Vec<Evaluation> = l.items.into_iter().cloned().collect();
        Ok(((evals, l.next_token), st.table_index(Table::Evals)))
    })
    .await?;
    meta.next_token = next;
    Ok(json(&evals, &meta))
}

/// `GET /v1/evaluation/{id}`, with `related=true` filling `RelatedEvals`
/// (Nomad api-docs/evaluations.mdx, "Read Evaluation"). The index stays
/// the evaluation's own, as in Nomad's `Eval.GetEval`.
pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    // Nomad turns this on only for the exact string "true".
    let related = q.get("related") == Some("true");
    read_one(&app, &opts, "eval not found", |st, ws| {
        let e = st.eval(ws, &id).cloned().map(|mut e| {
            if related {
                e.related_evals = Some(related_evals(st, ws, &e));
            }
            e
        });
        (e, st.index_of(&WatchKey::Eval(id.clone())))
    })
    .await
}

/// Every evaluation reachable from `eval` by following `NextEval`,
/// `PreviousEval` and `BlockedEval`, breadth first, each once and never
/// `eval` itself, as stubs (Nomad nomad/state/state_store.go
/// `EvalsRelatedToID`). Each one read is watched, so a blocking read wakes
/// when one of them changes.
fn related_evals(st: &St, ws: &mut WatchSet, eval: &Evaluation) -> Vec<serde_json::Value> {
    let links = |e: &Evaluation| {
        [
            e.next_eval.clone(),
            e.previous_eval.clone(),
            e.blocked_eval.clone(),
        ]
    };
    let mut done = BTreeSet::from([eval.id.clone()]);
    let mut todo: VecDeque<String> = links(eval).into();
    let mut out = Vec::new();
    while let Some(id) = todo.pop_front() {
        if id.is_empty() || !done.insert(id.clone()) {
            continue;
        }
        let Some(e) = st.eval(ws, &id) else { continue };
        todo.extend(links(e));
        out.push(eval_stub(e));
    }
    out
}

/// Nomad's `EvaluationStub` (nomad/structs/eval.go): the evaluation's
/// fields without its metrics, queued counts and plan details.
fn eval_stub(e: &Evaluation) -> serde_json::Value {
    const FIELDS: [&str; 18] = [
        "ID",
        "Namespace",
        "Priority",
        "Type",
        "TriggeredBy",
        "JobID",
        "NodeID",
        "DeploymentID",
        "Status",
        "StatusDescription",
        "WaitUntil",
        "NextEval",
        "PreviousEval",
        "BlockedEval",
        "CreateIndex",
        "ModifyIndex",
        "CreateTime",
        "ModifyTime",
    ];
    let full = serde_json::to_value(e).unwrap_or_default();
    FIELDS
        .iter()
        .map(|f| (f.to_string(), full.get(*f).cloned().unwrap_or_default()))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub async fn allocations(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (stubs, meta) = blocking(&app, &opts, |st, ws| {
        let stubs: Vec<AllocListStub> = st
            .allocs_by_eval(ws, &id)
            .map(|r| stub(st, r, false, true))
            .collect();
        Ok((stubs, st.index_of_set(ws)))
    })
    .await?;
    Ok(json(&stubs, &meta))
}

/// Nomad's `EvalCountResponse`: the count with the query's meta embedded.
#[derive(serde::Serialize)]
struct EvalCount {
    #[serde(rename = "Count")]
    count: usize,
    #[serde(flatten)]
    meta: drover_api::QueryMetaBody,
}

/// `GET /v1/evaluations/count`: how many evaluations `prefix`, `namespace`
/// and `filter` select, at the evaluations table's index; a blocking query
/// (Nomad api-docs/evaluations.mdx, "Count Evaluations"; nomad/eval_endpoint.go
/// `Eval.Count`). A filter that cannot be evaluated against an evaluation is
/// a 400, as it is for the list, where Nomad leaves that evaluation out.
pub async fn count(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (count, meta) = blocking(&app, &opts, |st, ws| {
        let it = if opts.prefix.is_empty() {
            st.evals(ws, None, false)
        } else {
            st.evals_by_prefix(ws, &opts.prefix, None, false)
        };
        let mut count = 0;
        for e in it.filter(|e| opts.namespace.sel().matches(&e.namespace)) {
            let keep = opts.filter.as_ref().map_or(Ok(true), |f| f.matches(e));
            if keep.map_err(|e| HttpError::bad_request(format!("failed to read filter: {e}")))? {
                count += 1;
            }
        }
        Ok((count, st.table_index(Table::Evals)))
    })
    .await?;
    let body = EvalCount {
        count,
        meta: meta.body(),
    };
    Ok(json(&body, &meta))
}
