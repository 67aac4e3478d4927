//! `cargo bench --bench client`: the dev agent's client with real raw_exec
//! processes. Prints, then a last line of JSON:
//!
//! * register → running: a service job submitted over HTTP until its
//!   allocation reports running, one job at a time (blocking queries, no
//!   polling delay), p50/p99 over `DROVER_BENCH_STARTS` jobs (default 100;
//!   target p50 < 100 ms);
//! * many tasks: one job of `DROVER_BENCH_TASKS` allocations (default
//!   1,000) until every one runs, with the Raft entries it took (the
//!   client batches its status reports);
//! * log follow: a finished task's 200 MB of output read through
//!   `/v1/client/fs/logs?follow=true` (Nomad's base64 frames), in MB/s of
//!   log data (target ≥ 100 MB/s).
//!
//! Figures, not assertions: the machine is shared and noisy.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::time::Instant;

use common::Agent;
use serde_json::{json, Value};
use support::{applied_index, block_on, block_until, env, p50_p99, put, stop};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A small service: 1 MHz, 10 MB, 10 MB of disk and one 1 MB log file, so
/// a thousand fit on one dev node.
fn service(id: &str, count: usize) -> Value {
    json!({"Job": {"ID": id, "TaskGroups": [{"Name": "g", "Count": count,
        "EphemeralDisk": {"SizeMB": 10},
        "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "LogConfig": {"MaxFiles": 1, "MaxFileSizeMB": 1},
            "Config": {"command": "/bin/sleep", "args": ["1000"]},
            "Resources": {"CPU": 1, "MemoryMB": 10}}]}]}})
}

fn main() {
    block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let a = Agent::start(dir.path()).await;
        block_until(&a, "/v1/nodes", |v| {
            v.as_array().is_some_and(|n| !n.is_empty())
        })
        .await;

        let starts = env("DROVER_BENCH_STARTS", 100);
        let mut ms = Vec::with_capacity(starts);
        for i in 0..starts {
            let id = format!("start-{i}");
            let t0 = Instant::now();
            put(&a, service(&id, 1)).await;
            block_until(&a, &format!("/v1/job/{id}/allocations"), |v| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0]["ClientStatus"] == "running")
            })
            .await;
            ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        }
        let (p50, p99) = p50_p99(&mut ms);
        println!("register -> running over {starts} jobs: p50 {p50:.1} ms, p99 {p99:.1} ms");
        for i in 0..starts {
            stop(&a, &format!("start-{i}")).await;
        }

        let tasks = env("DROVER_BENCH_TASKS", 1000);
        let before = applied_index(&a).await;
        let t0 = Instant::now();
        put(&a, service("many", tasks)).await;
        block_until(&a, "/v1/job/many/summary", |v| {
            v["Summary"]["g"]["Running"].as_u64() == Some(tasks as u64)
        })
        .await;
        let many_s = t0.elapsed().as_secs_f64();
        let writes = applied_index(&a).await - before;
        println!("{tasks} tasks running in {many_s:.2} s using {writes} Raft entries");
        stop(&a, "many").await;

        let mb = env("DROVER_BENCH_LOG_MB", 200);
        put(
            &a,
            json!({"Job": {"ID": "loud", "Type": "batch", "TaskGroups": [{"Name": "g",
                "Tasks": [{"Name": "t", "Driver": "raw_exec",
                    "LogConfig": {"MaxFiles": 3, "MaxFileSizeMB": 90},
                    "Config": {"command": "/bin/sh", "args": ["-c",
                        format!("head -c {} /dev/zero | tr '\\0' x", mb * 1_000_000)]}}]}]}}),
        )
        .await;
        let allocs = block_until(&a, "/v1/job/loud/allocations", |v| {
            v.as_array()
                .is_some_and(|l| l.len() == 1 && l[0]["ClientStatus"] == "complete")
        })
        .await;
        let id = allocs[0]["ID"].as_str().unwrap().to_string();
        let t0 = Instant::now();
        let mut r = a
            .http
            .get(a.url(&format!(
                "/v1/client/fs/logs/{id}?task=t&type=stdout&follow=true&origin=start&offset=0"
            )))
            .send()
            .await
            .unwrap();
        let mut wire = 0usize;
        while let Some(chunk) = r.chunk().await.unwrap() {
            wire += chunk.len();
        }
        let secs = t0.elapsed().as_secs_f64();
        // Frames carry base64: 4 wire bytes per 3 log bytes.
        let log_bytes = wire as f64 * 3.0 / 4.0;
        let mbps = log_bytes / 1e6 / secs;
        println!(
            "log follow: {:.0} MB of log in {secs:.2} s = {mbps:.0} MB/s",
            log_bytes / 1e6
        );

        println!(
            "{}",
            json!({"bench": "client", "start_p50_ms": (p50 * 10.0).round() / 10.0,
                "start_p99_ms": (p99 * 10.0).round() / 10.0, "starts": starts,
                "tasks": tasks, "tasks_running_s": (many_s * 100.0).round() / 100.0,
                "tasks_raft_entries": writes, "log_follow_mb_s": mbps.round()})
        );
    });
}
