//! The agent endpoints of a client-only agent (`drover agent -client
//! -servers ...`), which has no server of its own to answer them:
//! `/v1/agent/self`, `/v1/agent/health` (its `client` section),
//! `/v1/agent/servers` and `/v1/agent/members`, as Nomad's client agent
//! answers them (`command/agent/agent_endpoint.go`). Members are the
//! servers', so that call is relayed to the first server that answers, as
//! Nomad's client sends `Status.Members` to a server.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use drover_client::runner::go_duration;
use serde_json::json;

/// What the endpoints report about this agent.
pub struct ClientAgent {
    pub name: String,
    pub region: String,
    pub datacenter: String,
    pub http_addr: String,
    /// The client's servers: configured, then as the servers list
    /// themselves; the first is the one in use.
    pub servers: Arc<drover_client::servers::Servers>,
    /// The node's ID, once the client has started.
    pub node_id: Arc<OnceLock<String>>,
    pub http: reqwest::Client,
}

/// How long a server may take to list its members.
const MEMBERS_TIMEOUT: Duration = Duration::from_secs(10);

pub fn router(agent: Arc<ClientAgent>) -> Router {
    Router::new()
        .route("/v1/agent/self", get(agent_self))
        .route("/v1/agent/health", get(health))
        .route("/v1/agent/servers", get(servers))
        .route("/v1/agent/members", get(members))
        .with_state(agent)
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// A client has no Serf member; Nomad answers a zero-valued one.
async fn agent_self(State(a): State<Arc<ClientAgent>>) -> Response {
    let node_id = a.node_id.get().cloned().unwrap_or_default();
    let last_heartbeat = a.servers.last_heartbeat();
    let body = json!({
        "config": {
            "Region": a.region,
            "Datacenter": a.datacenter,
            "NodeName": a.name,
            "Version": { "Version": env!("CARGO_PKG_VERSION"), "VersionPrerelease": "", "VersionMetadata": "" },
            "Server": { "Enabled": false },
            "Client": { "Enabled": true, "Servers": a.servers.configured() },
            "Addresses": { "HTTP": a.http_addr },
        },
        "member": {
            "Name": "", "Addr": null, "Port": 0, "Tags": null, "Status": "",
            "ProtocolMin": 0, "ProtocolMax": 0, "ProtocolCur": 0,
            "DelegateMin": 0, "DelegateMax": 0, "DelegateCur": 0,
        },
        "stats": {
            "client": {
                "node_id": node_id,
                "known_servers": a.servers.list().join(","),
                "last_heartbeat": last_heartbeat.map(|(ago, _)| go_duration(ago)).unwrap_or_default(),
                "heartbeat_ttl": last_heartbeat.map(|(_, ttl)| go_duration(ttl)).unwrap_or_default(),
            },
        },
    });
    json_response(StatusCode::OK, &body)
}

/// `{"client":{"ok":true,"message":"ok"}}` once the client has registered
/// its node; 500 before. With `type=` (Nomad api-docs/agent.mdx, "Health";
/// command/agent/agent_endpoint.go `HealthRequest`) only the kinds named
/// are reported, and `server`, which this agent does not run, is not
/// enabled, which makes the answer a 500.
async fn health(
    State(a): State<Arc<ClientAgent>>,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
) -> Response {
    let types: Vec<String> = query
        .into_iter()
        .filter(|(k, _)| k == "type")
        .map(|(_, v)| v)
        .collect();
    let want = |kind: &str| types.is_empty() || types.iter().any(|t| t == kind);
    let mut body = serde_json::Map::new();
    let mut ok = true;
    if want("client") {
        let registered = a.node_id.get().is_some();
        ok &= registered;
        let message = if registered {
            "ok"
        } else {
            "client not started"
        };
        body.insert(
            "client".into(),
            json!({ "ok": registered, "message": message }),
        );
    }
    if want("server") && !types.is_empty() {
        ok = false;
        body.insert(
            "server".into(),
            json!({ "ok": false, "message": "server not enabled" }),
        );
    }
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::INTERNAL_SERVER_ERROR
    };
    json_response(status, &body.into())
}

/// The HTTP addresses of the servers the client knows, the one in use
/// first. Nomad's client lists RPC addresses the same way (its server
/// manager's list); a Drover client reaches servers over HTTP.
async fn servers(State(a): State<Arc<ClientAgent>>) -> Response {
    json_response(StatusCode::OK, &json!(a.servers.list()))
}

/// The first server that answers lists its members; its answer is relayed
/// as it is. 500 naming each server's failure when none answers.
async fn members(State(a): State<Arc<ClientAgent>>, headers: axum::http::HeaderMap) -> Response {
    let mut errors = Vec::new();
    for server in &a.servers.candidates() {
        let url = a.servers.url(server, "/v1/agent/members");
        // The caller's token goes along: the server checks it too.
        let mut req = a.http.get(&url).timeout(MEMBERS_TIMEOUT);
        for name in ["x-nomad-token", "authorization"] {
            if let Some(v) = headers.get(name) {
                req = req.header(name, v.as_bytes());
            }
        }
        let answer = req.send().await;
        match answer {
            Ok(r) => {
                let status = r.status();
                match r.bytes().await {
                    Ok(body) => {
                        return (status, [(header::CONTENT_TYPE, "application/json")], body)
                            .into_response()
                    }
                    Err(e) => errors.push(format!("{server}: {e}")),
                }
            }
            Err(e) => errors.push(format!("{server}: {e}")),
        }
    }
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("no server answered: {}", errors.join(", ")),
    )
        .into_response()
}
