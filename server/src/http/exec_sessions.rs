//! `PUT /v1/internal/node/exec-session` (Drover): a client node records an
//! exec or attach session it opens or ends, as events on the `Exec` topic
//! (`ExecSessionStarted`, `ExecSessionEnded`). Nomad keeps no such record;
//! see [`drover_api::ExecSession`].
//!
//! The node proves itself with its secret (`X-Drover-Node-Secret`); the
//! user's token comes along as on the session itself (`X-Nomad-Token` or
//! `Authorization: Bearer`). A start is checked again here with the
//! route's own rule (`alloc-exec`, and `alloc-node-exec` for raw_exec), so
//! a session is only recorded for a token allowed to open it, and the
//! server fills in what the node cannot be trusted with: the namespace,
//! job and task group from the allocation, the token's accessor, and the
//! start time. An end carries the record its start returned, and the
//! server stamps the end time.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use drover_api::{ExecSession, ExecSessionReport, EXEC_SESSION_ATTACH, EXEC_SESSION_EXEC};
use drover_state::command::{ExecSessionEnd, ExecSessionStart};
use drover_state::{Command, WatchSet};

use super::blocking::write_response;
use super::error::{HttpError, HttpResult};
use super::job_writes::write;
use super::App;
use crate::acl::enforce::{
    authorize, forbidden, is_node_secret, token_from_headers, PERMISSION_DENIED,
};

/// The header a client node sends its secret in.
pub const NODE_SECRET_HEADER: &str = "x-drover-node-secret";

/// The accessor recorded for a request without a token, with ACLs on
/// (Nomad's anonymous token's accessor).
const ANONYMOUS_ACCESSOR: &str = "anonymous";

pub async fn report(
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> HttpResult<Response> {
    let report: ExecSessionReport = serde_json::from_slice(&body)
        .map_err(|e| HttpError::bad_request(format!("failed to decode request body: {e}")))?;
    let mut session = report.session;
    if session.id.is_empty() {
        return Err(HttpError::bad_request("Session.ID: missing"));
    }
    let now = crate::clock::unix_nanos();
    let cmd = match report.phase.as_str() {
        "start" => {
            if let Err(refusal) = start(&app, &headers, &mut session).await? {
                return Ok(refusal);
            }
            session.started_at = now;
            session.ended_at = 0;
            Command::ExecSessionStart(ExecSessionStart {
                session: session.clone(),
                now,
            })
        }
        "end" => {
            if !node_secret_matches(&app, &headers, &session.node_id) {
                return Ok(forbidden(PERMISSION_DENIED));
            }
            session.ended_at = now;
            Command::ExecSessionEnd(ExecSessionEnd {
                session: session.clone(),
                now,
            })
        }
        other => {
            return Err(HttpError::bad_request(format!(
                "Phase: must be \"start\" or \"end\", not {other:?}"
            )))
        }
    };
    let index = write(&app, cmd).await?;
    Ok(write_response(&session, index))
}

/// Fill in a starting session from its allocation and the token, or the
/// refusal (as the session's own route would answer it).
async fn start(
    app: &App,
    headers: &HeaderMap,
    session: &mut ExecSession,
) -> HttpResult<Result<(), Response>> {
    let op = match session.kind.as_str() {
        EXEC_SESSION_EXEC => "exec",
        EXEC_SESSION_ATTACH => "attach",
        other => {
            return Err(HttpError::bad_request(format!(
                "Session.Kind: must be \"exec\" or \"attach\", not {other:?}"
            )))
        }
    };
    if session.task.is_empty() {
        return Err(HttpError::bad_request("Session.Task: missing"));
    }
    {
        let applied = app.raft.shared.read();
        let row = applied
            .state
            .alloc(&mut WatchSet::new(), &session.alloc_id)
            .ok_or_else(|| {
                HttpError::not_found(format!("Unknown allocation {:?}", session.alloc_id))
            })?;
        let alloc = &row.alloc;
        session.namespace.clone_from(&alloc.namespace);
        session.job_id.clone_from(&alloc.job_id);
        session.task_group.clone_from(&alloc.task_group);
        session.node_id.clone_from(&alloc.node_id);
    }
    if !node_secret_matches(app, headers, &session.node_id) {
        return Ok(Err(forbidden(PERMISSION_DENIED)));
    }
    let path = format!(
        "/v1/client/allocation/{}/{op}?{}",
        session.alloc_id,
        form_urlencoded::Serializer::new(String::new())
            .append_pair("task", &session.task)
            .finish()
    );
    if let Err(refusal) = authorize(app, Method::GET, &path, headers).await {
        return Ok(Err(refusal));
    }
    session.accessor_id = accessor(app, headers);
    Ok(Ok(()))
}

/// The accessor of the request's token: empty with ACLs off.
fn accessor(app: &App, headers: &HeaderMap) -> String {
    if !app.acl.enabled {
        return String::new();
    }
    let Some(secret) = token_from_headers(headers) else {
        return ANONYMOUS_ACCESSOR.to_string();
    };
    let applied = app.raft.shared.read();
    applied
        .state
        .acl_token_by_secret_hash(&crate::acl::sha256::hex(secret.as_bytes()))
        .map(|t| t.accessor_id.clone())
        .unwrap_or_default()
}

/// Whether the request carries the secret of registered node `node_id`.
fn node_secret_matches(app: &App, headers: &HeaderMap, node_id: &str) -> bool {
    headers
        .get(NODE_SECRET_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|secret| is_node_secret(app, node_id, secret))
}
