//! `PUT /v1/job/{id}/plan`. Being written (issue C).

use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;

use super::error::{HttpError, HttpResult};
use super::query::RawQuery;
use super::App;

pub async fn plan(_app: &App, _q: &RawQuery, _id: &str, _body: &Bytes) -> HttpResult<Response> {
    Err(HttpError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not implemented yet",
    ))
}
