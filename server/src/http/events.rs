//! `GET /v1/event/stream` (Nomad command/agent/event_endpoint.go): NDJSON
//! `{"Index":N,"Events":[…]}` lines, a `{}` heartbeat at once and every
//! 30 s, replayed out of the retained event log.
//!
//! Unlike Nomad's 100-event ring, the log is durable and a gap is never
//! silent: a start index below the retained range is refused with 410 and a
//! JSON error line, and a reader that falls behind retention mid-stream gets
//! an `{"Error":…}` line and the stream ends (as does one reaching an event
//! whose stored payload no longer decodes).
//!
//! With ACLs on, the token is resolved again before each read: events of a
//! namespace need `read-job` there and node events node read (Nomad's
//! per-event filter in nomad/stream), and a token deleted or expired ends
//! the stream with an `{"Error":…}` line.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{RawQuery as AxumQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use drover_api::{Event, Events, Topic};
use drover_state::events::RetainedEvent;
use drover_state::{EventBatch, EventLogError};

use super::error::{HttpError, HttpResult};
use super::query::RawQuery;
use super::App;
use crate::acl::Acl;

pub const HEARTBEAT: Duration = Duration::from_secs(30);
/// Batches taken from the log per read lock, so a long replay never holds
/// the state's lock for long.
const BATCHES_PER_READ: usize = 256;

/// What a stream subscribes to: topic → keys (`*` = every key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    topics: BTreeMap<Topic, BTreeSet<String>>,
    /// `None`: every namespace (`namespace=*`).
    namespace: Option<String>,
}

impl Subscription {
    pub fn parse(q: &RawQuery) -> HttpResult<Self> {
        let mut topics: BTreeMap<Topic, BTreeSet<String>> = BTreeMap::new();
        for t in q.all("topic") {
            let (name, key) = t.split_once(':').unwrap_or((t.as_str(), "*"));
            let topic = Topic::parse(name).ok_or_else(|| {
                HttpError::bad_request(format!("Invalid topic {name:?}: expected Job, Evaluation, Allocation, Node, Deployment or *"))
            })?;
            topics.entry(topic).or_default().insert(if key.is_empty() {
                "*".into()
            } else {
                key.to_string()
            });
        }
        if topics.is_empty() {
            topics.insert(Topic::All, BTreeSet::from(["*".to_string()]));
        }
        let namespace = match q.get("namespace") {
            None | Some("") => Some("default".to_string()),
            Some("*") => None,
            Some(n) => Some(n.to_string()),
        };
        Ok(Subscription { topics, namespace })
    }

    /// Nomad `eventMatchesKey` plus the namespace check: nodes have no
    /// namespace and pass any.
    pub fn matches(&self, e: &RetainedEvent) -> bool {
        let ns = e.namespace();
        if !ns.is_empty() && self.namespace.as_deref().is_some_and(|want| want != ns) {
            return false;
        }
        [e.topic(), Topic::All]
            .iter()
            .filter_map(|t| self.topics.get(t))
            .any(|keys| keys.iter().any(|k| e.matches_key(k)))
    }
}

fn line<T: serde::Serialize>(v: &T) -> Bytes {
    let mut out = serde_json::to_vec(v).unwrap_or_else(|_| b"{}".to_vec());
    out.push(b'\n');
    Bytes::from(out)
}

fn error_line(e: &EventLogError) -> Bytes {
    line(&serde_json::json!({ "Error": e.to_string() }))
}

enum Next {
    Lines(Vec<Bytes>, u64),
    Failed(EventLogError),
}

/// Read the matching events at or after `from`; the next index to read.
/// Only the batches are taken under the state's read lock (each an `Arc`
/// clone); filtering and decoding the payloads happen after it is released.
fn read(app: &App, sub: &Subscription, from: u64, acl: Option<&Acl>) -> Next {
    let batches: Result<Vec<EventBatch>, EventLogError> = {
        let applied = app.raft.shared.read();
        let batches = applied
            .state
            .events()
            .read_from(from)
            .map(|b| b.take(BATCHES_PER_READ).cloned().collect());
        batches
    };
    let batches = match batches {
        Ok(b) => b,
        Err(e) => return Next::Failed(e),
    };
    let mut lines = Vec::new();
    let mut next = from;
    for batch in &batches {
        next = batch.index + 1;
        let events: Result<Vec<Event>, EventLogError> = batch
            .events
            .iter()
            .filter(|e| sub.matches(e) && acl.is_none_or(|a| may_see(a, e)))
            .map(|e| e.to_event(batch.index))
            .collect();
        let events = match events {
            Ok(events) => events,
            Err(e) => return Next::Failed(e),
        };
        if !events.is_empty() {
            lines.push(line(&Events {
                index: batch.index,
                events,
            }));
        }
    }
    Next::Lines(lines, next)
}

/// Whether a token's ACL shows event `e` (Nomad `aclAllowsSubscription`
/// per event): a node event needs node read, any other `read-job` in its
/// namespace.
fn may_see(acl: &Acl, e: &RetainedEvent) -> bool {
    match e.namespace() {
        "" => acl.allow_node_read(),
        ns => acl.allow_namespace_operation(ns, "read-job"),
    }
}

/// The stream reader's ACL now; `Err` with the line that ends the stream
/// when its token is gone or expired. `None` with ACLs off.
fn reader_acl(app: &App, secret: Option<&str>) -> Result<Option<Acl>, Bytes> {
    if !app.acl.enabled {
        return Ok(None);
    }
    let resolved = {
        let applied = app.raft.shared.read();
        crate::acl::resolve(&applied.state, secret, crate::clock::unix_nanos())
    };
    resolved
        .map(|id| Some(id.acl))
        .map_err(|e| line(&serde_json::json!({ "Error": e.to_string() })))
}

pub async fn stream(
    State(app): State<App>,
    headers: axum::http::HeaderMap,
    AxumQuery(raw): AxumQuery,
) -> HttpResult<Response> {
    let secret = crate::acl::enforce::token_from_headers(&headers);
    let q = RawQuery::parse(raw.as_deref());
    let sub = Subscription::parse(&q)?;
    let from = q.u64("index")?.unwrap_or(0);
    // Refuse an impossible start before any byte of the stream is sent.
    // Only the range is checked here; nothing is decoded twice.
    let start = app
        .raft
        .shared
        .read()
        .state
        .events()
        .read_from(from)
        .map(|_| ());
    if let Err(e) = start {
        let body = error_line(&e);
        return Ok((
            StatusCode::GONE,
            [(header::CONTENT_TYPE, "application/json")],
            body,
        )
            .into_response());
    }
    let mut applied_rx = app.raft.shared.subscribe_applied();
    let mut shutdown = app.shutdown.clone();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, Infallible>>(16);
    tokio::spawn(async move {
        if tx.send(Ok(Bytes::from_static(b"{}\n"))).await.is_err() {
            return;
        }
        let mut next = from;
        loop {
            let acl = match reader_acl(&app, secret.as_deref()) {
                Ok(acl) => acl,
                Err(end) => {
                    let _ = tx.send(Ok(end)).await;
                    return;
                }
            };
            match read(&app, &sub, next, acl.as_ref()) {
                Next::Failed(e) => {
                    let _ = tx.send(Ok(error_line(&e))).await;
                    return;
                }
                Next::Lines(lines, n) => {
                    let more = n != next;
                    next = n;
                    for l in lines {
                        if tx.send(Ok(l)).await.is_err() {
                            return; // the reader went away
                        }
                    }
                    if more {
                        continue; // drain the backlog before waiting
                    }
                }
            }
            tokio::select! {
                changed = applied_rx.changed() => if changed.is_err() { return },
                _ = tokio::time::sleep(HEARTBEAT) => {
                    if tx.send(Ok(Bytes::from_static(b"{}\n"))).await.is_err() {
                        return;
                    }
                }
                _ = shutdown.changed() => return,
            }
        }
    });
    let body = Body::from_stream(tokio_stream_from(rx));
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response())
}

/// An mpsc receiver as a `Stream` (without pulling in tokio-stream).
fn tokio_stream_from(
    rx: tokio::sync::mpsc::Receiver<Result<Bytes, Infallible>>,
) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>> {
    futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(q: &str) -> HttpResult<Subscription> {
        Subscription::parse(&RawQuery::parse(Some(q)))
    }

    #[test]
    fn topics_keys_and_namespaces_parse_like_nomad() {
        let s = sub("topic=Job:web&topic=Allocation&namespace=*").unwrap();
        assert_eq!(s.topics[&Topic::Job], BTreeSet::from(["web".to_string()]));
        assert_eq!(
            s.topics[&Topic::Allocation],
            BTreeSet::from(["*".to_string()])
        );
        assert_eq!(s.namespace, None);
        let s = sub("").unwrap();
        assert_eq!(s.topics[&Topic::All], BTreeSet::from(["*".to_string()]));
        assert_eq!(s.namespace.as_deref(), Some("default"));
        assert!(sub("topic=Jobs")
            .unwrap_err()
            .message
            .starts_with("Invalid topic \"Jobs\""));
    }
}
