//! `PUT /v1/system/gc`. Being written (issue C).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::{HttpError, HttpResult};
use super::App;

pub async fn gc(State(_app): State<App>) -> HttpResult<Response> {
    Err(HttpError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not implemented yet",
    ))
}
