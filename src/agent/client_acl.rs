//! ACLs on a client-only agent, which holds no tokens or policies: before
//! it serves one of its own calls (`/v1/client/*`, `/v1/agent/*`) it asks
//! its servers
//! whether the caller's token may make it (`PUT
//! /v1/internal/acl/authorize`), so the decision is the servers' one
//! table. Answers are kept for a few seconds, so a burst of calls (a
//! followed log, repeated stats) costs one question.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use drover_server::acl::enforce::token_from_headers;

/// How long an answer is reused.
const KEEP: Duration = Duration::from_secs(5);
/// Answers kept at most; the cache is emptied when full.
const MAX_KEPT: usize = 1024;
/// How long a server may take to answer.
const ASK_TIMEOUT: Duration = Duration::from_secs(10);

/// A call asked about: the token, the method, the path and query.
type Call = (String, String, String);
/// The servers' answer: when it came, its status and message.
type Answer = (Instant, StatusCode, String);

pub struct ClientAcl {
    pub servers: Arc<drover_client::servers::Servers>,
    pub http: reqwest::Client,
    kept: Mutex<HashMap<Call, Answer>>,
}

impl ClientAcl {
    pub fn new(servers: Arc<drover_client::servers::Servers>, http: reqwest::Client) -> Self {
        ClientAcl {
            servers,
            http,
            kept: Mutex::new(HashMap::new()),
        }
    }

    /// The servers' answer for this call: `200`, or the refusal.
    async fn ask(&self, token: Option<&str>, method: &str, path: &str) -> (StatusCode, String) {
        let key = (
            token.unwrap_or_default().to_string(),
            method.to_string(),
            path.to_string(),
        );
        if let Some((at, status, msg)) = self
            .kept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            if at.elapsed() < KEEP {
                return (*status, msg.clone());
            }
        }
        let mut errors = Vec::new();
        for server in self.servers.candidates() {
            let mut req = self
                .http
                .put(self.servers.url(&server, "/v1/internal/acl/authorize"))
                .timeout(ASK_TIMEOUT)
                .json(&serde_json::json!({"Method": method, "Path": path}));
            if let Some(t) = token {
                req = req.header("X-Nomad-Token", t);
            }
            match req.send().await {
                Ok(r) if r.status().is_success() || r.status() == StatusCode::FORBIDDEN => {
                    let status = r.status();
                    let msg = r.text().await.unwrap_or_default();
                    let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
                    if kept.len() >= MAX_KEPT {
                        kept.clear();
                    }
                    kept.insert(key, (Instant::now(), status, msg.clone()));
                    return (status, msg);
                }
                Ok(r) => errors.push(format!("{server}: {}", r.status())),
                Err(e) => errors.push(format!("{server}: {e}")),
            }
        }
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("no server could check the ACL token: {}", errors.join(", ")),
        )
    }
}

/// The layer over a client-only agent's routes: its `/v1/client/*` and
/// its agent endpoints (`/v1/agent/self` needs `agent` read, as on a
/// server; `/v1/agent/health` nothing).
pub async fn layer(State(acl): State<Arc<ClientAcl>>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/v1/") {
        return next.run(req).await;
    }
    let token = token_from_headers(req.headers());
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let (status, msg) = acl
        .ask(token.as_deref(), req.method().as_str(), &path)
        .await;
    if status.is_success() {
        next.run(req).await
    } else {
        (status, msg).into_response()
    }
}
