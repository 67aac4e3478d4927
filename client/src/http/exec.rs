//! `GET /v1/client/allocation/:id/exec`: Nomad's exec WebSocket (issue F).
//! Stub until the exec session lands.

use std::sync::Arc;

use axum::Router;

use super::alloc::ClientControl;

/// The exec routes, state applied, ready to be merged.
pub fn router(ctl: Arc<dyn ClientControl>) -> Router {
    let _ = ctl;
    Router::new()
}
