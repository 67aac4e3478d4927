//! The live allocation endpoints (Nomad command/agent/alloc_endpoint.go):
//! `PUT /v1/client/allocation/:id/signal`, `/restart`,
//! `GET /v1/client/allocation/:id/stats` and `GET /v1/client/stats`. They act through
//! [`ClientControl`], which the agent implements over its alloc runners.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use drover_api::{AllocResourceUsage, AllocRestartRequest, AllocSignalRequest, HostStats};

use super::{HttpError, HttpResult};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a control request failed, as the HTTP status it maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlError {
    /// 404: the allocation is not on this client.
    UnknownAlloc(String),
    /// 400: an unknown task or signal, or a task that is not running.
    BadRequest(String),
    /// 500.
    Internal(String),
}

/// What the live endpoints ask of the client.
pub trait ClientControl: Send + Sync + 'static {
    /// Send `signal` to `task`, or to every running task when `None`.
    fn signal<'a>(
        &'a self,
        alloc_id: &'a str,
        task: Option<&'a str>,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
    /// Restart `task`, or every running task when `None`.
    fn restart<'a>(
        &'a self,
        alloc_id: &'a str,
        task: Option<&'a str>,
        all_tasks: bool,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
    fn stats<'a>(
        &'a self,
        alloc_id: &'a str,
    ) -> BoxFuture<'a, Result<AllocResourceUsage, ControlError>>;
    /// The host's statistics (`GET /v1/client/stats`).
    fn host_stats(&self) -> BoxFuture<'_, Result<HostStats, ControlError>>;
    /// Starts a command inside a running task.
    fn exec<'a>(
        &'a self,
        alloc_id: &'a str,
        task: &'a str,
        req: crate::driver::ExecRequest,
    ) -> BoxFuture<'a, Result<crate::driver::ExecSession, ControlError>>;
    /// What an attach to a running task needs (Drover extension, see
    /// [`super::attach`]).
    fn attach<'a>(
        &'a self,
        alloc_id: &'a str,
        task: &'a str,
    ) -> BoxFuture<'a, Result<super::attach::AttachTarget, ControlError>>;
}

impl From<ControlError> for HttpError {
    fn from(e: ControlError) -> HttpError {
        match e {
            ControlError::UnknownAlloc(id) => HttpError::unknown_alloc(&id),
            ControlError::BadRequest(m) => HttpError::bad_request(m),
            ControlError::Internal(m) => HttpError::internal(m),
        }
    }
}

type Ctl = Arc<dyn ClientControl>;

/// The live allocation routes, state applied, ready to be merged; exec and
/// attach sessions are recorded with `audit`.
pub fn router(ctl: Ctl, audit: Arc<dyn super::audit::SessionAudit>) -> Router {
    Router::new()
        .route(
            "/v1/client/allocation/{alloc_id}/signal",
            put(signal).post(signal),
        )
        .route(
            "/v1/client/allocation/{alloc_id}/restart",
            put(restart).post(restart),
        )
        .route("/v1/client/allocation/{alloc_id}/stats", get(stats))
        .route("/v1/client/stats", get(host_stats))
        .with_state(ctl.clone())
        .merge(super::exec::router(ctl.clone(), audit.clone()))
        .merge(super::attach::router(ctl, audit))
}

/// An empty body is an empty request, as Nomad's decoder treats it.
fn decode<T: serde::de::DeserializeOwned + Default>(body: &Bytes) -> HttpResult<T> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| HttpError::bad_request(format!("failed to decode request body: {e}")))
}

fn some(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

async fn signal(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: AllocSignalRequest = decode(&body)?;
    // Nomad's default signal for `alloc signal` is SIGKILL.
    let sig = some(&req.signal).unwrap_or("SIGKILL");
    ctl.signal(&id, some(&req.task), sig).await?;
    Ok(Json(serde_json::json!({})).into_response())
}

async fn restart(
    State(ctl): State<Ctl>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: AllocRestartRequest = decode(&body)?;
    ctl.restart(&id, some(&req.task_name), req.all_tasks)
        .await?;
    Ok(Json(serde_json::json!({})).into_response())
}

async fn stats(State(ctl): State<Ctl>, Path(id): Path<String>) -> HttpResult<Response> {
    Ok(Json(ctl.stats(&id).await?).into_response())
}

async fn host_stats(State(ctl): State<Ctl>) -> HttpResult<Response> {
    Ok(Json(ctl.host_stats().await?).into_response())
}
