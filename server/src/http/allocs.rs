//! `/v1/allocations`, `/v1/allocation/{id}` and its `services` and
//! `checks` (Nomad alloc_endpoint.go).

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{AllocListStub, Allocation};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{AllocRow, State as St, Table, WatchKey};

use super::blocking::{blocking, json, read_one};
use super::error::HttpResult;
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// The list stub Nomad serves, with the job's type and version filled in
/// from the stored job version the allocation runs.
pub fn stub(st: &St, row: &AllocRow, resources: bool, task_states: bool) -> AllocListStub {
    let mut s = row.alloc.stub(resources, task_states);
    s.job_version = row.job_version;
    if let Some(job) = st.alloc_job(row) {
        s.job_type = job.job_type;
    }
    s
}

/// Whether a filter may look into the allocation's `Job`: attaching the job
/// to every allocation costs a copy each, so only filters that name it pay.
fn filter_needs_job(opts: &QueryOptions) -> bool {
    opts.filter
        .as_ref()
        .is_some_and(|f| f.source().contains("Job"))
}

/// `GET /v1/allocations`: ordered by (CreateIndex, ID), or by ID with `prefix`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let resources = q.flag("resources")?;
    // Nomad includes task states unless `task_states=false`.
    let task_states = q.get("task_states") != Some("false");
    let by_prefix = !opts.prefix.is_empty();
    let kind = if by_prefix {
        TokenKind::Id
    } else {
        TokenKind::CreateIndexId
    };
    let start = start_key(&opts, kind)?;
    let with_job = filter_needs_job(&opts);
    let ((stubs, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let rows = if by_prefix {
            st.allocs_by_prefix(ws, &opts.prefix, start.as_ref(), opts.page.reverse)
        } else {
            st.allocs(ws, start.as_ref(), opts.page.reverse)
        };
        let rows = rows.filter(|r| opts.namespace.sel().matches(&r.alloc.namespace));
        let key = |r: &AllocRow| match kind {
            TokenKind::Id => SortKey::Id(r.alloc.id.clone()),
            _ => SortKey::CreateIndexId(r.alloc.create_index, r.alloc.id.clone()),
        };
        let listed = if with_job {
            // The filter sees the allocation with its job, as Nomad's does.
            let full: Vec<(AllocRow, Allocation)> =
                rows.map(|r| (r.clone(), st.alloc_with_job(r))).collect();
            let l = page(full.iter(), kind, &opts, |(r, _)| key(r), |(_, a)| a)?;
            let stubs: Vec<AllocListStub> = l
                .items
                .iter()
                .map(|(r, _)| stub(st, r, resources, task_states))
                .collect();
            (stubs, l.next_token)
        } else {
            let l = page(rows, kind, &opts, key, |r| &r.alloc)?;
            (
                l.items
                    .iter()
                    .map(|r| stub(st, r, resources, task_states))
                    .collect(),
                l.next_token,
            )
        };
        Ok((listed, st.table_index(Table::Allocs)))
    })
    .await?;
    meta.next_token = next;
    Ok(json(&stubs, &meta))
}

/// `GET /v1/allocation/{id}`: the full allocation with its job.
pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "alloc not found", |st, ws| {
        let a = st.alloc(ws, &id).map(|r| st.alloc_with_job(r));
        (a, st.index_of(&WatchKey::Alloc(id.clone())))
    })
    .await
}

/// `GET /v1/allocation/{id}/services` (Nomad api-docs/allocations.mdx,
/// "Allocation Services"; nomad/alloc_endpoint.go
/// `GetServiceRegistrations`): the allocation's service registrations.
/// Drover registers no services (a job's `service` blocks are not kept), so
/// the list is empty for every allocation of the request's namespace;
/// one that does not exist there is a 404 `alloc not found`, as in Nomad.
/// A blocking query at the allocation's index.
pub async fn services(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let ns = opts.namespace.one().to_string();
    read_one(&app, &opts, "alloc not found", |st, ws| {
        let found = st.alloc(ws, &id).is_some_and(|r| r.alloc.namespace == ns);
        let services: Option<Vec<serde_json::Value>> = found.then(Vec::new);
        (services, st.index_of(&WatchKey::Alloc(id.clone())))
    })
    .await
}

/// `GET /v1/allocation/{id}/checks` (Nomad api-docs/allocations.mdx,
/// "Allocation Checks"): the latest result of each of the allocation's
/// Nomad service checks, by check ID. Drover runs no service checks, so
/// the map is empty for every allocation; the servers answer without
/// asking the node (Nomad asks it, and answers 404 when the node cannot be
/// reached). An unknown allocation is a 404, with Nomad's message.
pub async fn checks(State(app): State<App>, Path(id): Path<String>) -> HttpResult<Response> {
    let exists = app
        .raft
        .shared
        .read()
        .state
        .alloc(&mut drover_state::WatchSet::new(), &id)
        .is_some();
    if !exists {
        return Err(super::error::HttpError::not_found(format!(
            "Unknown allocation {id:?}"
        )));
    }
    let results = serde_json::Map::new();
    Ok(json(&results, &super::blocking::QueryMeta::latest(&app)))
}
