//! `/v1/node/pools`, `/v1/node/pool/{name}`, `/v1/node/pool/{name}/nodes`
//! and `/v1/node/pool/{name}/jobs` (Nomad command/agent/node_pool_endpoint.go, nomad/node_pool_endpoint.go).
//!
//! Drover has no node pool table: nodes carry their pool's name, and the
//! pools are read off the nodes. `all` and `default` always exist, created
//! at index 1 as Nomad's state store creates them (`nodePoolInit`, in
//! nomad/state/state_store_node_pools.go). Any other pool exists while a
//! node names it, created at the lowest `CreateIndex` of those nodes: Nomad
//! creates such a pool when the first node naming it registers
//! (`fetchOrCreateNodePoolTxn`), so the two agree except that Nomad keeps a
//! pool after its last node is gone. Pools cannot be written yet, so every
//! pool's `Description`, `Meta` and `SchedulerConfiguration` is Nomad's
//! default.

use std::collections::BTreeMap;

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{
    Node, NodeListStub, NodePool, NODE_POOL_ALL, NODE_POOL_ALL_DESCRIPTION, NODE_POOL_DEFAULT,
    NODE_POOL_DEFAULT_DESCRIPTION,
};
use drover_state::pagination::{SortKey, TokenKind};
use drover_state::{State as St, Table, WatchSet};

use super::blocking::{blocking, json, read_one};
use super::error::{HttpError, HttpResult};
use super::list::{page, start_key};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// The index at which Nomad's state store creates the built-in pools.
const BUILT_IN_INDEX: u64 = 1;

/// Every pool in name order, and the index a list of them reports: the
/// newest `CreateIndex` (a pool appearing is the only change a list sees).
/// Reads every node, so the read wakes on any node change; the blocking
/// loop answers only once that index moves.
pub(super) fn pools(st: &St, ws: &mut WatchSet) -> (Vec<NodePool>, u64) {
    let mut created: BTreeMap<&str, u64> = BTreeMap::new();
    for n in st.nodes(ws, "", None, false) {
        if n.node_pool.is_empty() || NodePool::is_built_in(&n.node_pool) {
            continue;
        }
        let at = created.entry(&n.node_pool).or_insert(n.create_index);
        *at = (*at).min(n.create_index);
    }
    let mut pools: BTreeMap<&str, NodePool> = created
        .into_iter()
        .map(|(name, index)| (name, NodePool::named(name, "", index)))
        .collect();
    for (name, description) in [
        (NODE_POOL_ALL, NODE_POOL_ALL_DESCRIPTION),
        (NODE_POOL_DEFAULT, NODE_POOL_DEFAULT_DESCRIPTION),
    ] {
        pools.insert(name, NodePool::named(name, description, BUILT_IN_INDEX));
    }
    let index = pools.values().map(|p| p.modify_index).max();
    (
        pools.into_values().collect(),
        index.unwrap_or(BUILT_IN_INDEX),
    )
}

/// `GET /v1/node/pools`: every pool in name order, with `prefix` (of the
/// name), `filter` and pagination (the token is the name), as Nomad's
/// `NodePool.List`.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let ((listed, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let (mut all, index) = pools(st, ws);
        all.retain(|p| p.name.starts_with(&opts.prefix));
        if opts.page.reverse {
            all.reverse();
        }
        let l = page(
            all.iter(),
            TokenKind::Id,
            &opts,
            |p: &NodePool| SortKey::Id(p.name.clone()),
            |p| p,
        )?;
        let listed: Vec<NodePool> = l.items.into_iter().cloned().collect();
        Ok(((listed, l.next_token), index))
    })
    .await?;
    meta.next_token = next;
    Ok(json(&listed, &meta))
}

/// `GET /v1/node/pool/{name}`: 404 `node pool not found` for a pool no
/// node names (and not built in).
pub async fn get_one(
    State(app): State<App>,
    Path(name): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "node pool not found", |st, ws| {
        let (all, table) = pools(st, ws);
        match all.into_iter().find(|p| p.name == name) {
            Some(p) => {
                let index = p.modify_index;
                (Some(p), index)
            }
            None => (None, table),
        }
    })
    .await
}

/// `GET /v1/node/pool/{name}/nodes`: the stubs of the pool's nodes in ID
/// order (`all`: every node), with `filter` (over the whole node),
/// pagination, `resources=true` and `os=true` as `/v1/nodes`. `prefix` is
/// refused, as Nomad refuses it: it could mean the pool or the node IDs.
/// A pool that does not exist has no nodes: an empty list, not a 404, as
/// Nomad's `NodePool.ListNodes` answers.
pub async fn nodes(
    State(app): State<App>,
    Path(name): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let (resources, os) = (q.flag("resources")?, q.flag("os")?);
    if !opts.prefix.is_empty() {
        return Err(HttpError::bad_request("prefix argument not allowed"));
    }
    let start = start_key(&opts, TokenKind::Id)?;
    let every = name == NODE_POOL_ALL;
    let ((stubs, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let it = st
            .nodes(ws, "", start.as_ref(), opts.page.reverse)
            .filter(|n| every || n.node_pool == name);
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

/// `GET /v1/node/pool/{name}/jobs`: the list stubs of the jobs that name
/// the pool, ordered and paged by namespace and ID as `/v1/jobs`, with
/// `namespace`, `filter` (over the whole job), `meta=true`, `per_page`,
/// `next_token` and `reverse` (Nomad api-docs/node-pools.mdx, "List Node
/// Pool Jobs"; nomad/node_pool_endpoint.go `ListJobs`). Only jobs whose
/// `NodePool` is the name itself are listed, `all` included, as in Nomad;
/// a pool that does not exist has none. The index is that of the jobs or
/// the summaries, whichever is later.
pub async fn jobs(
    State(app): State<App>,
    Path(name): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let opts = QueryOptions::from_raw(&q)?;
    let with_meta = q.flag("meta")?;
    let start = start_key(&opts, TokenKind::NamespaceId)?;
    let ((stubs, next), mut meta) = blocking(&app, &opts, |st, ws| {
        let exists = pools(st, ws).0.iter().any(|p| p.name == name);
        let it = st
            .jobs(
                ws,
                opts.namespace.sel(),
                "",
                start.as_ref(),
                opts.page.reverse,
            )
            .filter(|j| exists && j.node_pool == name);
        super::jobs::job_stubs(st, ws, it, &opts, with_meta)
    })
    .await?;
    meta.next_token = next;
    Ok(json(&stubs, &meta))
}
