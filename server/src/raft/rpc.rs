//! Raft RPC between servers, receiving side: the routes on the RPC port
//! that hand openraft's requests to the local [`Raft`](super::Raft).
//!
//! Bodies are MessagePack ([`super::network`] sends them). A body that does
//! not decode is a 400 whose text says which request and why; the sender
//! sees that as a network error and retries, and nothing here panics. The
//! answer is the encoded `Result` openraft's handler returned, so a refusal
//! (a higher vote, a conflicting log) travels back as openraft's own error.
//!
//! The handlers also note when a leader last reached this server
//! ([`LeaderContact`]): openraft's metrics say who leads, not when it was
//! last heard from.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::network::{
    SnapshotChunk, TimeoutNow, APPEND_PATH, MSGPACK, SNAPSHOT_CHUNK_PATH, SNAPSHOT_PATH,
    TIMEOUT_NOW_PATH, VOTE_PATH,
};
use super::{NodeId, Raft, TypeConfig};

/// The largest RPC body taken. An append carries up to openraft's
/// `max_payload_entries` (300) entries, each possibly a batch of writes;
/// a snapshot chunk is at most `snapshot_max_chunk_size` (3 MiB).
pub const MAX_BODY: usize = 256 << 20;

/// When a leader last reached this server: the last AppendEntries (a
/// heartbeat included) or snapshot chunk that this server's Raft accepted
/// as coming from the leader of its term. hashicorp/raft keeps the same
/// moment (`setLastContact` in `appendEntries` and `installSnapshot`,
/// raft.go), and Nomad reports it as a follower's `X-Nomad-LastContact`.
/// A call refused for its stale vote is no contact.
#[derive(Debug)]
pub struct LeaderContact {
    started: Instant,
    /// Milliseconds after `started`, plus one; 0 while never contacted.
    last: AtomicU64,
}

impl LeaderContact {
    pub fn new() -> Arc<LeaderContact> {
        Arc::new(LeaderContact {
            started: Instant::now(),
            last: AtomicU64::new(0),
        })
    }

    fn touch(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1;
        self.last.fetch_max(ms, Ordering::Relaxed);
    }

    /// How long ago a leader last reached this server; when none has
    /// since it started, how long ago that was (a lower bound of the
    /// truth, where hashicorp/raft reports the time since the zero time).
    pub fn since(&self) -> Duration {
        let elapsed = self.started.elapsed();
        match self.last.load(Ordering::Relaxed) {
            0 => elapsed,
            ms => elapsed.saturating_sub(Duration::from_millis(ms - 1)),
        }
    }
}

#[derive(Clone)]
struct RpcState {
    raft: Raft,
    contact: Arc<LeaderContact>,
}

/// The Raft routes, with the local Raft as their state; accepted calls
/// from a leader are noted in `contact`.
pub fn router(raft: Raft, contact: Arc<LeaderContact>) -> Router {
    Router::new()
        .route(APPEND_PATH, post(append_entries))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(install_snapshot))
        .route(SNAPSHOT_CHUNK_PATH, post(install_snapshot_chunk))
        .route(TIMEOUT_NOW_PATH, post(timeout_now))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(RpcState { raft, contact })
}

async fn append_entries(State(st): State<RpcState>, body: Bytes) -> Response {
    use openraft::raft::AppendEntriesResponse as R;
    match decode_large::<openraft::raft::AppendEntriesRequest<TypeConfig>>(body, "append-entries")
        .await
    {
        Ok(req) => {
            let result = st.raft.append_entries(req).await;
            // Success, a partial success and a log conflict all mean the
            // sender's vote was taken: it is the leader this server follows.
            if matches!(result, Ok(R::Success | R::PartialSuccess(_) | R::Conflict)) {
                st.contact.touch();
            }
            msgpack(&result)
        }
        Err(bad) => bad,
    }
}

async fn vote(State(st): State<RpcState>, body: Bytes) -> Response {
    let req = match decode::<openraft::raft::VoteRequest<NodeId>>(&body, "vote") {
        Ok(req) => req,
        Err(bad) => return bad,
    };
    let (candidate_term, candidate_log) = (req.vote.leader_id().term, req.last_log_id);
    let result = st.raft.vote(req).await;
    if let Ok(resp) = &result {
        if !resp.vote_granted && resp.last_log_id > candidate_log {
            stand_instead(&st, candidate_term).await;
        }
    }
    msgpack(&result)
}

/// A candidate was refused here because its log is behind this server's.
/// If this server's lease on its leader has run out too, the leader is
/// likely gone and this server is one that can win: it stands for election
/// at once, in a term above the candidate's.
///
/// openraft 0.9 would leave it to this server's own timer, which gives
/// the leader its lease plus an election timeout from the last contact,
/// plus twice the longest election timeout once this server itself has
/// lost an election to a longer log (openraft keeps that penalty until
/// its next timed election). After a leader was killed under load, the
/// follower that restarted last (behind on the log) stood first and was
/// refused, and the one that could win waited 2 to 2.5 s more. In the
/// candidate's term this server would be refused in turn (it voted for
/// itself there), hence the term above it. Raft's safety never depends on
/// when an election starts.
async fn stand_instead(st: &RpcState, candidate_term: u64) {
    if st.contact.since() <= super::node::FOLLOWER_LEASE {
        return;
    }
    let (my_term, leading) = {
        let m = st.raft.metrics();
        let m = m.borrow();
        (m.current_term, m.state.is_leader())
    };
    if leading {
        return;
    }
    // Each `elect` stands in the term after this server's current one.
    for _ in my_term..=candidate_term {
        if let Err(e) = st.raft.trigger().elect().await {
            tracing::warn!(error = %e, "cannot stand for election");
            return;
        }
    }
    tracing::info!(
        candidate_term,
        term = candidate_term + 1,
        "a candidate behind on the log was refused; standing for election"
    );
}

/// The leader is handing its leadership to this server: it has stopped
/// its heartbeats and made sure this server holds its whole log
/// ([`crate::cluster::transfer`]). Once this server's lease on that
/// leader has run out (the other followers heard the last heartbeat at
/// about the same moment, so theirs has too), it stands for election. It
/// stands three terms up, above any follower whose own timer fired in the
/// silence and stood first, so that this server, holding the longest
/// log, is the one elected. Answers `true` once it has stood, `false`
/// when the sender is not the leader it follows.
async fn timeout_now(State(st): State<RpcState>, body: Bytes) -> Response {
    let req = match decode::<TimeoutNow>(&body, "timeout-now") {
        Ok(req) => req,
        Err(bad) => return bad,
    };
    let follows = |st: &RpcState| {
        let m = st.raft.metrics();
        let m = m.borrow();
        m.current_leader == Some(req.leader) && m.current_term == req.term
    };
    if !follows(&st) {
        return msgpack(&false);
    }
    let deadline = Instant::now() + 4 * super::node::FOLLOWER_LEASE;
    while st.contact.since() <= super::node::FOLLOWER_LEASE + Duration::from_millis(20) {
        if Instant::now() > deadline || !follows(&st) {
            return msgpack(&false);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        if let Err(e) = st.raft.trigger().elect().await {
            tracing::warn!(error = %e, "cannot stand for election");
            return msgpack(&false);
        }
    }
    tracing::info!(
        from = req.leader,
        term = req.term,
        "leadership handed over: standing for election"
    );
    msgpack(&true)
}

async fn install_snapshot(State(st): State<RpcState>, body: Bytes) -> Response {
    match decode_large::<openraft::raft::InstallSnapshotRequest<TypeConfig>>(
        body,
        "install-snapshot",
    )
    .await
    {
        Ok(req) => take_chunk(&st, req).await,
        Err(bad) => bad,
    }
}

async fn install_snapshot_chunk(State(st): State<RpcState>, body: Bytes) -> Response {
    match decode_large::<SnapshotChunk>(body, "install-snapshot-chunk").await {
        Ok(chunk) => take_chunk(&st, chunk.into()).await,
        Err(bad) => bad,
    }
}

async fn take_chunk(
    st: &RpcState,
    req: openraft::raft::InstallSnapshotRequest<TypeConfig>,
) -> Response {
    let vote = req.vote;
    let result = st.raft.install_snapshot(req).await;
    // The answer carries this server's vote: the sender's when taken.
    if result.as_ref().is_ok_and(|r| r.vote == vote) {
        st.contact.touch();
    }
    msgpack(&result)
}

/// Bodies larger than this are decoded on a blocking thread.
const DECODE_INLINE_MAX: usize = 64 << 10;

/// [`decode`] for bodies that may be large (appends, snapshot chunks).
/// Decoding a few hundred entries of job registers takes tens of
/// milliseconds in a release build and hundreds in a debug one; on a
/// runtime worker that would hold up every other task queued there,
/// heartbeat answers and the leader's own appends included. A large body
/// is decoded on a blocking thread instead.
async fn decode_large<T>(body: Bytes, what: &'static str) -> Result<T, Response>
where
    T: DeserializeOwned + Send + 'static,
{
    if body.len() <= DECODE_INLINE_MAX {
        return decode(&body, what);
    }
    match tokio::task::spawn_blocking(move || decode(&body, what)).await {
        Ok(decoded) => decoded,
        Err(e) => {
            tracing::error!(request = what, error = %e, "decoding an RPC body failed");
            Err((
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("decoding the {what} request failed: {e}"),
            )
                .into_response())
        }
    }
}

/// Decode a MessagePack request body; a 400 naming `what` when it does not.
pub fn decode<T: DeserializeOwned>(body: &[u8], what: &str) -> Result<T, Response> {
    rmp_serde::from_slice(body).map_err(|e| {
        tracing::warn!(request = what, error = %e, "undecodable RPC body");
        (
            StatusCode::BAD_REQUEST,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("cannot decode the {what} request (MessagePack): {e}"),
        )
            .into_response()
    })
}

/// A 200 with `value` as MessagePack; a 500 in the (unexpected) case that
/// it does not encode.
pub fn msgpack<T: Serialize>(value: &T) -> Response {
    match rmp_serde::to_vec_named(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, MSGPACK)], bytes).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot encode an RPC answer");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot encode the answer: {e}"),
            )
                .into_response()
        }
    }
}
