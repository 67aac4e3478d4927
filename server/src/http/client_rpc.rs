//! The client-to-server calls (Nomad's `Node.Register`, `Node.UpdateStatus`,
//! `Node.UpdateAlloc` RPCs) over HTTP. Being written (issue C).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use super::error::{HttpError, HttpResult};
use super::App;

pub async fn register(State(_app): State<App>) -> HttpResult<Response> {
    Err(HttpError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not implemented yet",
    ))
}

pub async fn update_status(
    State(_app): State<App>,
    Path(_id): Path<String>,
) -> HttpResult<Response> {
    Err(HttpError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not implemented yet",
    ))
}

pub async fn update_allocs(
    State(_app): State<App>,
    Path(_id): Path<String>,
) -> HttpResult<Response> {
    Err(HttpError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not implemented yet",
    ))
}
