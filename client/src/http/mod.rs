//! The client's own HTTP endpoints (`/v1/client/fs/*`), served from the
//! allocation directories on this node. The agent merges [`router`] into its
//! HTTP server; servers forward requests for allocations on other nodes.
//!
//! Architecture Invariant: nothing here knows the alloc runners. The
//! endpoints see allocations only through [`ClientAllocs`] and
//! [`alloc::ClientControl`], so they can be tested over a temporary
//! directory and the runner can change freely.

pub mod alloc;
pub mod attach;
pub mod audit;
pub mod exec;
mod fs;
mod stream;
mod ws;

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::allocdir::{AllocDir, AllocDirError};

/// What the fs endpoints need to know about this client's allocations.
pub trait ClientAllocs: Send + Sync + 'static {
    /// The allocation's directory, or None if this client does not know it.
    fn alloc_dir(&self, alloc_id: &str) -> Option<AllocDir>;
    /// The task names of the allocation (None: unknown alloc).
    fn tasks(&self, alloc_id: &str) -> Option<Vec<String>>;
    /// Whether the task has finished for good (dead and not restarting): a follow ends then.
    fn task_dead(&self, alloc_id: &str, task: &str) -> bool;
}

/// The `/v1/client/fs/*` routes, state applied, ready to be merged.
pub fn router(allocs: Arc<dyn ClientAllocs>) -> Router {
    Router::new()
        .route("/v1/client/fs/ls/{alloc_id}", get(fs::ls))
        .route("/v1/client/fs/stat/{alloc_id}", get(fs::stat))
        .route("/v1/client/fs/cat/{alloc_id}", get(fs::cat))
        .route("/v1/client/fs/readat/{alloc_id}", get(fs::readat))
        .route("/v1/client/fs/stream/{alloc_id}", get(stream::stream))
        .route("/v1/client/fs/logs/{alloc_id}", get(stream::logs))
        .with_state(allocs)
}

type Allocs = Arc<dyn ClientAllocs>;
type Params = HashMap<String, String>;

/// An error answered before any body was sent: Nomad's status code and a
/// plain-text message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HttpError {
    status: StatusCode,
    message: String,
}

impl HttpError {
    fn bad_request(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    fn forbidden(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    fn not_found(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }

    fn internal(message: impl Into<String>) -> HttpError {
        HttpError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: message.into(),
        }
    }

    /// Nomad's `structs.NewErrUnknownAllocation`, a 404.
    fn unknown_alloc(alloc_id: &str) -> HttpError {
        HttpError::not_found(format!("Unknown allocation {alloc_id:?}"))
    }
}

/// Answers name paths as the user gave them, never the agent's data
/// directory: an [`AllocDirError::Io`], which names a host path, is logged
/// here and answered without it.
impl From<AllocDirError> for HttpError {
    fn from(e: AllocDirError) -> HttpError {
        match &e {
            AllocDirError::Escapes { .. }
            | AllocDirError::InvalidName { .. }
            | AllocDirError::NulByte { .. } => HttpError::bad_request(e.to_string()),
            AllocDirError::NotFound { .. } => HttpError::not_found(e.to_string()),
            AllocDirError::Access { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => HttpError::not_found(e.to_string()),
                std::io::ErrorKind::NotADirectory | std::io::ErrorKind::InvalidInput => {
                    HttpError::bad_request(e.to_string())
                }
                _ => HttpError::internal(e.to_string()),
            },
            AllocDirError::Io { source, .. } => {
                tracing::warn!(error = %e, "alloc directory I/O failed");
                HttpError::internal(format!("alloc directory I/O failed: {source}"))
            }
        }
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, message = %self.message, "client fs request failed");
        }
        (
            self.status,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            self.message,
        )
            .into_response()
    }
}

type HttpResult<T> = Result<T, HttpError>;

fn lookup_dir(allocs: &Allocs, alloc_id: &str) -> HttpResult<AllocDir> {
    allocs
        .alloc_dir(alloc_id)
        .ok_or_else(|| HttpError::unknown_alloc(alloc_id))
}

/// A required, non-empty query parameter.
fn required<'a>(params: &'a Params, name: &str, missing: &str) -> HttpResult<&'a str> {
    match params.get(name).map(String::as_str) {
        Some(v) if !v.is_empty() => Ok(v),
        _ => Err(HttpError::bad_request(missing)),
    }
}

/// A boolean as Go's `strconv.ParseBool` reads it; absent or empty is `default`.
fn parse_bool(params: &Params, name: &str, default: bool) -> HttpResult<bool> {
    match params.get(name).map(String::as_str) {
        None | Some("") => Ok(default),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(other) => Err(HttpError::bad_request(format!(
            "failed to parse {name} field to boolean: invalid syntax: {other:?}"
        ))),
    }
}

/// A non-negative byte count; absent or empty is 0.
fn parse_u64(params: &Params, name: &str) -> HttpResult<u64> {
    match params.get(name).map(String::as_str) {
        None | Some("") => Ok(0),
        Some(v) => v.parse::<u64>().map_err(|_| {
            HttpError::bad_request(format!(
                "error parsing {name}: {v:?} is not a non-negative integer"
            ))
        }),
    }
}

/// Where a read starts: `start` (the default) or `end`.
fn parse_origin(params: &Params) -> HttpResult<crate::logmon::Origin> {
    match params.get("origin").map(String::as_str) {
        None | Some("" | "start") => Ok(crate::logmon::Origin::Start),
        Some("end") => Ok(crate::logmon::Origin::End),
        Some(_) => Err(HttpError::bad_request("origin must be start or end")),
    }
}
