//! Status and agent endpoints (Nomad status_endpoint.go, agent_endpoint.go).

use std::collections::BTreeMap;

use axum::extract::{RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{AgentHealth, AgentHealthResponse, AgentMember};
use serde_json::json as j;

use super::blocking::{json, QueryMeta};
use super::error::{HttpError, HttpResult};
use super::query::RawQuery;
use super::App;
use crate::cluster::Leadership;

/// The leader's RPC address as a JSON string, `""` when none is known.
/// A leader cut off from its quorum for a lease names nobody, as a
/// hashicorp/raft leader steps down once its `LeaderLeaseTimeout` passes
/// (openraft's goes on leading until it hears of a higher term).
pub async fn leader(State(app): State<App>) -> Response {
    json(&known_leader(&app), &QueryMeta::latest(&app))
}

/// The RPC address of the leader this server can vouch for, `""` for none.
fn known_leader(app: &App) -> String {
    if app.cluster.leadership() == Leadership::Unknown {
        return String::new();
    }
    app.raft.leader().map(|(_, addr)| addr).unwrap_or_default()
}

/// The RPC addresses of the voters, as Nomad's `Status.Peers` lists the
/// Raft configuration's servers (`command/agent/status_endpoint.go`).
pub async fn peers(State(app): State<App>) -> Response {
    let peers: Vec<String> = app
        .raft
        .voters()
        .into_iter()
        .map(|(_, addr)| addr)
        .collect();
    json(&peers, &QueryMeta::latest(&app))
}

/// `PUT /v1/agent/join?address=...` (repeatable): join the cluster of each
/// server named, by its RPC address. Nomad's answer shape
/// (`command/agent/agent_endpoint.go`, `AgentJoinRequest`): 200 with
/// `{"num_joined": N, "error": "..."}`, the errors of the ones that failed
/// joined by `, `.
pub async fn join(State(app): State<App>, uri: axum::http::Uri) -> HttpResult<Response> {
    let addresses: Vec<String> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .filter(|(k, _)| k == "address")
        .map(|(_, v)| v.into_owned())
        .collect();
    if addresses.is_empty() {
        return Err(HttpError::bad_request("missing address to join"));
    }
    let (mut joined, mut errors) = (0, Vec::new());
    for address in &addresses {
        match app.cluster.join(address).await {
            Ok(_) => joined += 1,
            Err(e) => errors.push(format!("{address}: {e}")),
        }
    }
    let body = j!({ "num_joined": joined, "error": errors.join(", ") });
    Ok(json(&body, &QueryMeta::latest(&app)))
}

pub async fn regions(State(app): State<App>) -> Response {
    json(&vec![app.info.region.clone()], &QueryMeta::latest(&app))
}

fn member(app: &App) -> AgentMember {
    let (host, port) = app
        .info
        .rpc_addr
        .rsplit_once(':')
        .unwrap_or((app.info.rpc_addr.as_str(), "4647"));
    AgentMember {
        name: format!("{}.{}", app.info.name, app.info.region),
        addr: host.to_string(),
        port: port.parse().unwrap_or(4647),
        tags: BTreeMap::from([
            ("role".to_string(), "nomad".to_string()),
            ("region".to_string(), app.info.region.clone()),
            ("dc".to_string(), app.info.datacenter.clone()),
            ("build".to_string(), app.info.version.clone()),
            ("port".to_string(), port.to_string()),
            ("bootstrap".to_string(), "1".to_string()),
        ]),
        status: "alive".into(),
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// `GET /v1/agent/health` (Nomad api-docs/agent.mdx, "Health";
/// command/agent/agent_endpoint.go `HealthRequest`): a `server` section, and
/// a `client` section on an agent that runs a client too (a dev agent),
/// healthy once its node is registered. `type=client` or `type=server`
/// (repeatable) asks for those sections only, and one this agent does not
/// run is reported as not enabled. The server is unhealthy while no
/// leader is known (a leader without its quorum knows none), or while the
/// Raft log cannot make writes durable (a full disk): reads still work
/// then, writes do not. Any unhealthy section makes the answer a 500 with
/// the same body.
pub async fn health(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let types = q.all("type");
    let (want_client, want_server) = if q.has("type") {
        (
            types.iter().any(|t| t == "client"),
            types.iter().any(|t| t == "server"),
        )
    } else {
        (true, true)
    };
    let section = |ok: bool, message: &str| AgentHealth {
        ok,
        message: message.to_string(),
    };
    let client = match (&app.local_client, want_client) {
        (_, false) => None,
        (None, true) if q.has("type") => Some(section(false, "client not enabled")),
        (None, true) => None,
        (Some(c), true) if c.node_id.get().is_some() => Some(section(true, "ok")),
        (Some(_), true) => Some(section(false, "client not started")),
    };
    let server = want_server.then(|| {
        if known_leader(&app).is_empty() {
            section(false, "No cluster leader")
        } else if let Some(e) = app.raft.log.wal().health().error() {
            section(false, &format!("the Raft log cannot be written: {e}"))
        } else {
            section(true, "ok")
        }
    });
    let body = AgentHealthResponse { client, server };
    let healthy = [&body.client, &body.server]
        .into_iter()
        .flatten()
        .all(|h| h.ok);
    if !healthy {
        let text = serde_json::to_string(&body)
            .map_err(|e| HttpError::internal(format!("failed to encode response: {e}")))?;
        return Err(HttpError::internal(text));
    }
    Ok(json(&body, &QueryMeta::latest(&app)))
}

/// hashicorp/raft's name for this server's Raft state. A leader that went
/// a lease without a quorum's acknowledgement is a `Follower`, as a
/// hashicorp/raft leader steps down then (openraft's goes on leading
/// until it hears of a higher term), so this agrees with
/// `/v1/status/leader` and `stats.nomad.leader`.
fn raft_state(app: &App) -> &'static str {
    use openraft::ServerState;
    let state = app.raft.raft.metrics().borrow().state;
    match state {
        ServerState::Leader if app.cluster.leadership().is_this_server() => "Leader",
        ServerState::Candidate => "Candidate",
        ServerState::Shutdown => "Shutdown",
        ServerState::Leader | ServerState::Follower | ServerState::Learner => "Follower",
    }
}

/// `GET /v1/agent/self`: the agent's (redacted) configuration, its member
/// entry and a few stats, in Nomad's lower-case top-level shape. A Drover
/// addition: `stats.nomad.cluster_id`, the ID the cluster's first leader
/// wrote (`""` until this server has applied it). With a client in the same
/// agent, `stats.client.node_id` names its node, as Nomad's CLI reads it
/// for `-self` (`command/helpers.go`, `getLocalNodeID`).
pub async fn agent_self(State(app): State<App>) -> Response {
    let (index, applied) = {
        let a = app.raft.shared.read();
        (
            a.state.latest_index(),
            a.last_applied.map_or(0, |l| l.index),
        )
    };
    let m = member(&app);
    let leads = app.cluster.leadership().is_this_server();
    let mut body = j!({
        "config": {
            "Region": app.info.region,
            "Datacenter": app.info.datacenter,
            "NodeName": app.info.name,
            "Version": { "Version": app.info.version, "VersionPrerelease": "", "VersionMetadata": "" },
            "Server": { "Enabled": true },
            "Client": { "Enabled": app.local_client.is_some() },
            "Addresses": { "HTTP": app.info.http_addr, "RPC": app.info.rpc_addr },
        },
        "member": {
            "Name": m.name, "Addr": m.addr, "Port": m.port, "Tags": m.tags, "Status": m.status,
            "ProtocolMin": m.protocol_min, "ProtocolMax": m.protocol_max, "ProtocolCur": m.protocol_cur,
            "DelegateMin": m.delegate_min, "DelegateMax": m.delegate_max, "DelegateCur": m.delegate_cur,
        },
        "stats": {
            "raft": { "applied_index": applied.to_string(), "state": raft_state(&app) },
            "nomad": {
                "leader": leads.to_string(), "known_regions": "1", "server": "true",
                "cluster_id": app.cluster.cluster_id().unwrap_or_default(),
            },
            "state": { "latest_index": index.to_string() },
        }
    });
    if let Some(c) = &app.local_client {
        let node_id = c.node_id.get().cloned().unwrap_or_default();
        body["stats"]["client"] = j!({ "node_id": node_id });
    }
    json(&body, &QueryMeta::latest(&app))
}
