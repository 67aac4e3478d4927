//! `kill -9` of a dev server in the middle of concurrent writes, ten times
//! over on one data directory: every write that was acknowledged is there
//! after each restart, and the restart never trips over the dead process's
//! lock on the Raft log.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{blocked_job, Agent, DEADLINE};

const CYCLES: usize = 10;
const WRITERS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_writes_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().expect("tempdir");
    let acked: Arc<Mutex<BTreeSet<String>>> = Arc::default();
    for cycle in 0..=CYCLES {
        // Started at once on the dead process's directory.
        let agent = Agent::start_with(dir.path(), "client {\n  enabled = false\n}").await;
        let want = acked.lock().expect("lock").clone();
        let started = Instant::now();
        loop {
            let have = agent.job_ids().await.unwrap_or_default();
            let missing: Vec<&String> = want.difference(&have).collect();
            if missing.is_empty() {
                break;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "cycle {cycle}: {} acknowledged jobs missing after restart, e.g. {:?}",
                missing.len(),
                &missing[..missing.len().min(5)]
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if cycle == CYCLES {
            println!(
                "{} acknowledged writes survived {CYCLES} kill -9 cycles",
                want.len()
            );
            return;
        }
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..WRITERS {
            let (http, url, acked) = (reqwest::Client::new(), agent.url("/v1/jobs"), acked.clone());
            writers.spawn(async move {
                for i in 0.. {
                    let id = format!("c{cycle}-w{w}-{i}");
                    match http.put(&url).json(&blocked_job(&id)).send().await {
                        Ok(r) if r.status().is_success() => {
                            acked.lock().expect("lock").insert(id);
                        }
                        // The server died under us: that write is unknown.
                        _ => return,
                    }
                }
            });
        }
        // Kill once this cycle has had some writes acknowledged, while the
        // writers are still going.
        let before = want.len();
        let waited = Instant::now();
        while acked.lock().expect("lock").len() < before + 40 {
            assert!(waited.elapsed() < DEADLINE, "cycle {cycle}: writes stalled");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        drop(agent); // SIGKILL, then reaped
        while writers.join_next().await.is_some() {}
    }
}
