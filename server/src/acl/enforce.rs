//! The one place a request's token is checked: an axum layer in front of
//! every `/v1` route, after leader forwarding (so a forwarded request is
//! checked on the leader, against the newest tokens). It resolves the
//! token, finds what the route needs in [`super::routes::ROUTES`], and
//! answers 403 before any handler runs when the token lacks it.
//!
//! Lists across namespaces (`namespace=*`) run with the token's ACL in a
//! task-local, and [`visible`] leaves out what it may not read.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use drover_state::{Table, WatchKey, WatchSet};

use super::routes::{self, Caps, Need};
use super::{resolve, Acl, Identity, ALL_NAMESPACES};
use crate::http::error::HttpError;
use crate::http::App;

/// The agent's `acl` block (Nomad's `ACLConfig`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclConfig {
    pub enabled: bool,
    /// The shortest and longest lifetime a token may be given
    /// (`token_min_expiration_ttl`, `token_max_expiration_ttl`).
    pub token_min_expiration_ttl: Duration,
    pub token_max_expiration_ttl: Duration,
}

impl Default for AclConfig {
    fn default() -> Self {
        AclConfig {
            enabled: false,
            token_min_expiration_ttl: Duration::from_secs(60),
            token_max_expiration_ttl: Duration::from_secs(24 * 3600),
        }
    }
}

/// Nomad's messages for a refusal (`structs.ErrPermissionDenied`).
pub const PERMISSION_DENIED: &str = "Permission denied";

/// The caller, for handlers that check themselves ([`Need::Handler`]).
#[derive(Debug, Clone)]
pub struct Caller(pub Arc<Identity>);

/// What the handlers of a checked request may ask of its token.
struct RequestAcl {
    acl: Acl,
    /// The namespace capabilities the route was checked with, which a
    /// list's objects must each pass.
    list_caps: Option<Caps>,
}

tokio::task_local! {
    static REQUEST_ACL: Arc<RequestAcl>;
}

/// Whether a list may show an object of namespace `ns` to this request's
/// token: always, unless ACLs are on and the token lacks the list's
/// capability there.
pub fn visible(ns: &str) -> bool {
    REQUEST_ACL
        .try_with(|r| {
            r.list_caps
                .is_none_or(|caps| caps.iter().any(|c| r.acl.allow_namespace_operation(ns, c)))
        })
        .unwrap_or(true)
}

/// Whether a list must ask [`visible`] at all (ACLs on, not management).
pub fn filtering() -> bool {
    REQUEST_ACL
        .try_with(|r| r.list_caps.is_some() && !r.acl.is_management())
        .unwrap_or(false)
}

/// Whether the request's token passes `check` (always, with ACLs off):
/// for handlers whose answer mixes kinds of objects, such as a search's
/// nodes among its jobs.
pub fn caller_allows(check: impl FnOnce(&Acl) -> bool) -> bool {
    REQUEST_ACL.try_with(|r| check(&r.acl)).unwrap_or(true)
}

/// Whether ACLs are on and the request's token is a management token
/// (which, for one, registers jobs while the scheduler configuration
/// rejects registrations).
pub fn caller_is_management() -> bool {
    REQUEST_ACL
        .try_with(|r| r.acl.is_management())
        .unwrap_or(false)
}

/// The secret a request presents: `X-Nomad-Token`, else the first word
/// after an `Authorization: Bearer` (any case), as Nomad's `parseToken`.
pub fn token_from_headers(h: &HeaderMap) -> Option<String> {
    if let Some(v) = h.get("x-nomad-token").and_then(|v| v.to_str().ok()) {
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    let auth = h.get(header::AUTHORIZATION)?.to_str().ok()?;
    let mut words = auth.split_whitespace();
    let scheme = words.next()?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    words.next().map(str::to_string)
}

/// The namespace a request names: `namespace=`, else `X-Nomad-Namespace`,
/// else `default` (Nomad's `parseNamespace`).
pub fn request_namespace(req: &Request) -> String {
    let from_query = req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "namespace")
            .map(|(_, v)| v.into_owned())
    });
    from_query
        .filter(|v| !v.is_empty())
        .or_else(|| {
            req.headers()
                .get("x-nomad-namespace")
                .and_then(|v| v.to_str().ok())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| drover_api::DEFAULT_NAMESPACE_NAME.to_string())
}

fn query_param(req: &Request, name: &str) -> Option<String> {
    req.uri().query().and_then(|q| {
        form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    })
}

pub fn forbidden(message: &str) -> Response {
    HttpError::new(axum::http::StatusCode::FORBIDDEN, message).into_response()
}

/// The layer. With ACLs off it only passes the request on.
pub async fn layer(State(app): State<App>, req: Request, next: Next) -> Response {
    if !app.acl.enabled {
        return next.run(req).await;
    }
    let need = routes::need(req.method(), req.uri().path());
    if need == Need::NodeRpc && !node_rpc_allowed(&app, &req) {
        return forbidden(PERMISSION_DENIED);
    }
    if matches!(need, Need::Nothing | Need::NodeRpc) {
        return next.run(req).await;
    }
    let secret = token_from_headers(req.headers());
    if super::handshake::wanted(&req) {
        return super::handshake::accept(&app, req, secret).await;
    }
    if secret
        .as_deref()
        .is_some_and(|s| node_reads_its_own(&app, &req, s))
    {
        return next.run(req).await;
    }
    let resolved = {
        let applied = app.raft.shared.read();
        resolve(
            &applied.state,
            secret.as_deref(),
            crate::clock::unix_nanos(),
        )
    };
    let identity = match resolved {
        Ok(i) => Arc::new(i),
        Err(e) => return forbidden(&e.to_string()),
    };
    let (mut req, allowed) = match check(&app, &identity, need, req).await {
        Ok(checked) => checked,
        Err(resp) => return resp,
    };
    if !allowed {
        return forbidden(PERMISSION_DENIED);
    }
    req.extensions_mut().insert(Caller(identity.clone()));
    let list_caps = match need {
        Need::Ns(caps) => Some(caps),
        // A node's allocations show only those of namespaces the token
        // reads jobs in (nomad/node_endpoint.go `GetAllocs`).
        Need::NodeRead if is_node_allocs(req.uri().path()) => Some(routes::READ_JOB),
        _ => None,
    };
    let request_acl = Arc::new(RequestAcl {
        acl: identity.acl.clone(),
        list_caps,
    });
    REQUEST_ACL.scope(request_acl, next.run(req)).await
}

/// A node's own call about itself (`/v1/internal/node/<id>/status`,
/// `/allocs`) must carry that node's secret as its token, as Nomad's
/// `Node.UpdateStatus` and `Node.UpdateAlloc` authenticate the client by
/// its secret ID. A node the state does not know passes on: its handler
/// answers it, and it registers (presenting the same secret, if it was
/// ever registered) before it can change anything.
fn node_rpc_allowed(app: &App, req: &Request) -> bool {
    let segs: Vec<&str> = req.uri().path().split('/').collect();
    let ["", "v1", "internal", "node", node_id, _] = segs.as_slice() else {
        return true;
    };
    let applied = app.raft.shared.read();
    match applied.state.node(&mut WatchSet::new(), node_id) {
        None => true,
        Some(n) => token_from_headers(req.headers())
            .is_some_and(|s| !n.secret_id.is_empty() && n.secret_id == s),
    }
}

/// A client node's watch of its own allocations, made with the node's
/// secret (Nomad's `Node.GetClientAllocs` authenticates the node the same
/// way). Only a registered node: its first watch can overtake its
/// register and is then refused, and retried a second later.
fn node_reads_its_own(app: &App, req: &Request, secret: &str) -> bool {
    let segs: Vec<&str> = req.uri().path().split('/').collect();
    let ["", "v1", "node", node_id, "allocations"] = segs.as_slice() else {
        return false;
    };
    req.method() == Method::GET && is_node_secret(app, node_id, secret)
}

/// Whether `secret` is the secret of registered node `node_id`.
pub fn is_node_secret(app: &App, node_id: &str, secret: &str) -> bool {
    let applied = app.raft.shared.read();
    applied
        .state
        .node(&mut WatchSet::new(), node_id)
        .is_some_and(|n| !n.secret_id.is_empty() && n.secret_id == secret)
}

/// Whether the token in `headers` may make `method uri`, for a client-only
/// agent that asks its servers before serving its own `/v1/client/*`
/// ([`crate::http`]'s `PUT /v1/internal/acl/authorize`). `Ok` with ACLs
/// off.
pub async fn authorize(
    app: &App,
    method: Method,
    uri: &str,
    headers: &HeaderMap,
) -> Result<(), Response> {
    if !app.acl.enabled {
        return Ok(());
    }
    let mut req = Request::new(Body::empty());
    *req.method_mut() = method;
    *req.uri_mut() = uri.parse().map_err(|_| {
        HttpError::bad_request(format!("Path: not a path: {uri:?}")).into_response()
    })?;
    *req.headers_mut() = headers.clone();
    let need = routes::need(req.method(), req.uri().path());
    if matches!(need, Need::Nothing | Need::NodeRpc) {
        return Ok(());
    }
    let secret = token_from_headers(headers);
    let resolved = {
        let applied = app.raft.shared.read();
        resolve(
            &applied.state,
            secret.as_deref(),
            crate::clock::unix_nanos(),
        )
    };
    let identity = resolved.map_err(|e| forbidden(&e.to_string()))?;
    match check(app, &identity, need, req).await? {
        (_, true) => Ok(()),
        (_, false) => Err(forbidden(PERMISSION_DENIED)),
    }
}

/// Holds while the token in `headers` may still make `method uri`: the
/// answer comes when it no longer may (its token deleted or expired, a
/// policy changed), as the refusal, or `Ok` once `max` has passed with
/// the call still allowed, the agent shuts down, or at once with ACLs
/// off. An open exec session watches its token this way, so a revoked
/// token ends it within a write's apply (or at its expiry time).
pub async fn authorize_until_refused(
    app: &App,
    method: Method,
    uri: &str,
    headers: &HeaderMap,
    max: Duration,
) -> Result<(), Response> {
    if !app.acl.enabled {
        return Ok(());
    }
    let deadline = tokio::time::Instant::now() + max;
    let secret = token_from_headers(headers);
    let mut shutdown = app.shutdown.clone();
    loop {
        // Watch before checking, so no write slips between the two.
        let (changed, expires_at) = {
            let applied = app.raft.shared.read();
            let mut ws = WatchSet::new();
            ws.add(WatchKey::Table(Table::AclTokens));
            ws.add(WatchKey::Table(Table::AclPolicies));
            let expires_at = secret.as_deref().and_then(|s| {
                applied
                    .state
                    .acl_token_by_secret_hash(&super::sha256::hex(s.as_bytes()))
                    .and_then(|t| t.expiration_time)
            });
            (app.raft.shared.watches().watch(&ws), expires_at)
        };
        authorize(app, method.clone(), uri, headers).await?;
        let wake = match expires_at {
            Some(at) => {
                let left = at.saturating_sub(crate::clock::unix_nanos()).max(0);
                let at = tokio::time::Instant::now() + Duration::from_nanos(left as u64);
                at.min(deadline)
            }
            None => deadline,
        };
        tokio::select! {
            _ = changed => {}
            _ = tokio::time::sleep_until(wake) => {
                if wake >= deadline {
                    return Ok(());
                }
            }
            _ = shutdown.wait_for(|s| *s) => return Ok(()),
        }
    }
}

fn is_node_allocs(path: &str) -> bool {
    matches!(
        path.split('/').collect::<Vec<_>>().as_slice(),
        ["", "v1", "node", _, "allocations"]
    )
}

fn any_cap(acl: &Acl, ns: &str, caps: Caps) -> bool {
    caps.iter().any(|c| acl.allow_namespace_operation(ns, c))
}

/// Whether `identity` may make `req`; the request comes back (its body
/// read and restored when the check needed it).
async fn check(
    app: &App,
    identity: &Identity,
    need: Need,
    req: Request,
) -> Result<(Request, bool), Response> {
    let acl = &identity.acl;
    let allowed = match need {
        Need::Nothing | Need::NodeRpc | Need::Handler => true,
        Need::Management => acl.is_management(),
        Need::AnyToken => identity.token.is_some(),
        Need::Ns(caps) => any_cap(acl, &request_namespace(&req), caps),
        Need::JobBodyNs(caps) => {
            let (req, ns) = job_body_namespace(req).await?;
            let ok = any_cap(acl, &ns, caps);
            return Ok((req, ok));
        }
        Need::AllocNs(caps) => alloc_allowed(app, acl, &req, caps),
        Need::NamedNs => {
            let name = req.uri().path().rsplit('/').next().unwrap_or_default();
            acl.allow_namespace(name)
        }
        Need::NodeRead => acl.allow_node_read(),
        Need::NodeWrite => acl.allow_node_write(),
        Need::NodePoolRead => {
            let path = req.uri().path();
            // `/v1/node/pool/<name>[/jobs]`; the list names none.
            let pool = path
                .strip_prefix("/v1/node/pool/")
                .and_then(|rest| rest.split('/').next())
                .unwrap_or(ALL_NAMESPACES);
            if pool == ALL_NAMESPACES {
                acl.is_management() || node_pool_any(acl)
            } else {
                acl.allow_node_pool_operation(pool, "read")
            }
        }
        Need::AgentRead => acl.allow_agent_read(),
        Need::AgentWrite => acl.allow_agent_write(),
        Need::OperatorRead => acl.allow_operator_read(),
        Need::OperatorWrite => acl.allow_operator_write(),
        Need::OperatorSnapshotSave => acl.allow_operator_operation("snapshot-save"),
        Need::EventStream => event_stream_allowed(acl, &req),
    };
    Ok((req, allowed))
}

/// Whether some node pool grants `read` (the list then shows those).
fn node_pool_any(acl: &Acl) -> bool {
    ["default", "all", ALL_NAMESPACES]
        .iter()
        .any(|p| acl.allow_node_pool_operation(p, "read"))
}

/// Nomad's per-topic rule for the event stream
/// (nomad/event_endpoint.go `aclCheckForEvents`).
fn event_stream_allowed(acl: &Acl, req: &Request) -> bool {
    if acl.is_management() {
        return true;
    }
    let ns = request_namespace(req);
    let topics: Vec<String> = req
        .uri()
        .query()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .filter(|(k, _)| k == "topic")
                .map(|(_, v)| v.split(':').next().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    if topics.is_empty() {
        // No topic is every topic, which only management may read.
        return false;
    }
    topics.iter().all(|t| match t.as_str() {
        // `Exec` (Drover's session records) as the objects of a namespace.
        "Job" | "Evaluation" | "Allocation" | "Deployment" | "Service" | "Exec" => {
            acl.allow_namespace_operation(&ns, "read-job")
        }
        "Node" => acl.allow_node_read(),
        _ => false,
    })
}

/// The allocation a path names: `/v1/allocation/<id>/..`,
/// `/v1/client/allocation/<id>/..`, `/v1/client/fs/<op>/<id>`.
fn alloc_id_of(path: &str) -> Option<&str> {
    let segs: Vec<&str> = path.split('/').collect();
    match segs.as_slice() {
        ["", "v1", "allocation", id, ..] => Some(id),
        ["", "v1", "client", "allocation", id, ..] => Some(id),
        ["", "v1", "client", "fs", _, id, ..] => Some(id),
        _ => None,
    }
}

/// The allocation's namespace decides; an unknown allocation is checked
/// in the request's namespace (and then answered 404 by the handler). An
/// exec into a task whose driver has no filesystem isolation (raw_exec)
/// also needs `alloc-node-exec` (nomad client/alloc_endpoint.go `exec`).
fn alloc_allowed(app: &App, acl: &Acl, req: &Request, caps: Caps) -> bool {
    let path = req.uri().path();
    let (ns, raw_exec) = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        let row = alloc_id_of(path).and_then(|id| st.alloc(&mut WatchSet::new(), id));
        match row {
            None => (request_namespace(req), false),
            Some(row) => {
                let task = query_param(req, "task");
                let raw_exec = st.alloc_job(row).is_some_and(|job| {
                    job.task_groups
                        .iter()
                        .filter(|g| g.name == row.alloc.task_group)
                        .flat_map(|g| g.tasks.iter())
                        .any(|t| Some(&t.name) == task.as_ref() && t.driver == "raw_exec")
                });
                (row.alloc.namespace.clone(), raw_exec)
            }
        }
    };
    let execs = path.ends_with("/exec") || path.ends_with("/attach");
    any_cap(acl, &ns, caps)
        && (!execs || !raw_exec || acl.allow_namespace_operation(&ns, "alloc-node-exec"))
}

/// The namespace a job register or plan writes to: the body's
/// `Job.Namespace`, else the request's (Nomad's `jobUpdate`).
async fn job_body_namespace(req: Request) -> Result<(Request, String), Response> {
    let fallback = request_namespace(&req);
    if req.method() == Method::GET {
        return Ok((req, fallback));
    }
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 64 << 20).await.map_err(|e| {
        HttpError::bad_request(format!("reading the request body: {e}")).into_response()
    })?;
    #[derive(serde::Deserialize)]
    struct JobNs {
        #[serde(rename = "Namespace", default)]
        namespace: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Register {
        #[serde(rename = "Job", default)]
        job: Option<JobNs>,
    }
    let ns = serde_json::from_slice::<Register>(&bytes)
        .ok()
        .and_then(|r| r.job)
        .and_then(|j| j.namespace)
        .filter(|n| !n.is_empty())
        .unwrap_or(fallback);
    Ok((Request::from_parts(parts, Body::from(bytes)), ns))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_from_either_header() {
        let mut h = HeaderMap::new();
        assert_eq!(token_from_headers(&h), None);
        h.insert(header::AUTHORIZATION, "bEaReR  abc def".parse().unwrap());
        assert_eq!(token_from_headers(&h).as_deref(), Some("abc"));
        h.insert("x-nomad-token", "xyz".parse().unwrap());
        assert_eq!(token_from_headers(&h).as_deref(), Some("xyz"));
        let mut basic = HeaderMap::new();
        basic.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(token_from_headers(&basic), None);
    }

    #[test]
    fn alloc_ids_in_paths() {
        assert_eq!(alloc_id_of("/v1/allocation/a1/stop"), Some("a1"));
        assert_eq!(alloc_id_of("/v1/client/allocation/a2/exec"), Some("a2"));
        assert_eq!(alloc_id_of("/v1/client/fs/logs/a3"), Some("a3"));
        assert_eq!(alloc_id_of("/v1/jobs"), None);
    }
}
