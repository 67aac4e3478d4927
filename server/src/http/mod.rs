//! The `/v1` HTTP API in Nomad's wire format (axum).
//!
//! Handlers parse their query once into [`query::QueryOptions`], read the
//! state through [`blocking::blocking`] (which parks on exactly the keys the
//! read touched), and answer with Nomad's headers. Writes stamp IDs and
//! times here and go through Raft; nothing below `State::apply` sees a clock.
//! On a server that does not lead, [`leader_forward`] sends writes and
//! consistent reads on to the leader before any handler runs.

mod acl;
mod acl_tokens;
mod allocs;
mod autopilot;
pub mod blocking;
mod client_rpc;
mod deployments;
pub mod error;
mod eval_delete;
mod evals;
mod events;
mod exec_sessions;
pub mod forward;
mod job_dispatch;
mod job_lifecycle;
mod job_plan;
pub(crate) mod job_writes;
mod jobs;
pub mod leader_forward;
mod list;
mod metrics;
mod namespace_header;
mod namespaces;
mod node_pools;
mod node_writes;
mod nodes;
mod operator;
pub mod pretty;
pub mod query;
mod region;
mod scaling;
mod scheduler_config;
mod search;
pub mod serve;
mod status;
mod submission;
mod system;
mod tls_accept;

use std::sync::Arc;

use axum::http::{Method, Uri};
use axum::routing::{any, delete, get, put};
use axum::Router;

use crate::raft::node::RaftHandle;
use error::HttpError;

/// Facts about this agent that reads report.
#[derive(Debug, Clone)]
pub struct AgentInfo {
    pub name: String,
    pub region: String,
    pub datacenter: String,
    pub http_addr: String,
    pub rpc_addr: String,
    pub version: String,
    /// Drivers a job may name (each client registers its own).
    pub known_drivers: Vec<String>,
}

/// What every handler gets.
pub struct AppState {
    pub raft: RaftHandle,
    pub info: AgentInfo,
    /// Flips to `true` when the agent shuts down: long streams end on it.
    pub shutdown: tokio::sync::watch::Receiver<bool>,
    /// The leader's node heartbeat timers (reset by the client calls).
    pub heartbeats: Arc<crate::heartbeat::Heartbeats>,
    /// This agent's own client (a dev agent), for `/v1/client/*`.
    pub local_client: Option<forward::LocalClient>,
    /// Cluster membership: `PUT /v1/agent/join`.
    pub cluster: Arc<crate::cluster::Cluster>,
    /// The leader duties' counters, for `/v1/metrics`.
    pub scheduler: Arc<crate::leader::SchedulerStats>,
    /// How `/v1/client/*` reaches other nodes (HTTPS under `tls`).
    pub node_link: forward::NodeLink,
    /// The agent's `acl` block: with `enabled` off nothing is checked.
    pub acl: crate::acl::enforce::AclConfig,
}

pub type App = Arc<AppState>;

pub fn router(app: App) -> Router {
    let routes = Router::new()
        .route(
            "/v1/jobs",
            get(jobs::list).put(jobs::register).post(jobs::register),
        )
        .route("/v1/jobs/parse", put(jobs::parse).post(jobs::parse))
        .route("/v1/validate/job", put(jobs::validate).post(jobs::validate))
        .route("/v1/job/{*rest}", any(jobs::dispatch))
        .route("/v1/allocations", get(allocs::list))
        .route("/v1/allocation/{id}", get(allocs::get_one))
        .route("/v1/allocation/{id}/services", get(allocs::services))
        .route("/v1/allocation/{id}/checks", get(allocs::checks))
        .route(
            "/v1/allocation/{id}/stop",
            put(node_writes::stop_alloc).post(node_writes::stop_alloc),
        )
        .route(
            "/v1/evaluations",
            get(evals::list).delete(eval_delete::delete),
        )
        .route("/v1/evaluations/count", get(evals::count))
        .route("/v1/evaluation/{id}", get(evals::get_one))
        .route("/v1/evaluation/{id}/allocations", get(evals::allocations))
        .route("/v1/deployments", get(deployments::list))
        .route("/v1/deployment/{id}", get(deployments::get_one))
        .route(
            "/v1/deployment/allocations/{id}",
            get(deployments::allocations),
        )
        .route(
            "/v1/deployment/promote/{id}",
            put(deployments::promote).post(deployments::promote),
        )
        .route(
            "/v1/deployment/fail/{id}",
            put(deployments::fail).post(deployments::fail),
        )
        .route(
            "/v1/deployment/pause/{id}",
            put(deployments::pause).post(deployments::pause),
        )
        .route(
            "/v1/deployment/allocation-health/{id}",
            put(deployments::allocation_health).post(deployments::allocation_health),
        )
        .route("/v1/nodes", get(nodes::list))
        .route("/v1/node/pools", get(node_pools::list))
        .route("/v1/node/pool/{name}", get(node_pools::get_one))
        .route("/v1/node/pool/{name}/nodes", get(node_pools::nodes))
        .route("/v1/node/pool/{name}/jobs", get(node_pools::jobs))
        .route("/v1/node/{id}", get(nodes::get_one))
        .route("/v1/node/{id}/allocations", get(nodes::allocations))
        .route(
            "/v1/node/{id}/eligibility",
            put(node_writes::eligibility).post(node_writes::eligibility),
        )
        .route(
            "/v1/node/{id}/evaluate",
            put(node_writes::evaluate_node).post(node_writes::evaluate_node),
        )
        .route(
            "/v1/node/{id}/purge",
            put(node_writes::purge_node).post(node_writes::purge_node),
        )
        .route(
            "/v1/node/{id}/drain",
            put(node_writes::drain).post(node_writes::drain),
        )
        .route("/v1/search", put(search::prefix).post(search::prefix))
        .route("/v1/search/fuzzy", put(search::fuzzy).post(search::fuzzy))
        .route("/v1/scaling/policies", get(scaling::list))
        .route("/v1/scaling/policy/{id}", get(scaling::get_one))
        .route("/v1/namespaces", get(namespaces::list))
        .route(
            "/v1/namespace",
            put(namespaces::create).post(namespaces::create),
        )
        .route("/v1/namespace/", any(namespaces::missing_name))
        .route(
            "/v1/namespace/{name}",
            get(namespaces::get_one)
                .put(namespaces::update)
                .post(namespaces::update)
                .delete(namespaces::delete),
        )
        .route("/v1/system/gc", put(system::gc))
        .route("/v1/internal/node/register", put(client_rpc::register))
        .route("/v1/internal/node/exec-session", put(exec_sessions::report))
        .route(
            "/v1/internal/node/{id}/status",
            put(client_rpc::update_status),
        )
        .route(
            "/v1/internal/node/{id}/allocs",
            // Batched task updates with their events: larger than the
            // 2 MB default allows.
            put(client_rpc::update_allocs).layer(axum::extract::DefaultBodyLimit::max(32 << 20)),
        )
        .route("/v1/client/{*rest}", any(forward::forward))
        .route("/v1/status/leader", get(status::leader))
        .route("/v1/status/peers", get(status::peers))
        .route("/v1/agent/self", get(status::agent_self))
        .route("/v1/agent/members", get(operator::members))
        .route("/v1/agent/servers", get(operator::servers))
        .route(
            "/v1/operator/raft/configuration",
            get(operator::raft_configuration),
        )
        .route("/v1/operator/raft/peer", delete(operator::remove_peer))
        .route(
            "/v1/operator/raft/transfer-leadership",
            put(operator::transfer_leadership).post(operator::transfer_leadership),
        )
        .route(
            "/v1/operator/scheduler/configuration",
            get(scheduler_config::get)
                .put(scheduler_config::set)
                .post(scheduler_config::set),
        )
        .route(
            "/v1/operator/autopilot/health",
            get(operator::autopilot_health),
        )
        .route(
            "/v1/operator/autopilot/configuration",
            get(autopilot::get).put(autopilot::set).post(autopilot::set),
        )
        .route(
            "/v1/operator/snapshot",
            get(operator::snapshot_save)
                .put(operator::snapshot_restore)
                .post(operator::snapshot_restore)
                // A snapshot is the whole state.
                .layer(axum::extract::DefaultBodyLimit::max(1 << 30)),
        )
        .route("/v1/agent/health", get(status::health))
        .route("/v1/agent/join", put(status::join).post(status::join))
        .route("/v1/regions", get(status::regions))
        .route("/v1/event/stream", get(events::stream))
        .route("/v1/metrics", get(metrics::metrics))
        .route(
            "/v1/acl/bootstrap",
            put(acl::bootstrap).post(acl::bootstrap),
        )
        .route("/v1/internal/acl/authorize", put(acl::authorize))
        .route("/v1/acl/policies", get(acl::list_policies))
        .route(
            "/v1/acl/policy/{name}",
            get(acl::get_policy)
                .put(acl::put_policy)
                .post(acl::put_policy)
                .delete(acl::delete_policy),
        )
        .route("/v1/acl/tokens", get(acl_tokens::list))
        .route(
            "/v1/acl/token",
            put(acl_tokens::create).post(acl_tokens::create),
        )
        .route("/v1/acl/token/self", get(acl_tokens::get_self))
        .route(
            "/v1/acl/token/{accessor}",
            get(acl_tokens::get_one)
                .put(acl_tokens::update)
                .post(acl_tokens::update)
                .delete(acl_tokens::delete),
        )
        .fallback(not_found);
    // Innermost: a request forwarded to the leader is checked there,
    // against the newest tokens and policies. Without ACLs there is no
    // layer at all: each adds its future to every parked blocking query.
    let routes = if app.acl.enabled {
        routes.layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::acl::enforce::layer,
        ))
    } else {
        routes
    };
    routes
        // Every route, so nothing the leader must answer is missed.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            leader_forward::layer,
        ))
        // Before forwarding: no server of this cluster serves another
        // region; `X-Nomad-Namespace` becomes `?namespace=` here too.
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            region::layer,
        ))
        .layer(axum::middleware::from_fn(pretty::layer))
        .with_state(app)
}

async fn not_found(method: Method, uri: Uri) -> HttpError {
    HttpError::not_found(format!("Invalid URL: {method} {}", uri.path()))
}
