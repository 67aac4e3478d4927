//! `/v1/deployments`, `/v1/deployment/...` and a job's deployments (Nomad
//! command/agent/deployment_endpoint.go, nomad/deployment_endpoint.go and
//! `Job.Deployments`/`Job.LatestDeployment` in nomad/job_endpoint.go).
//!
//! Reads report the deployment table's index, as Nomad's do (a single
//! deployment its `ModifyIndex`, its allocations the allocation table's),
//! but park only on what they read: one deployment, one job's deployments
//! or one deployment's allocations.

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{AllocListStub, Deployment};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{Table, WatchKey};

use super::allocs::stub;
use super::blocking::{blocking, json, read_one};
use super::error::HttpResult;
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
