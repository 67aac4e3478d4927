//! Operator endpoints: the servers of the Raft membership, removing one,
//! autopilot's health view and snapshots, in Nomad's shapes
//! (`command/agent/operator_endpoint.go`, `api/operator.go`,
//! `api/operator_autopilot.go`, `command/agent/agent_endpoint.go`).
//!
//! Drover has no Serf: a member is a server of the Raft membership, and its
//! status is whether it answers an identity exchange on its RPC port now
//! ([`Cluster::probe`], [`PROBE_TIMEOUT`]). `/v1/operator/*` runs on the
//! leader ([`super::leader_forward`]), as Nomad forwards `Operator.*` RPCs;
//! `/v1/agent/*` is answered by the agent asked.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use drover_api::{AgentMember, ServerMembers};
use openraft::error::{ChangeMembershipError, ClientWriteError, RaftError};
use openraft::{ChangeMembers, SnapshotMeta};
use serde::Serialize;

use super::blocking::{json, QueryMeta};
use super::error::{HttpError, HttpResult};
use super::App;
use crate::cluster::Identity;
use crate::raft::node::MembershipView;
use crate::raft::snapshot_file;
use crate::raft::NodeId;

/// How long a member may take to answer before it counts as failed.
/// Memberlist's default probe timeout is 500 ms on a LAN; a loaded server
/// gets twice that.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// How long a membership change may wait for an earlier one to settle.
const CHANGE_TIMEOUT: Duration = Duration::from_secs(10);

/// Nomad's `raft_protocol` (3): servers are named by ID, not address.
const RAFT_PROTOCOL: &str = "3";

/// One server of the membership as this agent sees it now.
struct Member {
    id: NodeId,
    rpc_addr: String,
    voter: bool,
    leader: bool,
    /// Its identity when it answered (or, failed, as last heard).
    identity: Option<Identity>,
    alive: bool,
}

/// Every server of the latest membership, each probed at once.
async fn survey(app: &App) -> Vec<Member> {
    let MembershipView {
        nodes,
        voters,
        leader,
        ..
    } = app.raft.membership();
    let me = app.cluster.identity().node_id;
    let probes = nodes.into_iter().map(|(id, addr)| {
        let cluster = app.cluster.clone();
        let (voter, leader) = (voters.contains(&id), leader == Some(id));
        async move {
            let answered = if id == me {
                Some(cluster.identity().clone())
            } else {
                cluster.probe(id, &addr, PROBE_TIMEOUT).await
            };
            Member {
                id,
                voter,
                leader,
                alive: answered.is_some(),
                identity: answered.or_else(|| cluster.known(id)),
                rpc_addr: addr,
            }
        }
    });
    futures_util::future::join_all(probes).await
}

fn split_addr(addr: &str) -> (String, u16) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (
            host.trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port.parse().unwrap_or(crate::cluster::DEFAULT_RPC_PORT),
        ),
        None => (addr.to_string(), crate::cluster::DEFAULT_RPC_PORT),
    }
}

/// A member in Serf's shape. `Port` is the RPC port: Drover has no Serf
/// port, and the RPC port is where members are probed.
fn agent_member(app: &App, m: &Member) -> AgentMember {
    let (host, port) = split_addr(&m.rpc_addr);
    let id = m.identity.as_ref();
    let region = id.map_or(app.info.region.clone(), |i| i.region.clone());
    let name = id.map_or(m.rpc_addr.clone(), |i| format!("{}.{}", i.name, i.region));
    let mut tags = std::collections::BTreeMap::from([
        ("role".to_string(), "nomad".to_string()),
        ("region".to_string(), region),
        ("id".to_string(), m.id.to_string()),
        ("rpc_addr".to_string(), host.clone()),
        ("port".to_string(), port.to_string()),
        ("raft_vsn".to_string(), RAFT_PROTOCOL.to_string()),
        ("vsn".to_string(), "1".to_string()),
        ("mvn".to_string(), "1".to_string()),
    ]);
    if let Some(i) = id {
        tags.insert("dc".into(), i.datacenter.clone());
        tags.insert("build".into(), i.version.clone());
        tags.insert("expect".into(), i.bootstrap_expect.to_string());
    }
    AgentMember {
        name,
        addr: host,
        port,
        tags,
        status: if m.alive { "alive" } else { "failed" }.into(),
        protocol_min: 1,
        protocol_max: 5,
        protocol_cur: 2,
        delegate_min: 2,
        delegate_max: 5,
        delegate_cur: 4,
    }
}

/// `GET /v1/agent/members`: every server of the Raft membership, `alive`
/// when it answered this agent within [`PROBE_TIMEOUT`], else `failed`.
pub async fn members(State(app): State<App>) -> Response {
    let survey = survey(&app).await;
    let body = ServerMembers {
        server_name: app.info.name.clone(),
        server_region: app.info.region.clone(),
        server_dc: app.info.datacenter.clone(),
        members: survey.iter().map(|m| agent_member(&app, m)).collect(),
    };
    json(&body, &QueryMeta::latest(&app))
}

/// `GET /v1/agent/servers`: the RPC addresses of the servers this agent
/// knows, the voters of its membership.
pub async fn servers(State(app): State<App>) -> Response {
    let addrs: Vec<String> = app.raft.voters().into_iter().map(|(_, a)| a).collect();
    json(&addrs, &QueryMeta::latest(&app))
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RaftServer {
    #[serde(rename = "ID")]
    id: String,
    node: String,
    address: String,
    leader: bool,
    voter: bool,
    raft_protocol: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RaftConfiguration {
    servers: Vec<RaftServer>,
    index: u64,
}

/// `GET /v1/operator/raft/configuration`: the latest membership, its log
/// index, and which server leads. `Node` is the server's name when it has
/// been heard from, else its address.
pub async fn raft_configuration(State(app): State<App>) -> Response {
    let MembershipView {
        nodes,
        voters,
        leader,
        log_index: index,
    } = app.raft.membership();
    // A stale read on a leader past its lease flags no one, as
    // `/v1/status/leader` names no one there.
    let leader =
        leader.filter(|id| *id != app.raft.node_id || app.cluster.leadership().is_this_server());
    let servers = nodes
        .into_iter()
        .map(|(id, address)| RaftServer {
            id: id.to_string(),
            node: app
                .cluster
                .known(id)
                .map_or_else(|| address.clone(), |i| format!("{}.{}", i.name, i.region)),
            address,
            leader: leader == Some(id),
            voter: voters.contains(&id),
            raft_protocol: RAFT_PROTOCOL,
        })
        .collect();
    json(
        &RaftConfiguration { servers, index },
        &QueryMeta::latest(&app),
    )
}

/// `id` or `address` from the query, exactly one of them.
enum PeerRef {
    Id(String),
    Address(String),
}

fn peer_ref(uri: &Uri) -> HttpResult<PeerRef> {
    let mut id = None;
    let mut address = None;
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        match k.as_ref() {
            "id" => id = Some(v.into_owned()),
            "address" => address = Some(v.into_owned()),
            _ => {}
        }
    }
    match (id, address) {
        (Some(id), None) if !id.is_empty() => Ok(PeerRef::Id(id)),
        (None, Some(a)) if !a.is_empty() => Ok(PeerRef::Address(a)),
        (Some(_), Some(_)) => Err(HttpError::bad_request(
            "Must specify only one of ?id or ?address",
        )),
        _ => Err(HttpError::bad_request(
            "Must specify either ?id with the server's ID or ?address with IP:port of peer to remove",
        )),
    }
}

/// `DELETE /v1/operator/raft/peer?id=N` or `?address=IP:port`: remove a
/// server from the membership (a voter with openraft's `RemoveVoters`, a
/// learner with `RemoveNodes`, neither kept as a learner). The last voter
/// is never removed: a membership without voters can elect no one.
pub async fn remove_peer(State(app): State<App>, uri: Uri) -> HttpResult<Response> {
    let wanted = peer_ref(&uri)?;
    let MembershipView { nodes, voters, .. } = app.raft.membership();
    let found = nodes.into_iter().find(|(id, addr)| match &wanted {
        PeerRef::Id(want) => id.to_string() == *want,
        PeerRef::Address(want) => addr == want,
    });
    let Some((id, addr)) = found else {
        return Err(HttpError::not_found(match wanted {
            PeerRef::Id(v) => format!("id {v:?} was not found in the Raft configuration"),
            PeerRef::Address(v) => format!("address {v:?} was not found in the Raft configuration"),
        }));
    };
    let voter = voters.contains(&id);
    if voter && voters.len() == 1 {
        return Err(HttpError::bad_request(format!(
            "cannot remove server {id} ({addr}): it is the last voter, and a cluster without voters cannot elect a leader"
        )));
    }
    let deadline = tokio::time::Instant::now() + CHANGE_TIMEOUT;
    loop {
        let change = if voter {
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        let result =
            tokio::time::timeout_at(deadline, app.raft.raft.change_membership(change, false)).await;
        match result {
            Ok(Ok(_)) => {
                tracing::info!(node_id = id, rpc = %addr, "removed server from the Raft configuration");
                return Ok(json(&serde_json::Value::Null, &QueryMeta::latest(&app)));
            }
            // A join or an earlier removal is in its joint phase.
            Ok(Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(
                ChangeMembershipError::InProgress(_),
            )))) => tokio::time::sleep(Duration::from_millis(50)).await,
            Ok(Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_)))) => {
                return Err(HttpError::internal("No cluster leader"))
            }
            Ok(Err(e)) => {
                return Err(HttpError::internal(format!(
                    "removing server {id} ({addr}): {e}"
                )))
            }
            Err(_) => {
                return Err(HttpError::internal(format!(
                    "removing server {id} ({addr}): the membership change did not commit within {CHANGE_TIMEOUT:?}"
                )))
            }
        }
    }
}

/// `PUT|POST /v1/operator/raft/transfer-leadership?id=N` or
/// `?address=IP:port`: hand leadership to that voter
/// ([`crate::cluster::transfer`]). Runs on the leader (forwarded there).
/// Answers Nomad's `LeadershipTransferResponse`; naming the leader itself
/// is a no-op (`Noop: true`), an unknown server a 400 as in Nomad
/// (nomad/operator_endpoint.go `TransferLeadershipToPeer`), a non-voter a
/// 400, and a hand-over that did not complete a 500 saying which step
/// failed (this server then still leads, or another was elected).
pub async fn transfer_leadership(State(app): State<App>, uri: Uri) -> HttpResult<Response> {
    let wanted = peer_ref(&uri)?;
    let MembershipView {
        nodes,
        voters,
        leader,
        ..
    } = app.raft.membership();
    let Some(leader) = leader else {
        return Err(HttpError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "No cluster leader",
        ));
    };
    let from = nodes
        .iter()
        .find(|(id, _)| *id == leader)
        .map(|(id, addr)| RaftIdAddress::of(*id, addr))
        .unwrap_or_default();
    let found = nodes.into_iter().find(|(id, addr)| match &wanted {
        PeerRef::Id(want) => id.to_string() == *want,
        PeerRef::Address(want) => addr == want,
    });
    let Some((id, addr)) = found else {
        return Err(HttpError::bad_request(match wanted {
            PeerRef::Id(v) => format!("id {v:?} was not found in the Raft configuration"),
            PeerRef::Address(v) => format!("address {v:?} was not found in the Raft configuration"),
        }));
    };
    let to = RaftIdAddress::of(id, &addr);
    if id == leader {
        let out = TransferResponse {
            from,
            to,
            noop: true,
            err: None,
        };
        return Ok(json(&out, &QueryMeta::latest(&app)));
    }
    if !voters.contains(&id) {
        return Err(HttpError::bad_request(format!(
            "server {id} ({addr}) is not a voter and cannot lead"
        )));
    }
    crate::cluster::transfer::hand_over(&app.raft, id, &addr)
        .await
        .map_err(|e| {
            HttpError::internal(format!(
                "leadership transfer to server {id} ({addr}) failed: {e}"
            ))
        })?;
    tracing::info!(to = id, rpc = %addr, "leadership transferred");
    let out = TransferResponse {
        from,
        to,
        noop: false,
        err: None,
    };
    Ok(json(&out, &QueryMeta::latest(&app)))
}

/// Nomad's `RaftIDAddress`.
#[derive(Serialize, Default)]
#[serde(rename_all = "PascalCase")]
struct RaftIdAddress {
    address: String,
    #[serde(rename = "ID")]
    id: String,
}

impl RaftIdAddress {
    fn of(id: NodeId, addr: &str) -> RaftIdAddress {
        RaftIdAddress {
            address: addr.to_string(),
            id: id.to_string(),
        }
    }
}

/// Nomad's `LeadershipTransferResponse`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TransferResponse {
    from: RaftIdAddress,
    to: RaftIdAddress,
    noop: bool,
    err: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct ServerHealth {
    #[serde(rename = "ID")]
    id: String,
    name: String,
    address: String,
    serf_status: &'static str,
    version: String,
    leader: bool,
    /// A Go duration string, as the api's `ReadableDuration` marshals.
    last_contact: String,
    last_term: u64,
    last_index: u64,
    healthy: bool,
    voter: bool,
    stable_since: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct OperatorHealthReply {
    healthy: bool,
    failure_tolerance: usize,
    servers: Vec<ServerHealth>,
    leader: String,
    voters: Vec<String>,
}

/// Go's zero `time.Time`, what Nomad reports for a server never stable.
const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `GET /v1/operator/autopilot/health`, on the leader. Each server's
/// `LastIndex`/`LastTerm` is the log id the leader knows it holds
/// (openraft's replication metrics; the leader's own last log for itself);
/// it is healthy when it answers probes ([`Cluster::probe`]) and trails
/// the leader's log by at most the autopilot configuration's
/// `MaxTrailingLogs`. `LastContact` is the
/// time since it last answered this leader (`"-1ns"`: never), and
/// `StableSince` when its current run of answered probes began.
pub async fn autopilot_health(State(app): State<App>) -> HttpResult<Response> {
    let (replication, leader_last, term, leader) = {
        let m = app.raft.raft.metrics();
        let m = m.borrow();
        (
            m.replication.clone(),
            m.last_log_index.unwrap_or(0),
            m.current_term,
            m.current_leader,
        )
    };
    let me = app.cluster.identity().node_id;
    let Some(replication) = replication.filter(|_| leader == Some(me)) else {
        return Err(HttpError::internal("No cluster leader"));
    };
    let max_trailing = app.cluster.autopilot_config().max_trailing_logs;
    let survey = survey(&app).await;
    let now = std::time::Instant::now();
    let servers: Vec<ServerHealth> = survey
        .iter()
        .map(|m| {
            let (last_index, last_term) = if m.id == me {
                (leader_last, term)
            } else {
                replication
                    .get(&m.id)
                    .copied()
                    .flatten()
                    .map_or((0, 0), |l| (l.index, l.leader_id.term))
            };
            let contact = app.cluster.contact(m.id);
            let last_contact = if m.id == me {
                "0s".to_string()
            } else {
                contact.map_or("-1ns".into(), |c| go_duration(now - c.last_ok))
            };
            let stable_since = if m.id == me {
                Some(SystemTime::now())
            } else {
                contact.and_then(|c| c.stable_since)
            };
            let caught_up = m.id == me
                || (replication.contains_key(&m.id)
                    && leader_last.saturating_sub(last_index) <= max_trailing);
            let healthy = m.alive && caught_up;
            ServerHealth {
                id: m.id.to_string(),
                name: m.identity.as_ref().map_or_else(
                    || m.rpc_addr.clone(),
                    |i| format!("{}.{}", i.name, i.region),
                ),
                address: m.rpc_addr.clone(),
                serf_status: if m.alive { "alive" } else { "failed" },
                version: m
                    .identity
                    .as_ref()
                    .map_or_else(String::new, |i| i.version.clone()),
                leader: m.leader,
                last_contact,
                last_term,
                last_index,
                healthy,
                voter: m.voter,
                stable_since: stable_since.filter(|_| healthy).map_or_else(
                    || GO_ZERO_TIME.to_string(),
                    |t| drover_api::time::format_rfc3339(unix_nanos(t)),
                ),
            }
        })
        .collect();
    let voters: Vec<&ServerHealth> = servers.iter().filter(|s| s.voter).collect();
    let healthy_voters = voters.iter().filter(|s| s.healthy).count();
    let quorum = voters.len() / 2 + 1;
    let reply = OperatorHealthReply {
        healthy: servers.iter().all(|s| s.healthy),
        failure_tolerance: healthy_voters.saturating_sub(quorum),
        leader: me.to_string(),
        voters: voters.iter().map(|s| s.id.clone()).collect(),
        servers,
    };
    Ok(json(&reply, &QueryMeta::latest(&app)))
}

fn unix_nanos(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
}

/// `d` as Go's `time.Duration.String` would print it, to the millisecond.
fn go_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else {
        let s = d.as_secs_f64();
        if s < 60.0 {
            format!("{}s", (s * 1000.0).round() / 1000.0)
        } else {
            let whole = d.as_secs();
            format!("{}m{}s", whole / 60, whole % 60)
        }
    }
}

/// `GET /v1/operator/snapshot`: the state as the leader holds it now, in
/// the snapshot file's format (header with openraft's metadata, then the
/// state's encoding). It is built from a copy of the current state rather
/// than the last Raft snapshot, so it holds every write applied before the
/// request, as Nomad's `Operator.SnapshotSave` takes a fresh one. With
/// `stale=true` the server asked saves its own state instead, which may
/// trail the leader's (Nomad's `-stale`; [`super::leader_forward`] keeps
/// such a read here): the header's log id says how far it got.
pub async fn snapshot_save(State(app): State<App>) -> HttpResult<Response> {
    let (state, last_applied, membership) = {
        let a = app.raft.shared.read();
        (a.state.clone(), a.last_applied, a.membership.clone())
    };
    let index = last_applied.map_or(0, |l| l.index);
    let meta = SnapshotMeta {
        last_log_id: last_applied,
        last_membership: membership,
        snapshot_id: format!("save-{index}-{}", unix_nanos(SystemTime::now())),
    };
    let bytes = tokio::task::spawn_blocking(move || snapshot_file::encode(&meta, &state))
        .await
        .map_err(|e| HttpError::internal(format!("building the snapshot: {e}")))?
        .map_err(|e| HttpError::internal(format!("building the snapshot: {e}")))?;
    let mut response = (StatusCode::OK, bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    if let Ok(v) = HeaderValue::from_str(&index.to_string()) {
        headers.insert("x-nomad-index", v);
    }
    Ok(response)
}

/// `PUT /v1/operator/snapshot` with a saved snapshot as the body. The body
/// is checked whole (its header and every table must decode) before
/// anything changes; a valid one is written through Raft as one
/// `StateRestore` command, so every server replaces its state at the same
/// index (Nomad writes the restore through Raft too,
/// `nomad/operator_endpoint.go` `snapshotRestore`). The leader duties start
/// over from the restored state, and every blocking query wakes.
pub async fn snapshot_restore(State(app): State<App>, body: Bytes) -> HttpResult<Response> {
    let retention = Default::default();
    let checked = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, String> {
        let (_, encoded) =
            snapshot_file::split(&body).map_err(|e| format!("invalid snapshot: {e}"))?;
        drover_state::State::restore(encoded, retention)
            .map_err(|e| format!("invalid snapshot: {e}"))?;
        Ok(encoded.to_vec())
    })
    .await
    .map_err(|e| HttpError::internal(format!("checking the snapshot: {e}")))?;
    let snapshot = checked.map_err(HttpError::bad_request)?;
    let cmd = drover_state::Command::StateRestore(drover_state::command::StateRestore {
        snapshot,
        now: unix_nanos(SystemTime::now()),
    });
    let index = super::job_writes::write(&app, cmd).await?;
    let mut response = StatusCode::OK.into_response();
    if let Ok(v) = HeaderValue::from_str(&index.to_string()) {
        response.headers_mut().insert("x-nomad-index", v);
    }
    Ok(response)
}
