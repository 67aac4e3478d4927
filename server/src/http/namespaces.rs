//! `/v1/namespaces` and `/v1/namespace/{name}` (Nomad
//! command/agent/namespace_endpoint.go, nomad/namespace_endpoint.go,
//! website/content/api-docs/namespaces.mdx).
//!
//! Namespaces are replicated through Raft
//! ([`drover_state::command::NamespaceUpsert`] and `NamespaceDelete`);
//! `default` always exists and cannot be deleted. A delete is refused
//! here first, with the messages of Nomad's endpoint, while the namespace
//! holds a job that is not dead or an allocation that is not terminal;
//! apply checks the jobs again, so a job registered in between is not
//! orphaned.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use drover_api::{JobStatus, Namespace};
use drover_state::command::{NamespaceDelete, NamespaceUpsert};
use drover_state::namespaces::{is_default, problems};
use drover_state::{Command, NamespaceSel, State as St, Table, WatchSet};

use super::blocking::{blocking, json, read_one, write_response};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// Every namespace whose name starts with `prefix`, in name order, and the
/// index the namespaces table reports, at least 1 (Nomad floors it there:
/// `default` is created at index 1).
pub(super) fn namespaces(st: &St, prefix: &str) -> (Vec<Namespace>, u64) {
    let all = st
        .namespaces(&mut WatchSet::new(), prefix)
        .cloned()
        .collect();
    (all, st.table_index(Table::Namespaces).max(1))
}

/// `GET /v1/namespaces`, with `prefix`; blocking on the namespaces
/// table. Nomad's `ListNamespaces` neither pages nor filters, so
/// `per_page` and `filter` are ignored here too.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (list, meta) = blocking(&app, &opts, |st, ws| {
        // With ACLs on, only the namespaces the token may use (Nomad's
        // `Namespace.ListNamespaces` checks `AllowNamespace` on each).
        let list: Vec<Namespace> = st
            .namespaces(ws, &opts.prefix)
            .filter(|n| crate::acl::enforce::caller_allows(|acl| acl.allow_namespace(&n.name)))
            .cloned()
            .collect();
        Ok((list, st.table_index(Table::Namespaces).max(1)))
    })
    .await?;
    Ok(json(&list, &meta))
}

/// `GET /v1/namespace/{name}`: the namespace, reporting its
/// `ModifyIndex`, or 404 `Namespace not found` (then the table's index).
pub async fn get_one(
    State(app): State<App>,
    Path(name): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "Namespace not found", |st, ws| {
        let ns = st.namespace(ws, &name).cloned();
        let index = ns.as_ref().map_or(st.table_index(Table::Namespaces), |n| {
            n.modify_index.max(st.restored_at())
        });
        (ns, index.max(1))
    })
    .await
}

/// `GET /v1/namespace/`: Nomad's answer to a request without a name.
pub async fn missing_name() -> HttpError {
    HttpError::bad_request("Missing Namespace Name")
}

/// `PUT`/`POST /v1/namespace`: create or replace the namespace the body
/// names.
pub async fn create(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    upsert(&app, None, &body).await
}

/// `PUT`/`POST /v1/namespace/{name}`: the same, with the name in the path,
/// which the body's `Name` must match.
pub async fn update(
    State(app): State<App>,
    Path(name): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    upsert(&app, Some(&name), &body).await
}

async fn upsert(app: &App, path_name: Option<&str>, body: &Bytes) -> HttpResult<Response> {
    if body.is_empty() {
        return Err(HttpError::bad_request("Request body is empty"));
    }
    let mut ns: Namespace =
        crate::jobs::decode_json(body).map_err(|e| HttpError::bad_request(e.to_string()))?;
    if path_name.is_some_and(|p| p != ns.name) {
        return Err(HttpError::bad_request(
            "Namespace name does not match request path",
        ));
    }
    let problems = problems(&ns);
    if !problems.is_empty() {
        return Err(HttpError::bad_request(format!(
            "Invalid namespace {:?}: {}",
            ns.name,
            problems.join("; ")
        )));
    }
    (ns.create_index, ns.modify_index) = (0, 0);
    let index = write(
        app,
        Command::NamespaceUpsert(NamespaceUpsert {
            namespaces: vec![ns],
            now: now(),
        }),
    )
    .await?;
    Ok(write_response(&(), index))
}

/// `DELETE /v1/namespace/{name}`.
pub async fn delete(State(app): State<App>, Path(name): Path<String>) -> HttpResult<Response> {
    if is_default(&name) {
        return Err(HttpError::bad_request("can not delete default namespace"));
    }
    let refusals = {
        let shared = app.raft.shared.read();
        let st = &shared.state;
        if !st.namespace_exists(&name) {
            return Err(HttpError::not_found("namespace not found"));
        }
        refusals(st, &name, &app.info.region)
    };
    if !refusals.is_empty() {
        return Err(HttpError::new(StatusCode::BAD_REQUEST, refusals.join("; ")));
    }
    let index = write(
        &app,
        Command::NamespaceDelete(NamespaceDelete {
            names: vec![name],
            now: now(),
        }),
    )
    .await?;
    Ok(write_response(&(), index))
}

/// Why namespace `name` cannot be deleted yet, in the words of Nomad's
/// `DeleteNamespaces` (nomad/namespace_endpoint.go), which names the
/// regions that still hold something; this cluster is one region.
fn refusals(st: &St, name: &str, region: &str) -> Vec<String> {
    let ws = &mut WatchSet::new();
    let mut out = Vec::new();
    let live_job = st
        .jobs(ws, NamespaceSel::One(name), "", None, false)
        .any(|j| j.status != JobStatus::Dead);
    if live_job {
        out.push(format!(
            "namespace {name:?} has non-terminal jobs in regions: [{region}]"
        ));
    }
    let live_alloc = st
        .allocs(ws, None, false)
        .any(|r| r.alloc.namespace == name && !r.alloc.client_status.is_terminal());
    if live_alloc {
        out.push(format!(
            "namespace {name:?} has non-terminal allocations in regions: [{region}]"
        ));
    }
    out
}
