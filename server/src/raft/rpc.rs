//! Raft RPC between servers, receiving side: the routes on the RPC port
//! that hand openraft's requests to the local [`Raft`](super::Raft).
//!
//! Bodies are MessagePack ([`super::network`] sends them). A body that does
//! not decode is a 400 whose text says which request and why; the sender
//! sees that as a network error and retries, and nothing here panics. The
//! answer is the encoded `Result` openraft's handler returned, so a refusal
//! (a higher vote, a conflicting log) travels back as openraft's own error.

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::network::{APPEND_PATH, MSGPACK, SNAPSHOT_PATH, VOTE_PATH};
use super::{NodeId, Raft, TypeConfig};

/// The largest RPC body taken. An append carries up to openraft's
/// `max_payload_entries` (300) entries, each possibly a batch of writes;
/// a snapshot chunk is at most `snapshot_max_chunk_size` (3 MiB).
pub const MAX_BODY: usize = 256 << 20;

/// The Raft routes, with the local Raft as their state.
pub fn router(raft: Raft) -> Router {
    Router::new()
        .route(APPEND_PATH, post(append_entries))
        .route(VOTE_PATH, post(vote))
        .route(SNAPSHOT_PATH, post(install_snapshot))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(raft)
}

async fn append_entries(State(raft): State<Raft>, body: Bytes) -> Response {
    match decode::<openraft::raft::AppendEntriesRequest<TypeConfig>>(&body, "append-entries") {
        Ok(req) => msgpack(&raft.append_entries(req).await),
        Err(bad) => bad,
    }
}

async fn vote(State(raft): State<Raft>, body: Bytes) -> Response {
    match decode::<openraft::raft::VoteRequest<NodeId>>(&body, "vote") {
        Ok(req) => msgpack(&raft.vote(req).await),
        Err(bad) => bad,
    }
}

async fn install_snapshot(State(raft): State<Raft>, body: Bytes) -> Response {
    match decode::<openraft::raft::InstallSnapshotRequest<TypeConfig>>(&body, "install-snapshot") {
        Ok(req) => msgpack(&raft.install_snapshot(req).await),
        Err(bad) => bad,
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
