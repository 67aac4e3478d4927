//! `/v1/namespaces` and `/v1/namespace/{name}` (Nomad
//! command/agent/namespace_endpoint.go, nomad/namespace_endpoint.go).
//!
//! Drover has the one namespace every Nomad cluster starts with,
//! `default`, created at index 1 and never changed. Namespaces cannot be
//! written yet.

use axum::extract::{Path, RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::Namespace;
use drover_state::State as St;

use super::blocking::{blocking, json, read_one};
use super::error::{HttpError, HttpResult};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// Every namespace whose name starts with `prefix`, in name order, and the
/// index the namespaces table reports: 1, the index `default` was created
/// at, or a later operator restore, which may have changed anything.
pub(super) fn namespaces(st: &St, prefix: &str) -> (Vec<Namespace>, u64) {
    let all = vec![Namespace::default_namespace()];
    let index = st.restored_at().max(1);
    (
        all.into_iter()
            .filter(|n| n.name.starts_with(prefix))
            .collect(),
        index,
    )
}

/// `GET /v1/namespaces`, with `prefix`. Nomad's `ListNamespaces` neither
/// pages nor filters, so `per_page` and `filter` are ignored here too.
pub async fn list(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    let (list, meta) = blocking(&app, &opts, |st, _| Ok(namespaces(st, &opts.prefix))).await?;
    Ok(json(&list, &meta))
}

/// `GET /v1/namespace/{name}`: 404 `Namespace not found` for any other
/// name than `default`.
pub async fn get_one(
    State(app): State<App>,
    Path(name): Path<String>,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    read_one(&app, &opts, "Namespace not found", |st, _| {
        let (all, index) = namespaces(st, "");
        (all.into_iter().find(|n| n.name == name), index)
    })
    .await
}

/// `GET /v1/namespace/`: Nomad's answer to a read without a name.
pub async fn missing_name() -> HttpError {
    HttpError::bad_request("Missing Namespace Name")
}
