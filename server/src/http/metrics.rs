//! `GET /v1/metrics`: Nomad's JSON shape (`Timestamp`, `Gauges`, `Counters`,
//! `Samples`) by default, Prometheus text with `?format=prometheus`.
//!
//! Gauges are read from the state when asked, not kept in a registry: every
//! number here already exists (table sizes, indexes, parked watchers).

use axum::extract::{RawQuery as AxumQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use drover_state::{NamespaceSel, Table, WatchSet};
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;

use super::error::{HttpError, HttpResult};
use super::query::RawQuery;
use super::App;

fn gauges(app: &App) -> Vec<(&'static str, f64)> {
    let applied = app.raft.shared.read();
    let st = &applied.state;
    let mut ws = WatchSet::new();
    let count = |n: usize| n as f64;
    vec![
        (
            "drover_raft_applied_index",
            applied.last_applied.map_or(0, |l| l.index) as f64,
        ),
        (
            "drover_raft_is_leader",
            if app.cluster.leadership().is_this_server() {
                1.0
            } else {
                0.0
            },
        ),
        ("drover_raft_log_entries", count(app.raft.log.len())),
        (
            "drover_raft_log_syncs",
            app.raft.log.wal().stats().syncs.load(Relaxed) as f64,
        ),
        (
            "drover_raft_log_records_synced",
            app.raft.log.wal().stats().records.load(Relaxed) as f64,
        ),
        ("drover_state_latest_index", st.latest_index() as f64),
        (
            "drover_state_jobs",
            count(st.jobs(&mut ws, NamespaceSel::All, "", None, false).count()),
        ),
        (
            "drover_state_allocations",
            count(st.allocs(&mut ws, None, false).count()),
        ),
        (
            "drover_state_evaluations",
            count(st.evals(&mut ws, None, false).count()),
        ),
        (
            "drover_state_nodes",
            count(st.nodes(&mut ws, "", None, false).count()),
        ),
        (
            "drover_state_jobs_index",
            st.table_index(Table::Jobs) as f64,
        ),
        (
            "drover_state_allocs_index",
            st.table_index(Table::Allocs) as f64,
        ),
        ("drover_events_retained", count(st.events().len())),
        (
            "drover_events_retained_bytes",
            count(st.events().encoded_bytes()),
        ),
        (
            "drover_events_oldest_readable_index",
            st.events().oldest_readable() as f64,
        ),
        (
            "drover_blocking_queries_parked",
            count(app.raft.shared.watches().len()),
        ),
        (
            "drover_scheduler_evals_completed",
            load(&app.scheduler.evals_completed),
        ),
        (
            "drover_scheduler_placements",
            load(&app.scheduler.placements),
        ),
        (
            "drover_scheduler_blocked_evals",
            load(&app.scheduler.blocked),
        ),
        (
            "drover_scheduler_paused_looks",
            load(&app.scheduler.paused_looks),
        ),
    ]
}

fn load(counter: &std::sync::atomic::AtomicU64) -> f64 {
    counter.load(std::sync::atomic::Ordering::Relaxed) as f64
}

pub async fn metrics(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let gauges = gauges(&app);
    match q.get("format") {
        Some("prometheus") => {
            let mut text = String::new();
            for (name, value) in &gauges {
                text.push_str(&format!("# TYPE {name} gauge\n{name} {value}\n"));
            }
            Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
        }
        None | Some("") | Some("json") => {
            let now = crate::clock::unix_nanos();
            let body = json!({
                "Timestamp": drover_api::time::format_rfc3339(now - now.rem_euclid(1_000_000_000)),
                "Gauges": gauges.iter().map(|(n, v)| json!({"Name": n, "Value": v, "Labels": {}})).collect::<Vec<_>>(),
                "Counters": [],
                "Samples": [],
            });
            Ok(axum::Json(body).into_response())
        }
        Some(other) => Err(HttpError::bad_request(format!(
            "Invalid format {other:?}: expected prometheus or json"
        ))),
    }
}
