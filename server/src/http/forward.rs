//! `/v1/client/*` on a server: the request is answered by the client that
//! runs the allocation (design section 5, Nomad's `ClientAllocRequest`
//! forwarding). When that client is this agent's own (a dev agent), the
//! request goes to its routes in process; otherwise it is proxied over
//! HTTP to the node's `HTTPAddr`, streaming both ways, so `logs?follow`
//! works through any agent.

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use drover_state::WatchSet;
use tower::ServiceExt;

use super::error::{HttpError, HttpResult};
use super::App;

/// A request already forwarded once carries this; it is never forwarded again.
const FORWARDED: &str = "x-drover-forwarded";

/// This agent's own client, if it runs one.
#[derive(Clone)]
pub struct LocalClient {
    /// The client's `/v1/client/*` routes, state applied.
    pub routes: Router,
    /// Its node ID, known once the client has started.
    pub node_id: Arc<OnceLock<String>>,
}

/// Which node a `/v1/client/...` path is about: its allocation (`fs/<op>/
/// <alloc>`, `allocation/<alloc>/<op>`) or, for `stats`, the `node_id`
/// query parameter.
enum Target {
    Alloc(String),
    Node(String),
}

fn target(path: &str, query: Option<&str>) -> Result<Target, HttpError> {
    let rest = path.trim_start_matches("/v1/client/");
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["fs", _op, alloc, ..] if !alloc.is_empty() => Ok(Target::Alloc((*alloc).to_string())),
        ["allocation", alloc, _op] if !alloc.is_empty() => Ok(Target::Alloc((*alloc).to_string())),
        ["stats"] => form_urlencoded::parse(query.unwrap_or_default().as_bytes())
            .find(|(k, _)| k == "node_id")
            .map(|(_, v)| Target::Node(v.into_owned()))
            .ok_or_else(|| HttpError::bad_request("missing node_id: this agent runs no client")),
        _ => Err(HttpError::not_found(format!("Invalid URL: {path}"))),
    }
}

pub async fn forward(State(app): State<App>, req: Request) -> HttpResult<Response> {
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let local = app.local_client.clone();
    // A dev agent's own host stats need no node ID.
    let target = match (target(&path, query.as_deref()), &local) {
        (Err(_), Some(l)) if path == "/v1/client/stats" => {
            return Ok(local_call(l, req).await);
        }
        (t, _) => t?,
    };
    let node_id = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        match &target {
            Target::Alloc(id) => st
                .alloc(&mut WatchSet::new(), id)
                .map(|r| r.alloc.node_id.clone())
                .ok_or_else(|| HttpError::not_found(format!("Unknown allocation {id:?}")))?,
            Target::Node(id) => id.clone(),
        }
    };
    if let Some(l) = &local {
        if l.node_id.get() == Some(&node_id) {
            return Ok(local_call(l, req).await);
        }
    }
    if req.headers().contains_key(FORWARDED) {
        return Err(HttpError::not_found(format!(
            "node {node_id} does not run here; not forwarding twice"
        )));
    }
    let addr = {
        let applied = app.raft.shared.read();
        applied
            .state
            .node(&mut WatchSet::new(), &node_id)
            .map(|n| n.http_addr.clone())
            .filter(|a| !a.is_empty())
            .ok_or_else(|| HttpError::not_found(format!("Unknown node {node_id:?}")))?
    };
    proxy(&addr, req).await
}

async fn local_call(l: &LocalClient, req: Request) -> Response {
    // A fresh request: the outer route's matched parameters live in the
    // extensions and would confuse the inner routes' extractors.
    let (parts, body) = req.into_parts();
    let mut fresh = Request::new(body);
    *fresh.method_mut() = parts.method;
    *fresh.uri_mut() = parts.uri;
    *fresh.version_mut() = parts.version;
    *fresh.headers_mut() = parts.headers;
    match l.routes.clone().oneshot(fresh).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

async fn proxy(addr: &str, req: Request) -> HttpResult<Response> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let url = format!("http://{addr}{path_and_query}");
    let body = axum::body::to_bytes(body, 32 << 20)
        .await
        .map_err(|e| HttpError::bad_request(format!("reading the request body: {e}")))?;
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let resp = reqwest::Client::new()
        .request(method, url)
        .header(FORWARDED, "1")
        .body(body)
        .send()
        .await
        .map_err(|e| {
            HttpError::new(
                StatusCode::BAD_GATEWAY,
                format!("the client at {addr} did not answer: {e}"),
            )
        })?;
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| HeaderValue::from_bytes(v.as_bytes()).ok());
    let mut out = (status, Body::from_stream(resp.bytes_stream())).into_response();
    if let Some(ct) = content_type {
        out.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, ct);
    }
    Ok(out)
}
