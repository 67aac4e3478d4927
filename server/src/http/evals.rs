//! `/v1/evaluations` and `/v1/evaluation/{id}` (Nomad eval_endpoint.go).

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{AllocListStub, EvalStatus, Evaluation};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{Table, WatchKey};

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

pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "eval not found", |st, ws| {
        let e = st.eval(ws, &id).cloned();
        (e, st.index_of(&WatchKey::Eval(id.clone())))
    })
    .await
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
