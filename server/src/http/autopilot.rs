//! `/v1/operator/autopilot/configuration` (Nomad
//! command/agent/operator_endpoint.go `OperatorAutopilotConfiguration`,
//! api/operator_autopilot.go `AutopilotConfiguration`).
//!
//! The configuration is replicated through Raft
//! ([`drover_state::command::AutopilotConfigSet`]); a cluster's first
//! leader writes the agent's `autopilot` block (Nomad's defaults for what
//! it leaves out) when none is stored ([`crate::cluster::promote`]). The
//! leader's promotion duty reads `ServerStabilizationTime` and
//! `MaxTrailingLogs` from it at each look, and autopilot health reads
//! `MaxTrailingLogs`; the other settings are stored and served (Drover
//! does not remove dead servers, and the rest are Nomad Enterprise
//! features). Durations are Go duration strings on the wire, as the api
//! package marshals them.

use axum::body::Bytes;
use axum::extract::{RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_state::command::{AutopilotConfig, AutopilotConfigSet, SetCondition};
use drover_state::{ApplyError, Command};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::blocking::{json, write_response, QueryMeta};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write_error};
use super::query::RawQuery;
use super::App;

/// Nomad's `api.AutopilotConfiguration` as JSON.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Wire {
    #[serde(default)]
    cleanup_dead_servers: bool,
    #[serde(default)]
    last_contact_threshold: Value,
    #[serde(default)]
    max_trailing_logs: u64,
    #[serde(default)]
    min_quorum: u64,
    #[serde(default)]
    server_stabilization_time: Value,
    #[serde(default)]
    enable_redundancy_zones: bool,
    #[serde(default)]
    disable_upgrade_migration: bool,
    #[serde(default)]
    enable_custom_upgrades: bool,
    #[serde(default)]
    create_index: u64,
    #[serde(default)]
    modify_index: u64,
}

fn to_wire(c: &AutopilotConfig) -> Wire {
    let d = |n: u64| {
        Value::String(crate::jobs::go_duration(
            i64::try_from(n).unwrap_or(i64::MAX),
        ))
    };
    Wire {
        cleanup_dead_servers: c.cleanup_dead_servers,
        last_contact_threshold: d(c.last_contact_threshold),
        max_trailing_logs: c.max_trailing_logs,
        min_quorum: c.min_quorum,
        server_stabilization_time: d(c.server_stabilization_time),
        enable_redundancy_zones: c.enable_redundancy_zones,
        disable_upgrade_migration: c.disable_upgrade_migration,
        enable_custom_upgrades: c.enable_custom_upgrades,
        create_index: c.create_index,
        modify_index: c.modify_index,
    }
}

/// A duration field of a request: a Go duration string (what Nomad's api
/// sends), or integer nanoseconds; absent is zero.
fn duration(field: &str, v: &Value) -> Result<u64, HttpError> {
    let bad = |why: String| {
        HttpError::bad_request(format!("Error parsing autopilot config: {field}: {why}"))
    };
    match v {
        Value::Null => Ok(0),
        Value::String(s) if s.is_empty() => Ok(0),
        Value::String(s) => {
            let nanos = crate::jobspec::parse_go_duration(s.trim())
                .map_err(|e| bad(format!("{s:?}: {e}")))?;
            u64::try_from(nanos).map_err(|_| bad(format!("{s:?} is negative")))
        }
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| bad(format!("{n} is not a non-negative integer of nanoseconds"))),
        other => Err(bad(format!("expected a duration string, got {other}"))),
    }
}

fn from_wire(w: Wire) -> Result<AutopilotConfig, HttpError> {
    let config = AutopilotConfig {
        cleanup_dead_servers: w.cleanup_dead_servers,
        last_contact_threshold: duration("LastContactThreshold", &w.last_contact_threshold)?,
        max_trailing_logs: w.max_trailing_logs,
        min_quorum: w.min_quorum,
        server_stabilization_time: duration(
            "ServerStabilizationTime",
            &w.server_stabilization_time,
        )?,
        enable_redundancy_zones: w.enable_redundancy_zones,
        disable_upgrade_migration: w.disable_upgrade_migration,
        enable_custom_upgrades: w.enable_custom_upgrades,
        create_index: 0,
        modify_index: 0,
    };
    if config.server_stabilization_time == 0 {
        return Err(HttpError::bad_request(
            "Error parsing autopilot config: ServerStabilizationTime: must be a positive duration",
        ));
    }
    Ok(config)
}

/// `GET`: the stored configuration; until the first leader's write is
/// applied, the one that write will store (this server's `autopilot`
/// block, index 0).
pub async fn get(State(app): State<App>) -> Response {
    let config = app.cluster.autopilot_config();
    json(&to_wire(&config), &QueryMeta::latest(&app))
}

/// `PUT`/`POST`, body the configuration (a field left out is zero, as
/// Nomad decodes it; `ServerStabilizationTime` must be positive). With
/// `?cas=N` it is written only over a configuration whose `ModifyIndex`
/// is N. Answers `true`, or with `cas` whether it was written, as Nomad's
/// handler does.
pub async fn set(
    State(app): State<App>,
    AxumQuery(raw): AxumQuery,
    body: Bytes,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let parse_error = |e: &dyn std::fmt::Display| {
        HttpError::bad_request(format!("Error parsing autopilot config: {e}"))
    };
    if body.is_empty() {
        return Err(parse_error(&"Request body is empty"));
    }
    let wire: Wire = crate::jobs::decode_json(&body).map_err(|e| parse_error(&e))?;
    let config = from_wire(wire)?;
    let condition =
        match q.get("cas") {
            None => SetCondition::Always,
            Some(v) => SetCondition::ModifyIndex(v.parse::<u64>().map_err(|e| {
                HttpError::bad_request(format!("Error parsing cas value: {v:?}: {e}"))
            })?),
        };
    let cmd = Command::AutopilotConfigSet(AutopilotConfigSet {
        config,
        condition,
        now: now(),
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    let updated = match out.result {
        Ok(()) => true,
        Err(ApplyError::AutopilotConfigCondition { .. }) => false,
        Err(e) => return Err(HttpError::bad_request(e.to_string())),
    };
    Ok(write_response(&updated, out.index))
}
