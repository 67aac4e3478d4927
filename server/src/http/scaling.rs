//! `GET /v1/scaling/policies` and `GET /v1/scaling/policy/:id` (Nomad
//! command/agent/scaling_endpoint.go, nomad/scaling_endpoint.go).
//!
//! A policy is a task group's `scaling` block as its job's current version
//! holds it, so the policies are read off the jobs rather than kept in a
//! table of their own: they change exactly when a job is registered, and
//! their reads report and wait on the jobs table's index.

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{ScalingPolicy, ScalingPolicyListStub};
use drover_state::{NamespaceSel, Table, WatchSet};

use super::blocking::{blocking, json};
use super::error::{HttpError, HttpResult};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// Every policy of the jobs `sel` names, sorted by ID.
fn policies(
    st: &drover_state::State,
    ws: &mut WatchSet,
    sel: NamespaceSel<'_>,
) -> Vec<ScalingPolicy> {
    let mut out: Vec<ScalingPolicy> = st
        .jobs(ws, sel, "", None, false)
        .flat_map(|j| &j.task_groups)
        .filter_map(|tg| tg.scaling.clone())
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// `GET /v1/scaling/policies?job=&type=`: the stubs, optionally only one
/// job's or those whose type starts with `type`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let job = q.get("job").unwrap_or_default().to_string();
    let kind = q.get("type").unwrap_or_default().to_string();
    let (stubs, meta) = blocking(&app, &opts, |st, ws| {
        let stubs: Vec<ScalingPolicyListStub> = policies(st, ws, opts.namespace.sel())
            .into_iter()
            .filter(|p| job.is_empty() || p.target.get("Job") == Some(&job))
            .filter(|p| p.policy_type.starts_with(&kind))
            .map(|p| ScalingPolicyListStub {
                id: p.id,
                enabled: p.enabled.unwrap_or(true),
                policy_type: p.policy_type,
                target: p.target,
                create_index: p.create_index,
                modify_index: p.modify_index,
            })
            .collect();
        Ok((stubs, st.table_index(Table::Jobs)))
    })
    .await?;
    Ok(json(&stubs, &meta))
}

/// `GET /v1/scaling/policy/:id`.
pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let (policy, meta) = blocking(&app, &opts, |st, ws| {
        let policy = policies(st, ws, NamespaceSel::All)
            .into_iter()
            .find(|p| p.id == id);
        Ok((policy, st.table_index(Table::Jobs)))
    })
    .await?;
    let policy = policy.ok_or_else(|| HttpError::not_found("policy not found"))?;
    Ok(json(&policy, &meta))
}
