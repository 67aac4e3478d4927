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
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, Agent};
use serde_json::json;

struct Etcd {
    child: Child,
    base: String,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_etcd(dir: &Path) -> Option<Etcd> {
    let (client, peer) = (free_port(), free_port());
    let curl = |p: u16| format!("http://127.0.0.1:{p}");
    let child = Command::new("etcd")
        .args(["--name", "bench", "--data-dir"])
        .arg(dir)
        .args(["--listen-client-urls", &curl(client)])
        .args(["--advertise-client-urls", &curl(client)])
        .args(["--listen-peer-urls", &curl(peer)])
        .args(["--initial-advertise-peer-urls", &curl(peer)])
        .args(["--initial-cluster", &format!("bench={}", curl(peer))])
        .args(["--log-level", "error"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let etcd = Etcd {
        child,
        base: curl(client),
    };
    let http = reqwest::Client::new();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http.get(format!("{}/health", etcd.base)).send().await {
            if r.status().is_success() {
                return Some(etcd);
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

/// Counts fsync-class system calls of a process until stopped.
struct SyncCounter {
    child: Option<Child>,
    out: std::path::PathBuf,
}

impl SyncCounter {
    fn start(pid: u32, out: &Path) -> SyncCounter {
        let child = Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync",
                "-p",
                &pid.to_string(),
                "-o",
            ])
            .arg(out)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        // perf needs a moment to attach to every thread.
        std::thread::sleep(Duration::from_millis(300));
        SyncCounter {
            child,
            out: out.to_path_buf(),
        }
    }

    /// Stop counting; the total, or `None` when perf could not count.
    fn stop(mut self) -> Option<u64> {
        let mut child = self.child.take()?;
        // SAFETY: signalling a child we spawned and have not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
        child.wait().ok()?;
        let text = std::fs::read_to_string(&self.out).ok()?;
        let mut total = 0;
        let mut any = false;
        for line in text.lines() {
            let mut fields = line.split(',');
            if let Some(Ok(n)) = fields.next().map(|f| f.trim().parse::<u64>()) {
                total += n;
                any = true;
            }
        }
        any.then_some(total)
    }
}

#[derive(Clone, Copy)]
enum Target {
    Drover,
    Etcd,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Drover => "drover job register",
            Target::Etcd => "etcd put",
        }
    }
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

async fn one_write(http: &reqwest::Client, target: Target, base: &str, key: &str) -> bool {
    let r = match target {
        Target::Drover => {
            let job = common::blocked_job(key);
            http.put(format!("{base}/v1/jobs")).json(&job).send().await
        }
        Target::Etcd => {
            let body = json!({"key": b64(key), "value": b64("some value of a few bytes")});
            http.post(format!("{base}/v3/kv/put"))
                .json(&body)
                .send()
                .await
        }
    };
    match r {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

struct Run {
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
    writes: u64,
    syncs_per_write: Option<f64>,
    /// The longest stretch without an acknowledgement, in seconds.
    longest_gap: f64,
}

/// `clients` writers, each on its own connection, for `secs`.
async fn load(target: Target, base: &str, clients: usize, secs: u64, pid: u32, tmp: &Path) -> Run {
    let counter = SyncCounter::start(pid, &tmp.join("perf.txt"));
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..clients {
        let (next, failed, base) = (next.clone(), failed.clone(), base.to_string());
        tasks.spawn(async move {
            let http = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                if one_write(&http, target, &base, &format!("k{c}-{i}")).await {
                    let at = Instant::now();
                    samples.push((at, at - sent));
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            samples
        });
    }
    let mut all: Vec<(Instant, Duration)> = Vec::new();
    while let Some(r) = tasks.join_next().await {
        all.extend(r.expect("writer"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    let syncs = counter.stop();
    let f = failed.load(Ordering::Relaxed);
    if f > 0 {
        println!("  ({f} writes failed)");
    }
    all.sort_by_key(|(at, _)| *at);
    let mut gap = all
        .first()
        .map_or(0.0, |(at, _)| (*at - started).as_secs_f64());
    for w in all.windows(2) {
        gap = gap.max((w[1].0 - w[0].0).as_secs_f64());
    }
    let mut lat: Vec<f64> = all.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    let (p50, p99) = support::p50_p99(&mut lat);
    let writes = all.len() as u64;
    Run {
        rate: writes as f64 / elapsed,
        p50,
        p99,
        max: lat.last().copied().unwrap_or(0.0),
        writes,
        syncs_per_write: syncs.map(|s| s as f64 / writes.max(1) as f64),
        longest_gap: gap,
    }
}

async fn run_once(target: Target, clients: usize, secs: u64, root: &Path) -> Option<Run> {
    let dir = tempfile::tempdir_in(root).expect("temp dir");
    match target {
        Target::Drover => {
            // No per-client connection cap: 64 writers share one address.
            let config =
                "client {\n  enabled = false\n}\nlimits {\n  http_max_conns_per_client = 0\n}";
            let agent = Agent::start_with(dir.path(), config).await;
            Some(
                load(
                    target,
                    &agent.base,
                    clients,
                    secs,
                    agent.child.id(),
                    dir.path(),
                )
                .await,
            )
        }
        Target::Etcd => {
            let etcd = start_etcd(&dir.path().join("etcd")).await?;
            Some(
                load(
                    target,
                    &etcd.base,
                    clients,
                    secs,
                    etcd.child.id(),
                    dir.path(),
                )
                .await,
            )
        }
    }
}

fn show(target: Target, clients: usize, r: &Run) {
    let syncs = r
        .syncs_per_write
        .map_or("n/a (perf)".to_string(), |s| format!("{s:.3}"));
    println!(
        "{:<22} {clients:>3} clients {:>9.0}/s  p50 {:>6.2} ms  p99 {:>7.2} ms  syncs/write {syncs}",
        target.name(),
        r.rate,
        r.p50,
        r.p99
    );
}

fn main() {
    support::block_on(async {
        let secs = support::env("DROVER_BENCH_SECS", 10) as u64;
        let rounds = support::env("DROVER_BENCH_ROUNDS", 1);
        let stall_secs = support::env("DROVER_BENCH_STALL_SECS", 60) as u64;
        let root = std::env::var("DROVER_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let have_etcd = Command::new("etcd")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
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
                    summary.insert(
                        format!("{name}_{clients}"),
                        json!({"rate": r.rate, "p50_ms": r.p50, "p99_ms": r.p99,
                               "syncs_per_write": r.syncs_per_write, "writes": r.writes}),
                    );
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
