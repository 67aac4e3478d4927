//! Forwarding to the leader: a write, or a read without `stale`, that
//! reaches a server which does not lead is sent on to the leader and
//! answered with the leader's answer, status, headers and body as they
//! are, as Nomad forwards an RPC (`forward`, `getLeaderForRPC` and
//! `forwardLeader` in nomad/rpc.go).
//!
//! The mechanism: the whole HTTP request goes to the leader's **RPC
//! port**, under [`FORWARD_PREFIX`], on the HTTP/2 connection Raft already
//! keeps to that server. The leader runs it through its own `/v1` routes
//! (this module's layer included) and streams the response back. The RPC
//! port rather than the leader's HTTP port because only servers reach it,
//! it has no per-client connection cap (a follower forwarding thousands of
//! blocking queries is one client), every server's RPC address is in the
//! Raft membership, and one multiplexed connection carries all of them.
//!
//! What stays here (see [`to_leader`]): `stale` reads, which this server
//! answers from its own state with honest `X-Nomad-KnownLeader` and
//! `X-Nomad-LastContact` ([`leader_meta`]); the agent's own endpoints
//! (`/v1/agent/*`, `/v1/status/*`, `/v1/regions`, `/v1/metrics`,
//! `/v1/jobs/parse`); the event stream, replayed from this server's
//! event log as Nomad's `Event.Stream` serves from the local broker; and
//! `/v1/client/*`, which goes to the node that runs the allocation
//! ([`super::forward`]).
//!
//! While no leader is known, a request is held up to [`HOLD`] (Nomad's
//! `RPCHoldTimeout`), woken by every change of openraft's metrics, and
//! then answered 500 `No cluster leader`. A blocking query is forwarded
//! whole, so it parks on the leader and wakes exactly when the same query
//! sent to the leader would.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::time::Instant;
use tower::ServiceExt;

use super::error::HttpError;
use super::query::{parse_go_duration, RawQuery, MAX_WAIT};
use super::{App, AppState};
use crate::cluster::{Cluster, Leadership};
use crate::raft::network::error_chain;

/// How long a request waits for a leader (Nomad's `RPCHoldTimeout`,
/// nomad/config.go, 5s).
pub const HOLD: Duration = Duration::from_secs(5);

/// Where a forwarded request arrives on the leader's RPC port: the prefix,
/// then the original path and query.
pub const FORWARD_PREFIX: &str = "/rpc/v1/forward";
pub const FORWARD_ROUTE: &str = "/rpc/v1/forward/{*rest}";

/// How many times a request has been forwarded. Trusted only on the RPC
/// port, which only servers reach; a user's copy on the HTTP port is
/// ignored.
const HOPS_HEADER: &str = "x-drover-forward-hops";
/// A request forwarded this often is not forwarded again: follower, old
/// leader, new leader is the longest honest path.
const MAX_HOPS: u32 = 2;

/// How long the leader may take to answer a forwarded request that is not
/// a blocking query.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// Added to a blocking query's wait (and jitter) for its answer to arrive.
const BLOCKING_SLACK: Duration = Duration::from_secs(30);
/// The largest request body forwarded (the largest any route takes).
const MAX_BODY: usize = 32 << 20;

/// Marks a request that arrived forwarded from another server.
#[derive(Debug, Clone, Copy)]
struct Forwarded {
    hops: u32,
}

/// Whether a request with this method and URI is the leader's to answer.
pub fn to_leader(method: &Method, uri: &Uri) -> bool {
    const LOCAL: [&str; 7] = [
        "/v1/client/",
        "/v1/agent/",
        "/v1/status/",
        "/v1/regions",
        "/v1/metrics",
        "/v1/event/stream",
        "/v1/jobs/parse",
    ];
    const LEADER: [&str; 16] = [
        "/v1/acl/",
        "/v1/jobs",
        "/v1/job/",
        // `/v1/deployments` and `/v1/deployment/...`.
        "/v1/deployment",
        // `/v1/scaling/policies` and `/v1/scaling/policy/:id`.
        "/v1/scaling/",
        "/v1/allocations",
        "/v1/allocation/",
        "/v1/evaluations",
        "/v1/evaluation/",
        "/v1/nodes",
        "/v1/node/",
        "/v1/system/",
        "/v1/internal/",
        // `/v1/namespaces` and `/v1/namespace/...`.
        "/v1/namespace",
        "/v1/search",
        // Nomad forwards every `Operator.*` RPC to the leader.
        "/v1/operator/",
    ];
    let path = uri.path();
    if LOCAL.iter().any(|p| path.starts_with(p)) || !LEADER.iter().any(|p| path.starts_with(p)) {
        return false;
    }
    // A search is a read sent with PUT or POST (Nomad's `Search` RPCs take
    // `stale` like any read).
    let read = method == Method::GET || method == Method::HEAD || path.starts_with("/v1/search");
    // A `stale` that does not parse goes on, and the leader answers 400.
    !(read && RawQuery::parse(uri.query()).flag("stale") == Ok(true))
}

/// `X-Nomad-KnownLeader` and `X-Nomad-LastContact` (milliseconds) as this
/// server can honestly report them (Nomad's `setQueryMeta`, nomad/rpc.go):
/// on the leader `true` and 0; on a follower whether it knows a leader,
/// and the time since a leader's AppendEntries last reached it. A leader
/// without a quorum's acknowledgement within [`crate::cluster::LEADER_LEASE`]
/// knows no leader, and reports the time since that acknowledgement.
pub fn leader_meta(app: &AppState) -> (bool, u64) {
    let ms = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
    match app.cluster.leadership() {
        Leadership::Leader | Leadership::LeaderNotReady => (true, 0),
        Leadership::Other { .. } => (true, ms(app.cluster.last_contact())),
        Leadership::Unknown if app.raft.is_leader() => {
            let acked = app.raft.raft.metrics().borrow().millis_since_quorum_ack;
            (false, acked.unwrap_or(0))
        }
        Leadership::Unknown => (false, ms(app.cluster.last_contact())),
    }
}

/// The request body: untouched until a forward needs it buffered.
enum PendingBody {
    Stream(Body),
    Buffered(Bytes),
}

impl PendingBody {
    async fn bytes(&mut self) -> Result<Bytes, HttpError> {
        if let PendingBody::Stream(body) = self {
            let body = std::mem::take(body);
            let bytes = axum::body::to_bytes(body, MAX_BODY)
                .await
                .map_err(|e| HttpError::bad_request(format!("reading the request body: {e}")))?;
            *self = PendingBody::Buffered(bytes);
        }
        match self {
            PendingBody::Buffered(b) => Ok(b.clone()),
            PendingBody::Stream(_) => Err(HttpError::internal("request body lost")),
        }
    }

    fn into_body(self) -> Body {
        match self {
            PendingBody::Stream(b) => b,
            PendingBody::Buffered(b) => Body::from(b),
        }
    }
}

/// Why a forward failed.
enum Failure {
    /// No answer from the leader, and sending again is safe: no
    /// connection could be made (nothing was sent), or the request is a
    /// read and the connection broke before an answer (a leader killed
    /// mid-request). The request may wait for a leader again.
    Unreachable(String),
    /// Anything else: the answer to the user.
    Answer(HttpError),
}

/// The layer in front of every `/v1` route: serve here, forward to the
/// leader, or hold while no leader is known.
pub async fn layer(State(app): State<App>, req: Request, next: Next) -> Response {
    if !to_leader(req.method(), req.uri()) {
        return next.run(req).await;
    }
    let hops = req.extensions().get::<Forwarded>().map_or(0, |f| f.hops);
    let deadline = Instant::now() + HOLD;
    let mut metrics = app.raft.raft.metrics();
    let mut shutdown = app.shutdown.clone();
    let (parts, body) = req.into_parts();
    let mut body = PendingBody::Stream(body);
    let mut unreachable: Option<(String, String)> = None;
    loop {
        // Marks the metrics seen, so `changed` below waits for news.
        drop(metrics.borrow_and_update());
        let leadership = app.cluster.leadership();
        match &leadership {
            Leadership::Leader => {
                return next.run(Request::from_parts(parts, body.into_body())).await;
            }
            Leadership::Other { rpc_addr } => {
                if hops >= MAX_HOPS {
                    return HttpError::internal(format!(
                        "request forwarded {hops} times without reaching the leader; retry"
                    ))
                    .into_response();
                }
                let bytes = match body.bytes().await {
                    Ok(b) => b,
                    Err(e) => return e.into_response(),
                };
                match send(&app, rpc_addr, &parts, bytes, hops + 1).await {
                    Ok(resp) => return resp,
                    Err(Failure::Answer(e)) => return e.into_response(),
                    Err(Failure::Unreachable(why)) => {
                        tracing::debug!(leader = %rpc_addr, error = %why, "leader unreachable; holding the request");
                        unreachable = Some((rpc_addr.clone(), why));
                    }
                }
            }
            Leadership::LeaderNotReady | Leadership::Unknown => {}
        }
        if Instant::now() >= deadline {
            return held_too_long(&leadership, unreachable).into_response();
        }
        tokio::select! {
            changed = metrics.changed() => {
                if changed.is_err() {
                    return HttpError::unavailable("the server is shutting down").into_response();
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
            _ = shutdown.wait_for(|s| *s) => {
                return HttpError::unavailable("the server is shutting down").into_response();
            }
        }
    }
}

/// The answer once [`HOLD`] has passed without a leader to serve.
fn held_too_long(leadership: &Leadership, unreachable: Option<(String, String)>) -> HttpError {
    match (leadership, unreachable) {
        // Nomad's `ErrNotReadyForConsistentReads`.
        (Leadership::LeaderNotReady, _) => {
            HttpError::internal("Not ready to serve consistent reads")
        }
        (Leadership::Other { .. }, Some((addr, why))) => {
            HttpError::internal(format!("the leader at {addr} is unreachable: {why}"))
        }
        // Nomad's `ErrNoLeader`.
        _ => HttpError::internal("No cluster leader"),
    }
}

/// Send the request to the leader's RPC port and turn its answer into
/// ours, body streamed.
async fn send(
    app: &AppState,
    addr: &str,
    parts: &Parts,
    body: Bytes,
    hops: u32,
) -> Result<Response, Failure> {
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = app
        .cluster
        .rpc()
        .url(addr, &format!("{FORWARD_PREFIX}{path_and_query}"));
    let mut headers = parts.headers.clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::HOST);
    headers.insert(HOPS_HEADER, HeaderValue::from(hops));
    let call = app
        .cluster
        .rpc()
        .http()
        .request(parts.method.clone(), url)
        .headers(headers)
        .body(body)
        .timeout(answer_timeout(parts.uri.query()))
        .send();
    let mut shutdown = app.shutdown.clone();
    let resp = tokio::select! {
        resp = call => resp,
        _ = shutdown.wait_for(|s| *s) => {
            return Err(Failure::Answer(HttpError::unavailable("the server is shutting down")));
        }
    };
    // A write that may have reached the leader is not sent twice.
    let idempotent = parts.method == Method::GET || parts.method == Method::HEAD;
    let resp = resp.map_err(|e| {
        let why = error_chain(&e);
        if e.is_connect() || (idempotent && !e.is_timeout()) {
            Failure::Unreachable(why)
        } else {
            Failure::Answer(HttpError::internal(format!(
                "forwarding to the leader at {addr}: {why}"
            )))
        }
    })?;
    let status = resp.status();
    let mut headers = resp.headers().clone();
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH);
    let mut out = Response::new(Body::from_stream(resp.bytes_stream()));
    *out.status_mut() = status;
    *out.headers_mut() = headers;
    Ok(out)
}

/// How long the leader may take: a blocking query's wait (capped as the
/// leader caps it) plus its jitter and some slack, else
/// [`REQUEST_TIMEOUT`].
fn answer_timeout(query: Option<&str>) -> Duration {
    let q = RawQuery::parse(query);
    let blocking = q.u64("index").ok().flatten().is_some_and(|i| i > 0);
    if !blocking {
        return REQUEST_TIMEOUT;
    }
    let wait = q
        .get("wait")
        .and_then(parse_go_duration)
        .filter(|d| !d.is_zero())
        .map_or(MAX_WAIT, |d| d.min(MAX_WAIT));
    wait + wait / 16 + BLOCKING_SLACK
}

/// Headers that belong to one connection, not to the request or answer
/// (RFC 9110 section 7.6.1), which HTTP/2 refuses outright.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    const HOP_BY_HOP: [HeaderName; 6] = [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::UPGRADE,
        header::TE,
        header::TRAILER,
        header::PROXY_AUTHORIZATION,
    ];
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
}

/// `/rpc/v1/forward/...` on the RPC port: run a request another server
/// forwarded through this server's `/v1` routes.
pub async fn serve_forwarded(State(cluster): State<Arc<Cluster>>, req: Request) -> Response {
    let Some(routes) = cluster.http_routes() else {
        return HttpError::unavailable("this server's HTTP API is not serving yet").into_response();
    };
    let (parts, body) = req.into_parts();
    let hops = parts
        .headers
        .get(HOPS_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(1);
    let original = parts
        .uri
        .path_and_query()
        .map_or("", |p| p.as_str())
        .strip_prefix(FORWARD_PREFIX)
        .and_then(|rest| rest.parse::<Uri>().ok());
    let Some(uri) = original else {
        return HttpError::bad_request(format!("not a forwarded request: {}", parts.uri))
            .into_response();
    };
    // A fresh request: the RPC route's matched parameters live in the
    // extensions and would confuse the `/v1` routes' extractors.
    let mut fresh = Request::new(body);
    *fresh.method_mut() = parts.method;
    *fresh.uri_mut() = uri;
    *fresh.headers_mut() = parts.headers;
    fresh.headers_mut().remove(HOPS_HEADER);
    fresh.extensions_mut().insert(Forwarded { hops });
    match routes.oneshot(fresh).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn check(method: Method, uri: &str, want: bool) {
        let uri: Uri = uri.parse().unwrap();
        assert_eq!(to_leader(&method, &uri), want, "{method} {uri}");
    }

    #[test]
    fn what_goes_to_the_leader() {
        check(Method::GET, "/v1/jobs", true);
        check(Method::GET, "/v1/jobs?stale=true", false);
        check(Method::GET, "/v1/jobs?stale", false);
        check(Method::GET, "/v1/jobs?stale=false", true);
        check(Method::GET, "/v1/jobs?stale=maybe", true);
        check(Method::PUT, "/v1/jobs?stale=true", true);
        check(Method::PUT, "/v1/jobs/parse", false);
        check(Method::GET, "/v1/job/web?index=7&wait=10s", true);
        check(Method::DELETE, "/v1/job/web", true);
        check(
            Method::GET,
            "/v1/node/abc/allocations?stale=true&index=3",
            false,
        );
        check(Method::PUT, "/v1/internal/node/abc/status", true);
        check(Method::PUT, "/v1/system/gc", true);
        check(Method::GET, "/v1/client/fs/logs/abc", false);
        check(Method::GET, "/v1/event/stream", false);
        check(Method::GET, "/v1/status/leader", false);
        check(Method::PUT, "/v1/agent/join", false);
        check(Method::GET, "/v1/metrics", false);
        check(Method::GET, "/v1/nonsense", false);
        check(Method::GET, "/v1/namespaces", true);
        check(Method::GET, "/v1/namespace/default?stale", false);
        check(Method::GET, "/v1/node/pools", true);
        check(Method::PUT, "/v1/search", true);
        check(Method::POST, "/v1/search/fuzzy?stale=true", false);
        check(Method::GET, "/v1/deployments?prefix=ab", true);
        check(Method::POST, "/v1/deployment/promote/ab", true);
        check(Method::GET, "/v1/deployment/ab?stale", false);
        check(Method::GET, "/v1/scaling/policies", true);
    }

    #[test]
    fn blocking_queries_get_their_wait_to_answer() {
        assert_eq!(answer_timeout(None), REQUEST_TIMEOUT);
        assert_eq!(answer_timeout(Some("index=0&wait=10s")), REQUEST_TIMEOUT);
        assert_eq!(
            answer_timeout(Some("index=5&wait=16s")),
            Duration::from_secs(17) + BLOCKING_SLACK
        );
        assert_eq!(
            answer_timeout(Some("index=5&wait=1h")),
            MAX_WAIT + MAX_WAIT / 16 + BLOCKING_SLACK
        );
        assert_eq!(
            answer_timeout(Some("index=5")),
            MAX_WAIT + MAX_WAIT / 16 + BLOCKING_SLACK
        );
    }
}
