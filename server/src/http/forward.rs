//! `/v1/client/*` on a server: the request is answered by the client that
//! runs the allocation (Nomad's `ClientAllocRequest`
//! forwarding). When that client is this agent's own (a dev agent), the
//! request goes to its routes in process; otherwise it is proxied over
//! HTTP to the node's `HTTPAddr`, streaming both ways, so `logs?follow`
//! works through any agent.
//!
//! A WebSocket (`allocation/<id>/exec`) to another node is relayed: this
//! agent opens a WebSocket to the node first, so a refusal before the
//! upgrade (404, 400) reaches the user as it is, then accepts the user's
//! upgrade and copies frames both ways, one in flight per direction. The
//! relay pings the node and gives up on it after [`NODE_SILENCE`] without
//! a frame; a node that is lost, by a broken connection or by silence,
//! closes the user's socket with 1011 and a reason rather than leaving it
//! hanging (hashicorp/nomad#10579).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use drover_state::WatchSet;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
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

/// How this server reaches client nodes' HTTP APIs: plain, or HTTPS with
/// this agent's certificate when `tls { http = true }` (every agent of a
/// cluster shares the `tls` block, so the nodes serve HTTPS too).
#[derive(Clone)]
pub struct NodeLink {
    http: reqwest::Client,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl NodeLink {
    /// Plain HTTP.
    pub fn plain() -> NodeLink {
        NodeLink {
            http: reqwest::Client::builder()
                .use_preconfigured_tls(crate::tls::no_tls())
                .build()
                .unwrap_or_default(),
            tls: None,
        }
    }

    /// HTTPS with `tls` (which presents this agent's certificate and
    /// checks the node's against the CA).
    pub fn https(tls: rustls::ClientConfig) -> Result<NodeLink, reqwest::Error> {
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls.clone())
            .build()?;
        Ok(NodeLink {
            http,
            tls: Some(Arc::new(tls)),
        })
    }

    pub(crate) fn scheme(&self, ws: bool) -> &'static str {
        match (self.tls.is_some(), ws) {
            (false, false) => "http",
            (false, true) => "ws",
            (true, false) => "https",
            (true, true) => "wss",
        }
    }
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
    if is_websocket(&req) {
        return relay_websocket(&app, &node_id, &addr, req).await;
    }
    proxy(&app.node_link, &addr, req).await
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
    // The connection's upgrade handle, so a WebSocket works in process.
    let mut extensions = parts.extensions;
    if let Some(upgrade) = extensions.remove::<hyper::upgrade::OnUpgrade>() {
        fresh.extensions_mut().insert(upgrade);
    }
    match l.routes.clone().oneshot(fresh).await {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

async fn proxy(link: &NodeLink, addr: &str, req: Request) -> HttpResult<Response> {
    let (parts, body) = req.into_parts();
    let path_and_query = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_string();
    let url = format!("{}://{addr}{path_and_query}", link.scheme(false));
    let body = axum::body::to_bytes(body, 32 << 20)
        .await
        .map_err(|e| HttpError::bad_request(format!("reading the request body: {e}")))?;
    let method = reqwest::Method::from_bytes(parts.method.as_str().as_bytes())
        .map_err(|e| HttpError::bad_request(e.to_string()))?;
    let mut request = link.http.request(method, url).header(FORWARDED, "1");
    // The node checks the token too.
    for name in PASSED_HEADERS {
        if let Some(v) = parts.headers.get(name) {
            request = request.header(name, v.as_bytes());
        }
    }
    let resp = request.body(body).send().await.map_err(|e| {
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

/// How often the relay pings the node; the node's exec heartbeat has the
/// same period.
const NODE_PING: Duration = Duration::from_secs(10);
/// No frame from the node for this long means it is lost.
const NODE_SILENCE: Duration = Duration::from_secs(30);
/// How long the node has to accept the WebSocket.
const NODE_CONNECT: Duration = Duration::from_secs(10);
/// After the user closed, how long the node's close reply may take.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Headers of the user's request that go on to the node.
const PASSED_HEADERS: [&str; 2] = ["x-nomad-token", "authorization"];

/// A connection to a node, plain or TLS.
pub(crate) trait NodeIo:
    tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send
{
}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> NodeIo for T {}

pub(crate) type NodeSocket = tokio_tungstenite::WebSocketStream<Box<dyn NodeIo>>;

/// Opens a WebSocket to the node at `addr`: TCP, TLS when the link has
/// it (tokio-tungstenite's own TLS would bring a second TLS setup), then
/// the upgrade.
pub(crate) async fn connect_node(
    link: &NodeLink,
    addr: &str,
    req: tungstenite::handshake::client::Request,
) -> Result<NodeSocket, tungstenite::Error> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn NodeIo> = match &link.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = rustls::pki_types::ServerName::try_from(host.to_string()).map_err(|e| {
                tungstenite::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, e))
            })?;
            let connector = tokio_rustls::TlsConnector::from(tls.clone());
            Box::new(connector.connect(name, tcp).await?)
        }
    };
    let (socket, _) = tokio_tungstenite::client_async(req, io).await?;
    Ok(socket)
}

fn is_websocket(req: &Request) -> bool {
    req.headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

async fn relay_websocket(
    app: &App,
    node_id: &str,
    addr: &str,
    req: Request,
) -> HttpResult<Response> {
    let (mut parts, _body) = req.into_parts();
    let upgrade = WebSocketUpgrade::from_request_parts(&mut parts, app)
        .await
        .map_err(|e| HttpError::bad_request(e.body_text()))?;
    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut node_req = format!("{}://{addr}{path_and_query}", app.node_link.scheme(true))
        .into_client_request()
        .map_err(|e| HttpError::bad_request(format!("forwarding to {addr}: {e}")))?;
    node_req
        .headers_mut()
        .insert(FORWARDED, HeaderValue::from_static("1"));
    for name in PASSED_HEADERS {
        if let Some(v) = parts.headers.get(name) {
            node_req.headers_mut().insert(name, v.clone());
        }
    }
    let unreachable = |e: String| {
        HttpError::new(
            StatusCode::BAD_GATEWAY,
            format!("the client at {addr} did not answer: {e}"),
        )
    };
    let node = match tokio::time::timeout(
        NODE_CONNECT,
        connect_node(&app.node_link, addr, node_req),
    )
    .await
    {
        Err(_) => return Err(unreachable(format!("no WebSocket within {NODE_CONNECT:?}"))),
        Ok(Err(tungstenite::Error::Http(resp))) => {
            // The node refused before upgrading: pass its answer on.
            let status =
                StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
            let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
            let body = resp.into_body().unwrap_or_default();
            let mut out = (status, body).into_response();
            if let Some(ct) = content_type {
                out.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            return Ok(out);
        }
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Ok(Ok(node)) => node,
    };
    let lost = format!("lost connection to client node {node_id} ({addr})");
    Ok(upgrade.on_upgrade(move |user| relay(user, node, lost)))
}

/// Copies frames between the user and the node until either ends.
pub(crate) async fn relay(user: WebSocket, node: NodeSocket, lost: String) {
    let (mut user_tx, mut user_rx) = user.split();
    let (mut node_tx, mut node_rx) = node.split();

    // Node → user. Ends after relaying the node's close, or when the user
    // is gone, or (closing the user's socket with 1011) when the node is.
    let down = async {
        let why = loop {
            let msg = match tokio::time::timeout(NODE_SILENCE, node_rx.next()).await {
                Err(_) => break format!("no answer for {NODE_SILENCE:?}"),
                Ok(None) => break "connection closed".to_string(),
                Ok(Some(Err(e))) => break e.to_string(),
                Ok(Some(Ok(msg))) => msg,
            };
            let Some(msg) = to_user(msg) else { continue };
            let last = matches!(msg, ws::Message::Close(_));
            if user_tx.send(msg).await.is_err() || last {
                return;
            }
        };
        tracing::warn!(reason = %why, "{lost}");
        let reason = format!("{lost}: {why}");
        let _ = user_tx
            .send(ws::Message::Close(Some(ws::CloseFrame {
                code: 1011,
                reason: truncate(&reason, 123).into(),
            })))
            .await;
    };

    // User → node, with a ping to the node every NODE_PING. `true` when
    // the user closed properly (the node's reply is still relayed).
    let up = async {
        let user_rx = &mut user_rx;
        let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + NODE_PING, NODE_PING);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let msg = tokio::select! {
                // The user's pings and pongs are this hop's business.
                msg = user_rx.next() => match msg {
                    Some(Ok(msg)) => to_node(msg),
                    None | Some(Err(_)) => return false,
                },
                _ = ping.tick() => Some(tungstenite::Message::Ping(Bytes::new())),
            };
            let Some(msg) = msg else { continue };
            let last = matches!(msg, tungstenite::Message::Close(_));
            if node_tx.send(msg).await.is_err() {
                return false;
            }
            if last {
                return true;
            }
        }
    };

    let mut down = std::pin::pin!(down);
    // Whether the closing handshake with the user is still to finish.
    let handshake = tokio::select! {
        () = &mut down => true,
        closed = up => {
            if closed {
                let _ = tokio::time::timeout(CLOSE_GRACE, down).await;
            }
            closed
        }
    };
    if handshake {
        // Finish the closing handshake with the user: closing the TCP
        // connection with unread input would reset it, and a reset can
        // destroy the last frames before the user reads them. When the
        // user closed first, this read sends tungstenite's queued answer
        // (the node's own close cannot be relayed after the user's).
        let _ = tokio::time::timeout(CLOSE_GRACE, async {
            while let Some(Ok(msg)) = user_rx.next().await {
                if matches!(msg, ws::Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
}

/// A node frame as the user gets it; `None` for the hop's pings and pongs.
fn to_user(msg: tungstenite::Message) -> Option<ws::Message> {
    use tungstenite::Message as T;
    Some(match msg {
        T::Text(t) => ws::Message::Text(ws::Utf8Bytes::try_from(Bytes::from(t)).ok()?),
        T::Binary(b) => ws::Message::Binary(b),
        T::Close(frame) => ws::Message::Close(frame.map(|f| ws::CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        T::Ping(_) | T::Pong(_) | T::Frame(_) => return None,
    })
}

/// A user frame as the node gets it; `None` for the hop's pings and pongs.
fn to_node(msg: ws::Message) -> Option<tungstenite::Message> {
    use tungstenite::Message as T;
    Some(match msg {
        ws::Message::Text(t) => T::Text(tungstenite::Utf8Bytes::try_from(Bytes::from(t)).ok()?),
        ws::Message::Binary(b) => T::Binary(b),
        ws::Message::Close(frame) => T::Close(frame.map(|f| tungstenite::protocol::CloseFrame {
            code: f.code.into(),
            reason: f.reason.as_str().into(),
        })),
        ws::Message::Ping(_) | ws::Message::Pong(_) => return None,
    })
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
