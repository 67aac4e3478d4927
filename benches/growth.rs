//! `cargo bench --bench growth`: whether a write costs the same with 50,000
//! jobs stored as with 1,000, and what the stored jobs cost in memory, on
//! disk and at restart.
//!
//! One dev server without a client; jobs name datacenter `nowhere`, so each
//! leaves a blocked evaluation. It registers up to 1,000, then 10,000, then
//! 50,000 jobs (`DROVER_BENCH_GROWTH`, comma separated) with 64 concurrent
//! clients, and after each step prints: the rate of its last 1,000
//! registers, made once the agent has planned every register before them
//! (so the rate is that of a write with that many jobs stored, not of a
//! write competing with the scheduler's backlog from the rest of the
//! step, which the first step never has), the
//! agent's RSS (and per job) beside the bytes its allocator reports live
//! (`drover_runtime_alloc_bytes`; RSS above it is fragmentation, stacks
//! and the binary), the data directory's size, the time of a full
//! `GET /v1/jobs` and of a page of 100, and the restart time (SIGTERM, then
//! a new process until the last registered job is served).
//!
//! Targets: the rate at 50,000 ≥ 0.8 × the rate at 1,000; RSS ≤ 8 KB per
//! job with the default event retention; restart ≤ 1.5 s at 50,000.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Agent;
use serde_json::json;

// No per-client connection cap: 64 writers share one address.
const CONFIG: &str = "client {\n  enabled = false\n}\nlimits {\n  http_max_conns_per_client = 0\n}";

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn dir_bytes(p: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(p) else {
        return 0;
    };
    let mut total = 0;
    for e in entries.flatten() {
        let Ok(meta) = std::fs::symlink_metadata(e.path()) else {
            continue;
        };
        if meta.is_dir() {
            total += dir_bytes(&e.path());
        } else {
            // Allocated blocks, as `du` reports (preallocated segments count).
            use std::os::unix::fs::MetadataExt;
            total += meta.blocks() * 512;
        }
    }
    total
}

async fn register(base: &str, from: usize, to: usize) -> f64 {
    let next = Arc::new(AtomicUsize::new(from));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..64 {
        let (next, url) = (next.clone(), format!("{base}/v1/jobs"));
        tasks.spawn(async move {
            let http = common::plain_http().build().expect("HTTP client");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= to {
                    return;
                }
                let job = common::blocked_job(&format!("job-{i:06}"));
                let r = http.put(&url).json(&job).send().await.expect("register");
                assert!(r.status().is_success(), "register job-{i}");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("client");
    }
    (to - from) as f64 / started.elapsed().as_secs_f64()
}

/// Wait until no evaluation is pending: the leader has planned every
/// register (each leaves a blocked eval), so what is measured next is the
/// stored state, not the scheduler catching up. On a loaded machine that
/// can take minutes, so there is no fixed deadline: it fails only when the
/// evaluations stop moving (the evals table's index, `X-Nomad-Index`,
/// unchanged for [`STALL`]) while some are still pending.
async fn settled(agent: &Agent) {
    const STALL: Duration = Duration::from_secs(120);
    let path = "/v1/evaluations?per_page=1&filter=Status%20%3D%3D%20%22pending%22";
    let (mut seen, mut moved) = (None, Instant::now());
    loop {
        let r = agent.http.get(agent.url(path)).send().await.expect("get");
        let index: Option<u64> = r
            .headers()
            .get("X-Nomad-Index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let pending: serde_json::Value = r.json().await.expect("json");
        if pending.as_array().is_some_and(|a| a.is_empty()) {
            return;
        }
        if index != seen {
            (seen, moved) = (index, Instant::now());
        }
        assert!(
            moved.elapsed() < STALL,
            "evaluations still pending and none written for {STALL:?} (index {seen:?})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The best of three: the time to fetch `path` whole.
async fn timed_get(agent: &Agent, path: &str) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let t = Instant::now();
        let r = agent.http.get(agent.url(path)).send().await.expect("get");
        assert!(r.status().is_success());
        let _ = r.bytes().await.expect("body");
        best = best.min(t.elapsed());
    }
    best
}

/// Stop the agent with SIGTERM, start it again, and time until `last` is
/// served. Returns the new agent, the stop time and the start time.
async fn restart(agent: Agent, dir: &Path, last: &str) -> (Agent, Duration, Duration) {
    let mut agent = agent;
    let t = Instant::now();
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(agent.child.id() as i32, libc::SIGTERM) };
    let _ = agent.child.wait();
    let stop = t.elapsed();
    drop(agent);
    let t = Instant::now();
    let agent = Agent::start_with(dir, CONFIG).await;
    loop {
        let r = agent
            .http
            .get(agent.url(&format!("/v1/job/{last}")))
            .send()
            .await;
        if r.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{last} not served after restart"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    (agent, stop, t.elapsed())
}

fn main() {
    support::block_on(async {
        let steps: Vec<usize> = std::env::var("DROVER_BENCH_GROWTH")
            .unwrap_or_else(|_| "1000,10000,50000".into())
            .split(',')
            .filter_map(|s| s.trim().parse().ok())
            .collect();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut agent = Agent::start_with(dir.path(), CONFIG).await;
        let mut have = 0;
        let mut rates = Vec::new();
        let mut summary = Vec::new();
        for &n in &steps {
            // The rate at n: over the step's last 1,000 registers.
            let tail = n.saturating_sub(1000).max(have);
            register(&agent.base, have, tail).await;
            settled(&agent).await;
            let rate = register(&agent.base, tail, n).await;
            have = n;
            rates.push(rate);
            // Let the leader finish the blocked evals before measuring.
            settled(&agent).await;
            let rss = rss_kib(agent.child.id());
            let live = agent.metric("drover_runtime_alloc_bytes").await;
            let disk = dir_bytes(&dir.path().join("data"));
            let full = timed_get(&agent, "/v1/jobs").await;
            let page = timed_get(&agent, "/v1/jobs?per_page=100").await;
            let last = format!("job-{:06}", n - 1);
            let (next, stop, start) = restart(agent, dir.path(), &last).await;
            agent = next;
            println!(
                "{n:>6} jobs: {rate:>7.0} registers/s  RSS {:>7.1} MiB ({:.1} KB/job; live {:.1} KB/job)  data {:>6.1} MiB  list {:>8.1} ms  page of 100 {:>5.2} ms  restart {:>6.3} s (stop {:.3} s)",
                rss as f64 / 1024.0,
                rss as f64 * 1.024 / n as f64,
                live / 1e3 / n as f64,
                disk as f64 / (1 << 20) as f64,
                full.as_secs_f64() * 1e3,
                page.as_secs_f64() * 1e3,
                start.as_secs_f64(),
                stop.as_secs_f64(),
            );
            summary.push(
                json!({"jobs": n, "rate": rate, "rss_kib": rss, "alloc_bytes": live, "data_bytes": disk,
                "list_ms": full.as_secs_f64() * 1e3, "page_ms": page.as_secs_f64() * 1e3,
                "restart_s": start.as_secs_f64()}),
            );
        }
        if let (Some(first), Some(last)) = (rates.first(), rates.last()) {
            println!(
                "rate at {} / rate at {}: {:.2} (target ≥ 0.8)",
                steps.last().unwrap_or(&0),
                steps.first().unwrap_or(&0),
                last / first
            );
        }
        println!("{}", serde_json::Value::Array(summary));
    });
}
