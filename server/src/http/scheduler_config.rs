//! `/v1/operator/scheduler/configuration` (Nomad
//! command/agent/operator_endpoint.go `OperatorSchedulerConfiguration`,
//! nomad/operator_endpoint.go `SchedulerGetConfiguration` and
//! `SchedulerSetConfiguration`).
//!
//! The configuration is replicated through Raft
//! ([`drover_state::command::SchedulerConfigSet`]); a cluster's first
//! leader writes Nomad's default (binpack, preemption for system jobs).
//! What Drover does with each setting:
//!
//! - `RejectJobRegistration`: job registrations are refused with Nomad's
//!   403, but for a management token when ACLs are on; with ACLs off
//!   every registration is refused, as Nomad's documentation says of a
//!   cluster without ACLs.
//! - `PauseEvalBroker`: the leader's scheduler workers take no evaluation
//!   while it is set; evaluations stay pending and are planned once it
//!   is cleared.
//! - `SchedulerAlgorithm`: stored and served, but placement always bin
//!   packs: the scheduler's ranking has no spread scoring yet.
//! - `PreemptionConfig` and `MemoryOversubscriptionEnabled`: stored and
//!   served; Drover's scheduler neither preempts nor oversubscribes
//!   memory.

use axum::body::Bytes;
use axum::extract::{RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{
    SchedulerConfiguration, SchedulerConfigurationResponse, SchedulerSetConfigurationResponse,
};
use drover_state::command::{SchedulerConfigSet, SetCondition};
use drover_state::{ApplyError, Command};

use super::blocking::{blocking, json, write_response};
use super::error::{HttpError, HttpResult};
use super::job_writes::{now, write_error};
use super::query::{QueryOptions, RawQuery};
use super::App;

/// `GET`: `{"SchedulerConfig": {...}, "Index": n, ...}` with the
/// configuration's `ModifyIndex`. Not a blocking query, as in Nomad.
pub async fn get(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let mut opts = QueryOptions::from_raw(&RawQuery::parse(raw.as_deref()))?;
    opts.min_index = 0;
    let (config, meta) = blocking(&app, &opts, |st, _| {
        let config = st.scheduler_config().cloned();
        let index = config.as_ref().map_or(0, |c| c.modify_index);
        Ok((config, index))
    })
    .await?;
    // Only until the first leader's write is applied, as Nomad answers.
    let config =
        config.ok_or_else(|| HttpError::internal("scheduler config not initialized yet"))?;
    let body = SchedulerConfigurationResponse {
        scheduler_config: Some(config),
        meta: meta.body(),
    };
    Ok(json(&body, &meta))
}

/// `PUT`/`POST`, body the configuration itself (Nomad's
/// `api.SchedulerConfiguration`: a field left out is zero). With
/// `?cas=N` it is written only over a configuration whose `ModifyIndex`
/// is N; otherwise always. Answers `{"Updated": bool, "Index": n}`, the
/// index of the write even when a `cas` did not match.
pub async fn set(
    State(app): State<App>,
    AxumQuery(raw): AxumQuery,
    body: Bytes,
) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let parse_error = |e: &dyn std::fmt::Display| {
        HttpError::bad_request(format!("Error parsing scheduler config: {e}"))
    };
    if body.is_empty() {
        return Err(parse_error(&"Request body is empty"));
    }
    let mut config: SchedulerConfiguration =
        crate::jobs::decode_json(&body).map_err(|e| parse_error(&e))?;
    config.validate().map_err(HttpError::bad_request)?;
    let condition =
        match q.get("cas") {
            None => SetCondition::Always,
            Some(v) => SetCondition::ModifyIndex(v.parse::<u64>().map_err(|e| {
                HttpError::bad_request(format!("Error parsing cas value: {v:?}: {e}"))
            })?),
        };
    (config.create_index, config.modify_index) = (0, 0);
    let cmd = Command::SchedulerConfigSet(SchedulerConfigSet {
        config,
        condition,
        now: now(),
    });
    let out = app.raft.write(cmd).await.map_err(write_error)?;
    let updated = match out.result {
        Ok(()) => true,
        Err(ApplyError::SchedulerConfigCondition { .. }) => false,
        Err(e) => return Err(HttpError::bad_request(e.to_string())),
    };
    let resp = SchedulerSetConfigurationResponse {
        updated,
        index: out.index,
    };
    Ok(write_response(&resp, out.index))
}
