//! `cargo bench --bench writepath`: Drover's write path beside etcd's, in
//! one run, on the same disk.
//!
//! Both servers get a fresh data directory under the same temporary
//! directory (`DROVER_BENCH_DIR`, default the system's), one member each,
//! default settings. Drover is `agent -dev` without a client, and every
//! job names datacenter `nowhere`, so each register also leaves a blocked
//! evaluation (two Raft writes). etcd is Debian's `etcd-server`, written
//! through its JSON gateway (`POST /v3/kv/put`), unique keys.
//!
//! For 1 and 64 concurrent clients (one HTTP/1.1 connection each) and
//! `DROVER_BENCH_SECS` seconds (default 10) per run, it prints
//! acknowledged writes per second, p50 and p99 latency, and the
//! fsync-class system calls (`fsync`, `fdatasync`) per acknowledged write,
//! counted by `perf stat` on the server's syscall tracepoints. Runs
//! alternate Drover and etcd, `DROVER_BENCH_ROUNDS` times (default 1),
//! and the best round of each is kept. Then 8 writers for
//! `DROVER_BENCH_STALL_SECS` (default 60): p99 and max acknowledgement
//! latency, and the longest stretch with no acknowledgement.
//!
//! Figures, not assertions: the machine is shared and noisy. Targets:
//! Drover/etcd ≥ 1.0 at 64 clients, ≥ 0.8 at 1, at most one sync per
//! write.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::path::Path;

use common::Agent;
use serde_json::json;
use support::writes::{self, Load, Run, Target};

/// What writepath's etcd puts store under each key.
const ETCD_VALUE: &[u8] = b"some value of a few bytes";

/// `clients` writers on one server (`base`, process `pid`) for `secs`.
async fn load(target: Target, base: &str, pid: u32, clients: usize, secs: u64, dir: &Path) -> Run {
    writes::run(&Load {
        target,
        bases: &[base.to_string()],
        clients,
        secs,
        pids: &[pid],
        scratch: dir,
        prefix: "k",
        etcd_value: &support::etcd::b64(ETCD_VALUE),
    })
    .await
}

async fn run_once(target: Target, clients: usize, secs: u64, root: &Path) -> Option<Run> {
    let dir = tempfile::tempdir_in(root).expect("temp dir");
    let dir = dir.path();
    match target {
        Target::Drover => {
            // No per-client connection cap: 64 writers share one address.
            let config =
                "client {\n  enabled = false\n}\nlimits {\n  http_max_conns_per_client = 0\n}";
            let agent = Agent::start_with(dir, config).await;
            Some(load(target, &agent.base, agent.child.id(), clients, secs, dir).await)
        }
        Target::Etcd => {
            let etcd = support::etcd::start_cluster(dir, &["127.0.0.1"]).await?;
            let member = etcd.first()?;
            Some(load(target, &member.base, member.child.id(), clients, secs, dir).await)
        }
    }
}

fn show(target: Target, clients: usize, r: &Run) {
    if r.failed > 0 {
        println!("  ({} writes failed)", r.failed);
    }
    println!("{:<22} {clients:>3} clients {}", target.name(), r.figures());
}

fn main() {
    support::block_on(async {
        let secs = support::env("DROVER_BENCH_SECS", 10) as u64;
        let rounds = support::env("DROVER_BENCH_ROUNDS", 1);
        let stall_secs = support::env("DROVER_BENCH_STALL_SECS", 60) as u64;
        let root = std::env::var("DROVER_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let have_etcd = support::etcd::installed();
        if !have_etcd {
            println!("etcd not found (Debian: apt-get install etcd-server): Drover alone");
        }
        println!("data directories under {}", root.display());
        let mut summary = serde_json::Map::new();
        for clients in [1usize, 64] {
            let mut best: [Option<Run>; 2] = [None, None];
            for _ in 0..rounds {
                for (slot, target) in [Target::Drover, Target::Etcd].into_iter().enumerate() {
                    if matches!(target, Target::Etcd) && !have_etcd {
                        continue;
                    }
                    let Some(r) = run_once(target, clients, secs, &root).await else {
                        println!("{}: did not start", target.name());
                        continue;
                    };
                    show(target, clients, &r);
                    if best[slot].as_ref().is_none_or(|b| b.rate < r.rate) {
                        best[slot] = Some(r);
                    }
                }
            }
            if let [Some(d), Some(e)] = &best {
                println!(
                    "  drover/etcd at {clients} clients: {:.2} (target {})",
                    d.rate / e.rate,
                    if clients == 1 { "≥ 0.8" } else { "≥ 1.0" }
                );
                summary.insert(format!("ratio_{clients}"), json!(d.rate / e.rate));
            }
            for (name, r) in ["drover", "etcd"].iter().zip(&best) {
                if let Some(r) = r {
                    summary.insert(format!("{name}_{clients}"), r.json());
                }
            }
        }
        if stall_secs > 0 {
            if let Some(r) = run_once(Target::Drover, 8, stall_secs, &root).await {
                println!(
                    "drover, 8 writers for {stall_secs} s: {:.0}/s, p99 {:.2} ms, max {:.2} ms, longest stretch without an acknowledgement {:.3} s",
                    r.rate, r.p99, r.max, r.longest_gap
                );
                summary.insert(
                    "stall_8".into(),
                    json!({"p99_ms": r.p99, "max_ms": r.max, "longest_gap_s": r.longest_gap}),
                );
            }
        }
        println!("{}", serde_json::Value::Object(summary));
    });
}
