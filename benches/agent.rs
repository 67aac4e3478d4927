//! `cargo bench --bench agent`: the real `drover agent -dev` binary, measured
//! from outside over loopback HTTP. Prints figures; asserts nothing about
//! speed (shared machines are noisy).
//!
//! 1. Job registers per second through HTTP, 1 and 64 concurrent clients,
//!    with fsync on (every acknowledged write is in the Raft log, fdatasynced).
//! 2. 10,000 blocking queries parked on distinct jobs; one write at a time:
//!    wake latency of the watcher that should wake (p50/p99), how many woke
//!    wrongly (target 0), and agent RSS per parked watcher (target < 10 KB).
//! 3. Idle agent RSS (target <= 40 MB).

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

struct Agent {
    child: Child,
    base: String,
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .map(|l| l.local_addr().map(|a| a.port()).unwrap_or(0))
        .unwrap_or(0)
}

/// Resident set size of `pid` in KiB, from /proc.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

async fn start(dir: &std::path::Path) -> Agent {
    let (http, rpc) = (free_port(), free_port());
    let config = dir.join("ports.hcl");
    std::fs::write(
        &config,
        // The server's figures: no client node, so registered jobs stay
        // blocked instead of starting processes. No per-client connection
        // cap: the HTTP/1.1 round parks 10,000 queries from 127.0.0.1, a
        // connection each (Nomad's default cap is 100 per address).
        format!("ports {{\n  http = {http}\n  rpc = {rpc}\n}}\nclient {{\n  enabled = false\n}}\nlimits {{\n  http_max_conns_per_client = 0\n}}\n"),
    )
    .expect("write config");
    let child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["agent", "-dev", "-log-level=error", "-data-dir"])
        .arg(dir.join("data"))
        .arg("-config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("drover starts");
    let agent = Agent {
        child,
        base: format!("http://127.0.0.1:{http}"),
    };
    let client = plain_http().build().expect("HTTP client");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = client
            .get(format!("{}/v1/status/leader", agent.base))
            .send()
            .await
        {
            if r.text().await.is_ok_and(|t| t.len() > 2) {
                return agent;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("agent did not start");
}

fn job(id: &str) -> serde_json::Value {
    json!({"Job": {"ID": id, "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}})
}

async fn registers(base: &str, clients: usize, total: usize, prefix: &str) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (next, url, prefix) = (next.clone(), format!("{base}/v1/jobs"), prefix.to_string());
        tasks.push(tokio::spawn(async move {
            let http = plain_http().build().expect("HTTP client");
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    return;
                }
                let r = http
                    .put(&url)
                    .json(&job(&format!("{prefix}-{i}")))
                    .send()
                    .await
                    .expect("register");
                assert!(r.status().is_success());
            }
        }));
    }
    for t in tasks {
        t.await.expect("client task");
    }
    total as f64 / started.elapsed().as_secs_f64()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// 10,000 blocking queries on distinct (absent) jobs, each parked at the
/// current index; then 50 writes, each to one watched job.
async fn watchers(agent: &Agent, http2: bool) {
    let transport = if http2 {
        "HTTP/2, one connection"
    } else {
        "HTTP/1.1, a connection each"
    };
    let builder = plain_http().pool_max_idle_per_host(usize::MAX);
    let http = if http2 {
        builder.http2_prior_knowledge()
    } else {
        builder
    }
    .build()
    .expect("client");
    let index: u64 = http
        .get(format!("{}/v1/jobs", agent.base))
        .send()
        .await
        .expect("list")
        .headers()["X-Nomad-Index"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("number");
    let watchers = 10_000;
    let rounds = 50;
    let woke_wrongly = Arc::new(AtomicUsize::new(0));
    let before = rss_kib(agent.child.id());
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(usize, Instant)>();
    for w in 0..watchers {
        let (http, base, tx, wrong) = (
            http.clone(),
            agent.base.clone(),
            tx.clone(),
            woke_wrongly.clone(),
        );
        tokio::spawn(async move {
            let url = format!("{base}/v1/job/watch-{w}?index={index}&wait=5m");
            if let Ok(r) = http.get(&url).send().await {
                let _ = r.bytes().await;
                let at = Instant::now();
                if w % (watchers / rounds) != 0 {
                    wrong.fetch_add(1, Ordering::Relaxed);
                }
                let _ = tx.send((w, at));
            }
        });
    }
    // Wait until the agent's memory stops growing: every query has arrived.
    let settle = Instant::now();
    let mut last = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rss_kib(agent.child.id());
        if (now.abs_diff(last) < 64 && settle.elapsed() > Duration::from_secs(3))
            || settle.elapsed() > Duration::from_secs(60)
        {
            break;
        }
        last = now;
    }
    let parked = rss_kib(agent.child.id());
    println!(
        "{watchers} parked watchers, {transport}: {:.2} KiB of agent RSS each (target < 10 KB)",
        parked.saturating_sub(before) as f64 / watchers as f64
    );
    let writer = plain_http().build().expect("HTTP client");
    let mut latencies = Vec::new();
    for k in 0..rounds {
        let w = k * (watchers / rounds);
        let sent = Instant::now();
        let r = writer
            .put(format!("{}/v1/jobs", agent.base))
            .json(&job(&format!("watch-{w}")))
            .send()
            .await
            .expect("write");
        assert!(r.status().is_success());
        match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
            Ok(Some((got, at))) if got == w => latencies.push(at.saturating_duration_since(sent)),
            Ok(Some((got, _))) => println!("  round {k}: watcher {got} woke instead of {w}"),
            _ => println!("  round {k}: watcher {w} did not wake within 10s"),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    latencies.sort();
    println!(
        "  wake latency (write sent -> watcher answered, incl. the fsynced Raft commit), {} rounds: p50 {:?}, p99 {:?}; watchers woken wrongly: {} (target 0)",
        latencies.len(),
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        woke_wrongly.load(Ordering::Relaxed)
    );
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let agent = start(dir.path()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = rss_kib(agent.child.id());
    println!(
        "idle agent -dev RSS          {:>8.1} MiB (target <= 40 MiB)",
        idle as f64 / 1024.0
    );

    let one = registers(&agent.base, 1, 300, "seq").await;
    println!("job register, 1 client       {one:>8.0}/s (fsync on)");
    let many = registers(&agent.base, 64, 3000, "par").await;
    println!("job register, 64 clients     {many:>8.0}/s (fsync on)");

    drop(agent);
    for http2 in [false, true] {
        let dir = tempfile::tempdir().expect("temp dir");
        let agent = start(dir.path()).await;
        watchers(&agent, http2).await;
    }
}

/// A client builder for plain HTTP that does not load the system's CA
/// store into every client (reqwest's default with its `rustls` feature),
/// which the timed windows here would otherwise include.
fn plain_http() -> reqwest::ClientBuilder {
    reqwest::Client::builder().use_preconfigured_tls(drover_server::tls::no_tls())
}
