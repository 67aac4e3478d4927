//! The token of an exec or attach WebSocket sent in its first frame
//! (`?ws_handshake=true`, `{"version":1,"auth_token":"<secret>"}`; Nomad
//! command/agent/alloc_endpoint.go `readWsHandshake`), for browsers, which
//! cannot set headers on a WebSocket.
//!
//! The user's upgrade is accepted here, the frame read, and the session
//! opened again on this agent's own HTTP address with the token as its
//! `X-Nomad-Token` header: the ordinary check then decides, and the
//! ordinary forwarding reaches the node. A refusal closes the user's
//! socket with 1008 (policy violation) and the reason, as Nomad does.

use std::time::Duration;

use axum::extract::ws::{self, CloseFrame, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use drover_api::WsHandshake;
use futures_util::StreamExt;
use tokio_tungstenite::tungstenite;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::http::error::HttpError;
use crate::http::App;

/// How long the user has to send the handshake frame.
const HANDSHAKE_WAIT: Duration = Duration::from_secs(10);

/// WebSocket close code 1008.
const POLICY_VIOLATION: u16 = 1008;

/// Whether `req` is an exec or attach WebSocket that asks for a
/// handshake frame.
pub fn wanted(req: &Request) -> bool {
    let path = req.uri().path();
    let ws_path = path.starts_with("/v1/client/allocation/")
        && (path.ends_with("/exec") || path.ends_with("/attach"));
    let asked = req.uri().query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "ws_handshake" && v == "true")
    });
    ws_path && asked
}

/// Accept the upgrade and serve the session once the frame's token is
/// checked. A token also sent as a header must be the frame's (Nomad's
/// `handshake auth token mismatched auth header token`).
pub async fn accept(app: &App, req: Request, header_token: Option<String>) -> Response {
    let (mut parts, _body) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, app).await {
        Ok(u) => u,
        Err(e) => return HttpError::bad_request(e.body_text()).into_response(),
    };
    // The same call without the handshake, to this agent itself.
    let query: String = parts
        .uri
        .query()
        .map(|q| {
            form_urlencoded::Serializer::new(String::new())
                .extend_pairs(
                    form_urlencoded::parse(q.as_bytes()).filter(|(k, _)| k != "ws_handshake"),
                )
                .finish()
        })
        .unwrap_or_default();
    let addr = app.info.http_addr.clone();
    let target = format!(
        "{}://{addr}{}?{query}",
        app.node_link.scheme(true),
        parts.uri.path()
    );
    let link = app.node_link.clone();
    upgrade.on_upgrade(move |user| session(user, link, addr, target, header_token))
}

async fn session(
    mut user: WebSocket,
    link: crate::http::forward::NodeLink,
    addr: String,
    target: String,
    header_token: Option<String>,
) {
    let token = match read_handshake(&mut user).await {
        Ok(t) => t,
        Err(reason) => return close(user, &reason).await,
    };
    if header_token.is_some_and(|h| h != token) {
        return close(user, "handshake auth token mismatched auth header token").await;
    }
    let mut request = match target.into_client_request() {
        Ok(r) => r,
        Err(e) => return close(user, &e.to_string()).await,
    };
    match HeaderValue::from_str(&token) {
        Ok(v) => {
            request.headers_mut().insert("x-nomad-token", v);
        }
        Err(_) => return close(user, "ACL token not found").await,
    }
    let inner = match crate::http::forward::connect_node(&link, &addr, request).await {
        Ok(inner) => inner,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp.into_body().unwrap_or_default();
            let reason = String::from_utf8_lossy(&body).into_owned();
            return close(user, &reason).await;
        }
        Err(e) => return close(user, &e.to_string()).await,
    };
    crate::http::forward::relay(user, inner, "lost the exec session".into()).await;
}

/// The token of the first text frame; anything else is the reason to
/// refuse.
async fn read_handshake(user: &mut WebSocket) -> Result<String, String> {
    let first = tokio::time::timeout(HANDSHAKE_WAIT, user.next())
        .await
        .map_err(|_| "no handshake frame".to_string())?;
    let text = match first {
        Some(Ok(ws::Message::Text(t))) => t,
        _ => return Err("the first frame must be the handshake".into()),
    };
    let hs: WsHandshake =
        serde_json::from_str(text.as_str()).map_err(|e| format!("invalid handshake frame: {e}"))?;
    if hs.version != 1 {
        return Err(format!("unsupported handshake version {}", hs.version));
    }
    Ok(hs.auth_token)
}

async fn close(mut user: WebSocket, reason: &str) {
    // A close reason is at most 123 bytes.
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let frame = CloseFrame {
        code: POLICY_VIOLATION,
        reason: reason[..end].to_string().into(),
    };
    let _ = user.send(ws::Message::Close(Some(frame))).await;
}
