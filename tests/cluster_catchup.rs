//! A follower that missed 10,000 writes while it was down catches up by
//! installing the leader's snapshot (the log it would need is compacted
//! away), and then holds the same state as the other two servers.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::cluster::*;
use common::DEADLINE;
use reqwest::StatusCode;
use serde_json::{json, Value};

const WRITES: usize = 10_000;
const WRITERS: usize = 64;

/// A parameterized batch job: a template that registers without an
/// evaluation. The load is then the log's, not 10,000 evaluations for the
/// scheduler, which would take a debug build most of a minute.
fn template_job(id: &str) -> Value {
    json!({"Job": {"ID": id, "Type": "batch", "Datacenters": ["nowhere"],
        "ParameterizedJob": {}, "TaskGroups": [{"Name": "g", "Tasks": [
            {"Name": "t", "Driver": "raw_exec", "Config": {"command": "/bin/true"}}]}]}})
}

/// The Raft index `s` has applied, from `/v1/agent/self`.
async fn applied(s: &Server) -> Option<u64> {
    let (_, v) = s.get("/v1/agent/self").await?;
    v["stats"]["raft"]["applied_index"].as_str()?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_that_missed_ten_thousand_writes_catches_up_by_snapshot() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.0.121", "127.0.0.122", "127.0.0.123"];
    let dirs: Vec<PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    // A snapshot every 100 entries with 20 kept behind it: the writes
    // below take about 300 entries (the proposer batches concurrent
    // writes, some 30 to an entry), so the entries the stopped server
    // needs are purged and the leader must send it the snapshot.
    let extra = "server {\n  raft_snapshot_threshold = 100\n  raft_trailing_logs = 20\n}";
    let (mut servers, voters, leader) = form_three(&dirs, &ips, extra).await;
    let down = (leader + 1) % 3;
    servers[down].kill();

    // 10,000 job registers from 64 writers, all to the leader.
    let writing = Instant::now();
    let leader_srv = &servers[leader];
    let retried = AtomicUsize::new(0);
    let writers = (0..WRITERS).map(|w| {
        let retried = &retried;
        async move {
            for i in (w..WRITES).step_by(WRITERS) {
                let id = format!("job-{i:05}");
                let first = Instant::now();
                // A loaded machine may delay the quorum's acknowledgements
                // past the leader's lease: the write then fails as
                // ambiguous and is sent again (a register is idempotent).
                loop {
                    let sent = leader_srv
                        .client
                        .put(format!("{}/v1/jobs", leader_srv.base()))
                        .json(&template_job(&id))
                        .send()
                        .await;
                    let (status, body) = match sent {
                        Ok(r) => (r.status(), r.text().await.unwrap_or_default()),
                        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()),
                    };
                    if status == StatusCode::OK {
                        break;
                    }
                    assert!(
                        first.elapsed() < DEADLINE,
                        "write {id} still fails: {status} {body}"
                    );
                    retried.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    });
    futures_util::future::join_all(writers).await;
    let wrote = writing.elapsed();
    let target = applied(leader_srv).await.expect("the leader answers");
    println!(
        "{WRITES} writes from {WRITERS} writers in {wrote:?} ({:.0}/s, {} sent again); the leader applied index {target}",
        WRITES as f64 / wrote.as_secs_f64(),
        retried.load(Ordering::Relaxed)
    );

    // The stopped server comes back and catches up with what the leader
    // had applied when it restarted.
    let restarted = Instant::now();
    servers[down].restart();
    loop {
        if applied(&servers[down]).await.is_some_and(|i| i >= target) {
            break;
        }
        assert!(
            restarted.elapsed() < DEADLINE,
            "the restarted server did not reach index {target}:\n{}\n---- leader\n{}",
            servers[down].log(),
            servers[leader].log()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let caught_up = restarted.elapsed();
    println!("the restarted server reached index {target} in {caught_up:?}");
    assert!(
        servers[down].log().contains("install_full_snapshot"),
        "the restarted server caught up without a snapshot:\n{}",
        servers[down].log()
    );

    // It serves every job, and all three hold one state.
    servers[down]
        .until(
            "/v1/jobs?stale=true",
            "all jobs on the restarted server",
            |s, v: &Value| s == StatusCode::OK && common::job_id_set(v).len() == WRITES,
        )
        .await;
    let all: Vec<&Server> = servers.iter().collect();
    converged(&all, &voters).await;
    let index = assert_same_state(&all).await;
    println!(
        "the three servers hold the same state at index {index}; the test took {:?}",
        started.elapsed()
    );
}
