//! `cargo bench --bench docker`: the docker driver through a dev agent
//! against the machine's Docker daemon and the offline busybox
//! image. Prints, then a last line of JSON:
//!
//! * register → container running: a docker service job submitted over
//!   HTTP until its allocation reports running, one job at a time, p50/p99
//!   over `DROVER_BENCH_DOCKER_JOBS` jobs (default 20);
//! * `docker run -d` of the same image and command, timed in the same run,
//!   interleaved with the jobs so both see the same machine;
//! * their p50 ratio: what scheduling, Raft, the client and the driver add
//!   over the docker CLI alone (target ≤ 1.2×).
//!
//! Figures, not assertions: the machine is shared and noisy. Without a
//! daemon it says SKIPPED and exits 0.

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../client/tests/docker_support/mod.rs"]
mod docker_support;
mod support;

use std::process::Command;
use std::time::Instant;

use common::Agent;
use serde_json::{json, Value};
use support::{block_on, block_until, env, p50_p99, put, stop};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn job(id: &str) -> Value {
    json!({"Job": {"ID": id, "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "docker",
            "Config": {"image": docker_support::TEST_IMAGE,
                "command": "sleep", "args": ["1000"]},
            "Resources": {"CPU": 100, "MemoryMB": 32}}]}]}})
}

/// `docker run -d` of the same container, in ms; the container is removed
/// afterwards (untimed).
fn docker_run(label: &str) -> f64 {
    let started = Instant::now();
    let out = Command::new("docker")
        .args(["run", "-d", "--label", label, "--memory", "32m"])
        .args([docker_support::TEST_IMAGE, "sleep", "1000"])
        .output()
        .expect("the docker CLI runs");
    let ms = started.elapsed().as_secs_f64() * 1e3;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let _ = Command::new("docker").args(["rm", "-f", &id]).output();
    ms
}

fn main() {
    block_on(async {
        if docker_support::docker_or_skip("bench docker")
            .await
            .is_none()
        {
            return;
        }
        let n = env("DROVER_BENCH_DOCKER_JOBS", 20);
        let label = docker_support::unique("drover-bench");
        let _guard = docker_support::ContainerGuard::new(format!("drover.bench={label}"));
        let dir = tempfile::tempdir().unwrap();
        let a = Agent::start(dir.path()).await;
        // One warm-up of each, untimed: the first container start pays for
        // cold caches in the daemon.
        docker_run(&format!("drover.bench={label}"));
        put(&a, job("warm")).await;
        block_until(&a, "/v1/job/warm/allocations", |v| {
            v[0]["ClientStatus"] == "running"
        })
        .await;
        stop(&a, "warm").await;

        let (mut drover, mut cli) = (Vec::new(), Vec::new());
        for i in 0..n {
            cli.push(docker_run(&format!("drover.bench={label}")));
            let id = format!("d{i}");
            let started = Instant::now();
            put(&a, job(&id)).await;
            block_until(&a, &format!("/v1/job/{id}/allocations"), |v| {
                v.as_array()
                    .is_some_and(|l| l.len() == 1 && l[0]["ClientStatus"] == "running")
            })
            .await;
            drover.push(started.elapsed().as_secs_f64() * 1e3);
            stop(&a, &id).await;
        }
        let (d50, d99) = p50_p99(&mut drover);
        let (c50, c99) = p50_p99(&mut cli);
        let ratio = d50 / c50;
        println!(
            "docker job register -> container running ({n} jobs): p50 {d50:.1} ms, p99 {d99:.1} ms"
        );
        println!("docker run -d (same image and command):       p50 {c50:.1} ms, p99 {c99:.1} ms");
        println!("ratio p50 drover / docker run: {ratio:.2} (target <= 1.2)");
        println!(
            "{}",
            json!({"docker_register_to_running_p50_ms": d50, "docker_register_to_running_p99_ms": d99,
                   "docker_run_p50_ms": c50, "docker_run_p99_ms": c99, "ratio": ratio})
        );
    });
}
