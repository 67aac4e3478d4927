//! The client-to-server calls over HTTP (Nomad node_endpoint.go RPCs
//! `Node.Register`, `Node.UpdateStatus`, `Node.UpdateAlloc`), so client
//! agents and tests can register nodes, heartbeat and report allocations.
//!
//! Each call validates, stamps time and IDs, and writes one Raft entry
//! that carries the evaluations its change calls for. The heartbeat timer
//! is reset after the write, so a node is never armed that Raft refused.
//!
//! Not here yet: Nomad's 50ms batching of `Node.UpdateAlloc` into one Raft
//! entry, node secrets beyond "a re-registration must present the same
//! one", and node identities.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use drover_api::{
    trigger, AllocClientStatus, AllocUpdateRequest, Evaluation, Job, Node, NodeEvent,
    NodeRegisterRequest, NodeServerInfo, NodeStatus, NodeUpdateResponse, NodeUpdateStatusRequest,
    WriteMeta,
};
use drover_state::command::{AllocClientState, AllocClientUpdate, NodeRegister, NodeUpdateStatus};
use drover_state::{Command, State as St, Table, WatchSet};
use serde_json::Value;

use super::blocking::write_response;
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write};
use super::App;
use crate::evals::node_evals;
use crate::jobs;

/// The node event when a down node heartbeats again (Nomad's wording).
const REREGISTERED_BY_HEARTBEAT: &str = "Node reregistered by heartbeat";
fn bad(e: impl std::fmt::Display) -> HttpError {
    HttpError::bad_request(e.to_string())
}

/// `PUT /v1/internal/node/register`, body `{"Node": {...}}`.
pub async fn register(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    let mut node = decode_register(&body)?;
    validate_node(&node)?;
    if node.node_pool.is_empty() {
        node.node_pool = "default".into();
    }
    let now = now();
    node.status_updated_at = now.div_euclid(1_000_000_000);
    let evals = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        let original = st.node(&mut WatchSet::new(), &node.id);
        if let Some(old) = original {
            if !old.secret_id.is_empty() && old.secret_id != node.secret_id {
                return Err(HttpError::bad_request(
                    "Node.SecretID: node secret ID does not match. Not registering node.",
                ));
            }
        }
        if should_create_node_eval(original, &node) {
            node_evals(st, &node.id, now)
        } else {
            Vec::new()
        }
    };
    let (id, status) = (node.id.clone(), node.status);
    let index = write(
        &app,
        Command::NodeRegister(NodeRegister {
            node,
            evals: evals.clone(),
            now,
        }),
    )
    .await?;
    let ttl = heartbeat(&app, &id, status)?;
    Ok(node_response(&app, index, index, &evals, ttl))
}

/// `PUT /v1/internal/node/{id}/status`, body `{"Status": "ready"}`; an
/// empty or missing `Status` is a heartbeat that keeps the status.
pub async fn update_status(
    State(app): State<App>,
    Path(id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: NodeUpdateStatusRequest = jobs::decode_json(&body).map_err(bad)?;
    if !req.node_id.is_empty() && req.node_id != id {
        return Err(HttpError::bad_request("NodeID: does not match URL"));
    }
    let wanted = match req.status.as_str() {
        "" => None,
        s => Some(parse_status(s).ok_or_else(|| {
            HttpError::bad_request(format!("Status: invalid status for node: {s:?}"))
        })?),
    };
    let now = now();
    let (old, evals, node_index) = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        let node = st
            .node(&mut WatchSet::new(), &id)
            .ok_or_else(|| HttpError::not_found("node not found"))?;
        let mut status = wanted.unwrap_or(node.status);
        // A disconnected node must resend its allocations before it is ready.
        if node.status == NodeStatus::Disconnected && status == NodeStatus::Ready {
            status = NodeStatus::Initializing;
        }
        let evals = if status == NodeStatus::Down && node.status != NodeStatus::Down
            || transition_requires_eval(status, node.status)
        {
            node_evals(st, &id, now)
        } else {
            Vec::new()
        };
        ((node.status, status), evals, node.modify_index)
    };
    let (from, to) = old;
    let mut index = node_index;
    let mut node_modify_index = 0;
    if from != to || req.node_event.is_some() {
        let event = req.node_event.or_else(|| {
            (from == NodeStatus::Down).then(|| NodeEvent {
                message: REREGISTERED_BY_HEARTBEAT.into(),
                subsystem: "Cluster".into(),
                timestamp: Some(now),
                ..Default::default()
            })
        });
        let cmd = Command::NodeUpdateStatus(NodeUpdateStatus {
            node_id: id.clone(),
            status: to,
            event,
            evals: evals.clone(),
            now,
        });
        index = write(&app, cmd).await?;
        node_modify_index = index;
    }
    let ttl = heartbeat(&app, &id, to)?;
    let evals = if node_modify_index == 0 {
        Vec::new()
    } else {
        evals
    };
    Ok(node_response(&app, index, node_modify_index, &evals, ttl))
}

/// `PUT /v1/internal/node/{id}/allocs`, body `{"Alloc": [{"ID",
/// "ClientStatus", "ClientDescription", "TaskStates", "DeploymentStatus"}]}`.
///
/// Unknown allocation IDs are skipped, as Nomad's state store does (the
/// server may have collected an allocation the client still reports); an
/// allocation that belongs to another node is a 400 and nothing is written.
pub async fn update_allocs(
    State(app): State<App>,
    Path(node_id): Path<String>,
    body: Bytes,
) -> HttpResult<Response> {
    let req: AllocUpdateRequest = jobs::decode_json(&body).map_err(bad)?;
    if req.alloc.is_empty() {
        return Err(HttpError::bad_request(
            "Alloc: must update at least one allocation",
        ));
    }
    let now = now();
    let (updates, evals, current) = {
        let applied = app.raft.shared.read();
        let st = &applied.state;
        let mut ws = WatchSet::new();
        let node = st
            .node(&mut ws, &node_id)
            .ok_or_else(|| HttpError::not_found(format!("node {node_id} not found")))?;
        if matches!(node.status, NodeStatus::Down | NodeStatus::Disconnected) {
            return Err(HttpError::bad_request(format!(
                "node {node_id} is not allowed to update allocs while in status {}",
                status_str(node.status)
            )));
        }
        let (updates, evals) = alloc_updates(st, &node_id, req, now)?;
        (updates, evals, st.table_index(Table::Allocs))
    };
    if updates.is_empty() {
        return Ok(write_response(&WriteMeta { index: current }, current));
    }
    let index = write(
        &app,
        Command::AllocClientUpdate(AllocClientUpdate {
            updates,
            evals,
            now,
        }),
    )
    .await?;
    Ok(write_response(&WriteMeta { index }, index))
}

/// Check each reported allocation against the state and build the updates
/// and the evals they call for: one per job, when an allocation newly
/// failed (so the scheduler can reschedule it) or reported its deployment
/// health (so a rolling update can go on).
fn alloc_updates(
    st: &St,
    node_id: &str,
    req: AllocUpdateRequest,
    now: i64,
) -> HttpResult<(Vec<AllocClientState>, Vec<Evaluation>)> {
    let mut ws = WatchSet::new();
    let mut updates = Vec::with_capacity(req.alloc.len());
    let mut evals: BTreeMap<(String, String), Evaluation> = BTreeMap::new();
    for (i, u) in req.alloc.into_iter().enumerate() {
        if u.id.is_empty() {
            return Err(HttpError::bad_request(format!(
                "Alloc[{i}].ID: missing allocation ID"
            )));
        }
        if !u.node_id.is_empty() && u.node_id != node_id {
            return Err(HttpError::bad_request(format!(
                "Alloc[{i}].NodeID: {:?} does not match the node in the URL {node_id:?}",
                u.node_id
            )));
        }
        let Some(row) = st.alloc(&mut ws, &u.id) else {
            continue;
        };
        let stored = &row.alloc;
        if stored.node_id != node_id {
            return Err(HttpError::bad_request(format!(
                "Alloc[{i}].ID: allocation {} is not on node {node_id}",
                u.id
            )));
        }
        let newly_failed = u.client_status == AllocClientStatus::Failed
            && stored.client_status != AllocClientStatus::Failed
            && stored.followup_eval_id.is_empty();
        let health = u.deployment_status.as_ref().and_then(|d| d.healthy);
        let newly_healthy =
            health.is_some() && stored.deployment_status.as_ref().and_then(|d| d.healthy) != health;
        let trigger = if newly_failed {
            Some(trigger::ALLOC_FAILURE)
        } else if newly_healthy {
            // Lets a deployment move on once an allocation reports its
            // health (Nomad's deployment watcher writes these).
            Some(trigger::DEPLOYMENT_WATCHER)
        } else {
            None
        };
        if let Some(by) = trigger {
            let key = (stored.namespace.clone(), stored.job_id.clone());
            if let Some(job) = st.job(&mut ws, &key.0, &key.1) {
                if !job.stop && !evals.contains_key(&key) {
                    evals.insert(key, alloc_eval(job, by, now));
                }
            }
        }
        updates.push(AllocClientState {
            id: u.id,
            client_status: u.client_status,
            client_description: u.client_description,
            task_states: u.task_states,
            deployment_status: u.deployment_status,
        });
    }
    Ok((updates, evals.into_values().collect()))
}

fn alloc_eval(job: &Job, triggered_by: &str, now: i64) -> Evaluation {
    Evaluation {
        job_modify_index: job.job_modify_index,
        ..super::job_writes::pending_eval(job, triggered_by, now)
    }
}

/// Decode a register body. Nomad's Go structs read an empty `Status` or
/// `SchedulingEligibility` as unset, so those become the defaults
/// (`initializing`, `eligible`) before the typed decode.
fn decode_register(body: &[u8]) -> HttpResult<Node> {
    let mut value: Value = serde_json::from_slice(body)
        .map_err(|e| HttpError::bad_request(format!("failed to parse JSON body: {e}")))?;
    if let Some(node) = value.get_mut("Node").and_then(Value::as_object_mut) {
        for key in ["Status", "SchedulingEligibility"] {
            if node.get(key).is_some_and(|v| v.as_str() == Some("")) {
                node.remove(key);
            }
        }
    }
    let bytes = serde_json::to_vec(&value).map_err(bad)?;
    let req: NodeRegisterRequest = jobs::decode_json(&bytes).map_err(bad)?;
    req.node
        .ok_or_else(|| HttpError::bad_request("Node: missing node for client registration"))
}

/// Nomad `NodeRegisterRequest.Validate`, with the field named first. Node
/// IDs need not be UUIDs (Nomad does not check either); attributes and a
/// secret are not required, so simulated nodes stay small.
fn validate_node(node: &Node) -> HttpResult<()> {
    let missing = |field: &str, what: &str| {
        Err(HttpError::bad_request(format!(
            "Node.{field}: missing {what} for client registration"
        )))
    };
    if node.id.trim().is_empty() {
        return missing("ID", "node ID");
    }
    if node.datacenter.is_empty() {
        return missing("Datacenter", "datacenter");
    }
    if node.name.is_empty() {
        return missing("Name", "node name");
    }
    let pool = &node.node_pool;
    if !pool.is_empty() {
        let valid = pool.len() <= 128
            && pool
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(HttpError::bad_request(format!(
                "Node.NodePool: invalid node pool {pool:?}: must be 1 to 128 letters, digits, '-' or '_'"
            )));
        }
        if pool == "all" {
            return Err(HttpError::bad_request(
                "Node.NodePool: node is not allowed to register in node pool \"all\"",
            ));
        }
    }
    Ok(())
}

/// Nomad `shouldCreateNodeEval`: a node that is down, or that moved into a
/// status the schedulers care about, or whose fields that feasibility
/// checks read changed, needs its jobs re-evaluated.
fn should_create_node_eval(original: Option<&Node>, updated: &Node) -> bool {
    if updated.status == NodeStatus::Down {
        return true;
    }
    let Some(old) = original else {
        return transition_requires_eval(updated.status, NodeStatus::Initializing);
    };
    transition_requires_eval(updated.status, old.status)
        || old.datacenter != updated.datacenter
        || old.name != updated.name
        || old.node_class != updated.node_class
        || old.attributes != updated.attributes
        || old.meta != updated.meta
        || old.drivers != updated.drivers
}

/// Nomad `nodeStatusTransitionRequiresEval`.
fn transition_requires_eval(new: NodeStatus, old: NodeStatus) -> bool {
    use NodeStatus::*;
    let init_to_ready = old == Initializing && new == Ready;
    let down_to_ready = old == Down && new == Ready;
    let left_disconnected = old == Disconnected && new != Disconnected;
    let became_disconnected = old != Disconnected && new == Disconnected;
    init_to_ready || down_to_ready || left_disconnected || became_disconnected
}

fn parse_status(s: &str) -> Option<NodeStatus> {
    serde_json::from_value(Value::String(s.to_string())).ok()
}

fn status_str(s: NodeStatus) -> String {
    match serde_json::to_value(s) {
        Ok(Value::String(s)) => s,
        _ => format!("{s:?}"),
    }
}

/// Reset the node's heartbeat timer unless it is down (then stop it).
fn heartbeat(app: &App, id: &str, status: NodeStatus) -> HttpResult<Duration> {
    if status == NodeStatus::Down {
        app.heartbeats.clear(id);
        return Ok(Duration::ZERO);
    }
    app.heartbeats
        .reset(id)
        .map_err(|e| HttpError::internal(e.to_string()))
}

/// Nomad `NodeUpdateResponse` with `constructNodeServerInfoResponse`: the
/// TTL, the leader and the servers, and how many nodes there are. Each
/// server carries its HTTP address (`HTTPAddr`, a Drover extension) when
/// this server has heard from it: that is how a client learns where to
/// fail over to.
fn node_response(
    app: &App,
    index: u64,
    node_modify_index: u64,
    evals: &[Evaluation],
    ttl: Duration,
) -> Response {
    let (servers, leader_rpc_addr, num_nodes) = {
        let applied = app.raft.shared.read();
        let leader = app.raft.raft.metrics().borrow().current_leader;
        let membership = applied.membership.membership();
        let mut leader_addr = String::new();
        let servers = membership
            .nodes()
            .map(|(nid, n)| {
                if Some(*nid) == leader {
                    leader_addr.clone_from(&n.addr);
                }
                // A server this one has heard from is listed with the HTTP
                // address a Drover client needs, and its own datacenter.
                let known = app.cluster.known(*nid);
                NodeServerInfo {
                    rpc_advertise_addr: n.addr.clone(),
                    rpc_major_version: 1,
                    rpc_minor_version: 1,
                    datacenter: known
                        .as_ref()
                        .map(|k| k.datacenter.clone())
                        .filter(|dc| !dc.is_empty())
                        .unwrap_or_else(|| app.info.datacenter.clone()),
                    http_addr: known.map(|k| k.http_addr).unwrap_or_default(),
                }
            })
            .collect();
        let num_nodes = applied
            .state
            .nodes(&mut WatchSet::new(), "", None, false)
            .count();
        (servers, leader_addr, num_nodes as u64)
    };
    let body = NodeUpdateResponse {
        node_modify_index,
        eval_ids: evals.iter().map(|e| e.id.clone()).collect(),
        eval_create_index: if evals.is_empty() { 0 } else { index },
        heartbeat_ttl: i64::try_from(ttl.as_nanos()).unwrap_or(i64::MAX),
        leader_rpc_addr,
        num_nodes,
        servers,
        meta: WriteMeta { index },
    };
    write_response(&body, index)
}
