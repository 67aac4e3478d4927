//! Exec and attach sessions recorded with the servers: the agent's
//! [`SessionAudit`]. A start is `PUT /v1/internal/node/exec-session` with
//! the node's secret and the user's token, which the servers check again
//! and turn into the `ExecSessionStarted` event; an end is the same call
//! with the record the start returned, the exit code and the reason.
//!
//! With ACLs on, an open session asks the servers to hold an answer
//! while its token may still open it (`PUT /v1/internal/acl/authorize`
//! with `"Watch": true`): the answer comes as a 403 the moment the token
//! is deleted, expires or loses the capability, and the session is closed
//! with its reason. A server that cannot be reached does not end a
//! session; the watch is asked again, of the next server, a second later.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use drover_api::{ExecSession, ExecSessionReport};

use crate::http::alloc::BoxFuture;
use crate::http::audit::{AuditError, OpenSession, SessionAudit, SessionEnd, SessionStart};
use crate::servers::Servers;

/// How long a record call may take.
const RECORD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a watch may be held: the servers answer after 60 s at most.
const WATCH_TIMEOUT: Duration = Duration::from_secs(90);
/// The pause before a watch is asked again after a failure or a quick
/// answer.
const RETRY: Duration = Duration::from_secs(1);
/// The user's headers that carry their token to the servers.
const TOKEN_HEADERS: [&str; 2] = ["x-nomad-token", "authorization"];
/// The header the node's secret goes in.
const NODE_SECRET: &str = "x-drover-node-secret";

/// How this node reaches its servers and proves itself; known once the
/// client has started.
pub struct RecorderLink {
    pub servers: Arc<Servers>,
    pub http: reqwest::Client,
    pub node_id: String,
    pub node_secret: String,
}

/// The agent's session recorder. Built before the client starts (the
/// routes are), linked once it has.
pub struct SessionRecorder {
    link: Arc<OnceLock<Arc<RecorderLink>>>,
    acl_enabled: bool,
}

impl SessionRecorder {
    /// With `acl_enabled`, open sessions watch their tokens.
    pub fn new(acl_enabled: bool) -> SessionRecorder {
        SessionRecorder {
            link: Arc::default(),
            acl_enabled,
        }
    }

    /// Where the records go; the first link given stays.
    pub fn link(&self, link: RecorderLink) {
        let _ = self.link.set(Arc::new(link));
    }
}

impl SessionAudit for SessionRecorder {
    fn open<'a>(
        &'a self,
        start: SessionStart,
        headers: &'a HeaderMap,
    ) -> BoxFuture<'a, Result<Box<dyn OpenSession>, AuditError>> {
        Box::pin(async move {
            let link = self.link.get().cloned().ok_or_else(|| {
                AuditError::Unavailable("this node has not started yet".to_string())
            })?;
            let token: Vec<(String, Vec<u8>)> = TOKEN_HEADERS
                .iter()
                .filter_map(|name| {
                    headers
                        .get(*name)
                        .map(|v| (name.to_string(), v.as_bytes().to_vec()))
                })
                .collect();
            let session = ExecSession {
                id: uuid::Uuid::new_v4().to_string(),
                kind: start.kind.to_string(),
                alloc_id: start.alloc_id,
                task: start.task,
                command: start.command,
                tty: start.tty,
                node_id: link.node_id.clone(),
                ..Default::default()
            };
            let report = ExecSessionReport {
                phase: "start".to_string(),
                session,
            };
            let (status, body) = report_to_servers(&link, &report, &token).await?;
            if status == reqwest::StatusCode::FORBIDDEN {
                return Err(AuditError::Refused(body));
            }
            if !status.is_success() {
                return Err(AuditError::Unavailable(format!(
                    "the servers did not record the session: {status}: {body}"
                )));
            }
            let session: ExecSession = serde_json::from_str(&body).map_err(|e| {
                AuditError::Unavailable(format!("the servers' record does not decode: {e}"))
            })?;
            Ok(Box::new(Recorded {
                link,
                session,
                token,
                watch: self.acl_enabled,
            }) as Box<dyn OpenSession>)
        })
    }
}

/// An open session the servers have on record.
struct Recorded {
    link: Arc<RecorderLink>,
    session: ExecSession,
    token: Vec<(String, Vec<u8>)>,
    watch: bool,
}

impl Recorded {
    /// The call whose permission the session depends on.
    fn guarded_path(&self) -> String {
        format!(
            "/v1/client/allocation/{}/{}?{}",
            self.session.alloc_id,
            self.session.kind,
            form_urlencoded::Serializer::new(String::new())
                .append_pair("task", &self.session.task)
                .finish()
        )
    }
}

impl OpenSession for Recorded {
    fn revoked(&self) -> BoxFuture<'_, String> {
        Box::pin(async move {
            if !self.watch {
                return std::future::pending().await;
            }
            let body = serde_json::json!({
                "Method": "GET",
                "Path": self.guarded_path(),
                "Watch": true,
            });
            loop {
                for server in self.link.servers.candidates() {
                    let asked = Instant::now();
                    let mut req = self
                        .link
                        .http
                        .put(self.link.servers.url(&server, "/v1/internal/acl/authorize"))
                        .timeout(WATCH_TIMEOUT)
                        .json(&body);
                    for (name, value) in &self.token {
                        req = req.header(name.as_str(), value.as_slice());
                    }
                    match req.send().await {
                        Ok(r) if r.status() == reqwest::StatusCode::FORBIDDEN => {
                            return r.text().await.unwrap_or_default();
                        }
                        // Still allowed: ask again, at once unless the
                        // answer came back too quickly to be a watch.
                        Ok(r) if r.status().is_success() => {
                            if asked.elapsed() < RETRY {
                                tokio::time::sleep(RETRY).await;
                            }
                            break;
                        }
                        Ok(r) => {
                            tracing::debug!(server = %server, status = %r.status(), "session token watch failed");
                        }
                        Err(e) => {
                            tracing::debug!(server = %server, error = %e, "session token watch failed");
                        }
                    }
                    tokio::time::sleep(RETRY).await;
                }
            }
        })
    }

    fn ended(self: Box<Self>, end: SessionEnd) -> BoxFuture<'static, ()> {
        Box::pin(async move {
            let mut session = self.session;
            session.exit_code = end.exit_code;
            session.end_reason = end.reason;
            let report = ExecSessionReport {
                phase: "end".to_string(),
                session,
            };
            match report_to_servers(&self.link, &report, &self.token).await {
                Ok((status, _)) if status.is_success() => {}
                Ok((status, body)) => {
                    tracing::warn!(session = %report.session.id, %status, %body, "the servers did not record an exec session's end");
                }
                Err(e) => {
                    tracing::warn!(session = %report.session.id, error = ?e, "the servers did not record an exec session's end");
                }
            }
        })
    }
}

/// The report sent to each server in turn until one answers; its status
/// and body.
async fn report_to_servers(
    link: &RecorderLink,
    report: &ExecSessionReport,
    token: &[(String, Vec<u8>)],
) -> Result<(reqwest::StatusCode, String), AuditError> {
    let mut failures = Vec::new();
    for server in link.servers.candidates() {
        let mut req = link
            .http
            .put(link.servers.url(&server, "/v1/internal/node/exec-session"))
            .timeout(RECORD_TIMEOUT)
            .header(NODE_SECRET, link.node_secret.as_str())
            .json(report);
        for (name, value) in token {
            req = req.header(name.as_str(), value.as_slice());
        }
        match req.send().await {
            Ok(r) => {
                let status = r.status();
                let body = r.text().await.unwrap_or_default();
                return Ok((status, body));
            }
            Err(e) => failures.push(format!("{server}: {}", crate::servers::error_chain(&e))),
        }
    }
    Err(AuditError::Unavailable(format!(
        "no server recorded the session: {}",
        failures.join(", ")
    )))
}
