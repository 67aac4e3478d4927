//! `/v1/nodes` and `/v1/node/{id}` (Nomad node_endpoint.go).

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{Allocation, Node, NodeListStub};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{Table, WatchKey};

use super::blocking::{blocking, json, read_one};
use super::error::HttpResult;
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// A node as served: never with its secret.
fn public(n: &Node) -> Node {
    let mut n = n.clone();
    n.secret_id.clear();
    n
}

/// `GET /v1/nodes`: stubs in ID order; `resources=true`, `os=true`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let (resources, os) = (q.flag("resources")?, q.flag("os")?);
    let start = start_key(&opts, TokenKind::Id)?;
    let ((stubs, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let it = st.nodes(ws, &opts.prefix, start.as_ref(), opts.page.reverse);
        let l = page(
            it,
            TokenKind::Id,
            &opts,
            |n: &Node| SortKey::Id(n.id.clone()),
            |n| n,
        )?;
        let stubs: Vec<NodeListStub> = l.items.iter().map(|n| n.stub(resources, os)).collect();
        Ok(((stubs, l.next_token), st.table_index(Table::Nodes)))
    })
    .await?;
    meta.next_token = next;
    Ok(json(&stubs, &meta))
}

pub async fn get_one(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "node not found", |st, ws| {
        let n = st.node(ws, &id).map(public);
        (n, st.index_of(&WatchKey::Node(id.clone())))
    })
    .await
}

/// `GET /v1/node/{id}/allocations`: full allocations, waking only when this
/// node's allocations change (Nomad wakes on any allocation, #5170).
pub async fn allocations(
    State(app): State<App>,
    Path(id): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (allocs, meta) = blocking(&app, &opts, |st, ws| {
        let allocs: Vec<Allocation> = st
            .allocs_by_node(ws, &id)
            .filter(|r| crate::acl::enforce::visible(&r.alloc.namespace))
            .map(|r| st.alloc_with_job(r))
            .collect();
        Ok((allocs, st.index_of(&WatchKey::NodeAllocs(id.clone()))))
    })
    .await?;
    Ok(json(&allocs, &meta))
}
