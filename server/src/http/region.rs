//! `?region=`: Drover serves one region, the agent's own. Nomad forwards a
//! request that names another region to a server of that region, and
//! answers `No path to region` (a 500) when it knows none (Nomad
//! api-docs/index.mdx, "Cross-Region Requests"; command/agent/http.go
//! `parseRegion`, nomad/rpc.go `forwardRegion`). Drover has no federation,
//! so every other region has no path; an empty `region` means the agent's.
//! The endpoints an agent answers itself or relays to a client node are
//! left alone: no server's state is read for them.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::HttpError;
use super::App;

/// Paths this agent answers itself or relays, whatever `region` says.
const LOCAL: [&str; 6] = [
    "/v1/agent/",
    "/v1/regions",
    "/v1/metrics",
    "/v1/client/",
    "/v1/internal/",
    "/v1/jobs/parse",
];

pub async fn layer(State(app): State<App>, mut req: Request, next: Next) -> Response {
    super::namespace_header::rewrite(&mut req);
    let path = req.uri().path();
    if !LOCAL.iter().any(|p| path.starts_with(p)) {
        let other = req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "region")
                .map(|(_, v)| v.into_owned())
        });
        if let Some(region) = other.filter(|r| !r.is_empty() && *r != app.info.region) {
            return HttpError::internal(format!("No path to region {region:?}")).into_response();
        }
    }
    next.run(req).await
}
