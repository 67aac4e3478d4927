//! Blocking queries (Nomad nomad/rpc.go `blockingRPC`) and the response
//! headers every read carries.
//!
//! A query runs against the state under its read lock and, when its index
//! is not yet past `index`, registers a watch on exactly the keys it read
//! before the lock is released. It then parks on that watch, costing one
//! waker and no thread, until a write touches one of those keys or `wait`
//! (plus up to wait/16 jitter) runs out; then it runs again. A wake-up is not
//! a change: the query loops until its index really moves.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use drover_state::{State, WatchSet};
use serde::Serialize;
use tokio::time::Instant;

use super::error::{HttpError, HttpResult};
use super::query::QueryOptions;
use super::AppState;

/// What a read reports besides its body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryMeta {
    pub index: u64,
    pub known_leader: bool,
    pub last_contact_ms: u64,
    pub next_token: Option<String>,
}

impl QueryMeta {
    /// A read at `index` (at least 1), with what this server knows of the
    /// leader ([`super::leader_forward::leader_meta`]).
    pub fn at(app: &AppState, index: u64) -> QueryMeta {
        let (known_leader, last_contact_ms) = super::leader_forward::leader_meta(app);
        QueryMeta {
            index: index.max(1),
            known_leader,
            last_contact_ms,
            next_token: None,
        }
    }

    /// The same inside a body, where Nomad embeds `QueryMeta` in the
    /// response (`LastContact` in nanoseconds there).
    pub fn body(&self) -> drover_api::QueryMetaBody {
        drover_api::QueryMetaBody {
            index: self.index,
            last_contact: i64::try_from(self.last_contact_ms.saturating_mul(1_000_000))
                .unwrap_or(i64::MAX),
            known_leader: self.known_leader,
            next_token: self.next_token.clone().unwrap_or_default(),
        }
    }

    /// A read of no particular table: at the state's latest index.
    pub fn latest(app: &AppState) -> QueryMeta {
        let index = app.raft.shared.read().state.latest_index();
        QueryMeta::at(app, index)
    }
}

/// Up to `wait / 16` of extra wait, so many clients with the same `wait`
/// do not all come back at once (Nomad `RandomStagger`).
fn jitter(wait: Duration) -> Duration {
    let max = wait.as_nanos() / 16;
    if max == 0 {
        return Duration::ZERO;
    }
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    Duration::from_nanos((u128::from(h.finish()) % max) as u64)
}

/// Run `query` as a blocking query. `query` returns its result and the index
/// it reports; it adds the keys it reads to the watch set.
pub async fn blocking<T>(
    app: &AppState,
    opts: &QueryOptions,
    mut query: impl FnMut(&State, &mut WatchSet) -> HttpResult<(T, u64)>,
) -> HttpResult<(T, QueryMeta)> {
    let consistent = !opts.stale;
    if consistent && !app.raft.is_leader() {
        // `leader_forward` sent this here as the leader's; leadership moved
        // since. Answering from this state would not be consistent.
        let message = match app.raft.leader() {
            Some((_, addr)) => format!(
                "this server lost leadership while serving the request (leader RPC address now {addr}); retry"
            ),
            None => "No cluster leader".to_string(),
        };
        return Err(HttpError::new(StatusCode::INTERNAL_SERVER_ERROR, message));
    }
    let deadline = Instant::now() + opts.wait + jitter(opts.wait);
    loop {
        let mut ws = WatchSet::new();
        let (value, index, watch) = {
            let applied = app.raft.shared.read();
            let (value, index) = query(&applied.state, &mut ws)?;
            // Register before the read lock goes, so no write slips between.
            let watch = (opts.min_index > 0 && index <= opts.min_index)
                .then(|| app.raft.shared.watches().watch(&ws));
            (value, index, watch)
        };
        let done = match watch {
            None => true,
            Some(w) => {
                let mut shutdown = app.shutdown.clone();
                tokio::select! {
                    _ = w => false,
                    _ = tokio::time::sleep_until(deadline) => true,
                    // On shutdown, answer with what we have instead of holding
                    // the connection (and the agent's exit) for up to `wait`.
                    _ = shutdown.wait_for(|s| *s) => true,
                }
            }
        };
        if done {
            return Ok((value, QueryMeta::at(app, index)));
        }
    }
}

fn header_value(s: &str) -> HeaderValue {
    // Indexes, booleans and page tokens we produce are ASCII; a token built
    // from a user-supplied ID with odd bytes is dropped rather than panicking.
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn meta_headers(meta: &QueryMeta) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("X-Nomad-Index", header_value(&meta.index.to_string()));
    h.insert(
        "X-Nomad-KnownLeader",
        header_value(if meta.known_leader { "true" } else { "false" }),
    );
    h.insert(
        "X-Nomad-LastContact",
        header_value(&meta.last_contact_ms.to_string()),
    );
    if let Some(t) = &meta.next_token {
        h.insert("X-Nomad-NextToken", header_value(t));
    }
    h
}

/// A JSON body with the query headers.
pub fn json<T: Serialize>(value: &T, meta: &QueryMeta) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => {
            let mut headers = meta_headers(meta);
            headers.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            (StatusCode::OK, headers, body).into_response()
        }
        Err(e) => HttpError::internal(format!("failed to encode response: {e}")).into_response(),
    }
}

/// A single-object read: blocks like any read, answers 404 with `missing`
/// when the object does not exist.
pub async fn read_one<T: Serialize>(
    app: &AppState,
    opts: &QueryOptions,
    missing: &str,
    mut query: impl FnMut(&State, &mut WatchSet) -> (Option<T>, u64),
) -> HttpResult<Response> {
    let (value, meta) = blocking(app, opts, |st, ws| Ok(query(st, ws))).await?;
    let value = value.ok_or_else(|| HttpError::not_found(missing))?;
    Ok(json(&value, &meta))
}

/// A write's response: the body and `X-Nomad-Index` set to the write's index.
pub fn write_response<T: Serialize>(value: &T, index: u64) -> Response {
    json(
        value,
        &QueryMeta {
            index,
            known_leader: true,
            last_contact_ms: 0,
            next_token: None,
        },
    )
}
