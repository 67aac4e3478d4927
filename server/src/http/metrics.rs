//! `GET /v1/metrics`: Nomad's JSON shape (`Timestamp`, `Gauges`, `Counters`,
//! `Samples`) by default, Prometheus text with `?format=prometheus`.
//!
//! Gauges are read from the state when asked, not kept in a registry: every
//! number here already exists (table sizes, indexes, parked watchers, the
//! allocator's counters).

use axum::extract::{RawQuery as AxumQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use drover_state::Table;
use serde_json::json;
use std::sync::atomic::Ordering::Relaxed;

use super::error::{HttpError, HttpResult};
use super::query::RawQuery;
use super::App;

fn gauges(app: &App) -> Vec<(&'static str, f64)> {
    let applied = app.raft.shared.read();
    let st = &applied.state;
    let sizes = st.table_sizes();
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
        ("drover_state_jobs", count(sizes.jobs)),
        ("drover_state_allocations", count(sizes.allocs)),
        ("drover_state_evaluations", count(sizes.evals)),
        ("drover_state_nodes", count(sizes.nodes)),
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

/// The process's memory, as Nomad reports Go's runtime
/// (`nomad.runtime.alloc_bytes`, `nomad.runtime.sys_bytes`; Nomad's
/// website/content/docs/reference/metrics.mdx):
/// - `drover_runtime_alloc_bytes`: bytes in live allocations (jemalloc's
///   `stats.allocated`, the allocator the `drover` binary uses);
/// - `drover_runtime_resident_bytes`: physical memory the allocator holds
///   for them, its metadata and freed pages not yet given back
///   (`stats.resident`);
/// - `drover_runtime_rss_bytes`: the process's resident set as the kernel
///   counts it (`/proc/self/statm`), stacks and the binary included.
///
/// The gap between the first two is fragmentation; a process whose global
/// allocator is not jemalloc (a test harness) reports jemalloc's own,
/// near-zero counters for them.
fn runtime() -> Vec<(&'static str, f64)> {
    use tikv_jemalloc_ctl::{epoch, stats};
    let mut out = Vec::with_capacity(3);
    // The counters are cached until the epoch advances.
    if epoch::advance().is_ok() {
        if let (Ok(alloc), Ok(resident)) = (stats::allocated::read(), stats::resident::read()) {
            out.push(("drover_runtime_alloc_bytes", alloc as f64));
            out.push(("drover_runtime_resident_bytes", resident as f64));
        }
    }
    if let Some(rss) = rss_bytes() {
        out.push(("drover_runtime_rss_bytes", rss as f64));
    }
    out
}

/// The second field of `/proc/self/statm` (resident pages) in bytes.
fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok().filter(|p| *p > 0)?)
}

fn load(counter: &std::sync::atomic::AtomicU64) -> f64 {
    counter.load(std::sync::atomic::Ordering::Relaxed) as f64
}

pub async fn metrics(State(app): State<App>, AxumQuery(raw): AxumQuery) -> HttpResult<Response> {
    let q = RawQuery::parse(raw.as_deref());
    let mut gauges = gauges(&app);
    gauges.extend(runtime());
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
