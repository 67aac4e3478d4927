//! `cargo bench --bench acl`: what ACLs cost an authorised read, ACLs off
//! and on in one run.
//!
//! Two dev servers without a client, one with ACLs off and one with
//! `acl { enabled = true }`, bootstrapped, with a client token whose only
//! policy is `namespace "default" { policy = "read" }`. Each gets the same
//! 100 jobs (datacenter `nowhere`, so nothing is placed). Then, for
//! `GET /v1/job/<id>` (the 100 IDs in turn) and `GET /v1/jobs` (all 100),
//! with 1 and 16 concurrent clients (a keep-alive HTTP/1.1 connection
//! each), it measures requests per second for `DROVER_BENCH_SECS` seconds
//! (default 5) after a second of warm-up: ACLs off, on with the management
//! token, on with the client token, in turn, `DROVER_BENCH_ROUNDS` times
//! (default 2), so the machine's noise falls on all three. It also reads
//! the agent's CPU time per request, which other processes disturb less.
//!
//! It prints a table of the mean rates and the ratio on/off, then a last
//! line of JSON. Figures, not assertions: the machine is shared and noisy,
//! and the load generator shares its cores with the agent.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::acl::{acl_agent_with, client_token};
use common::{blocked_job, job_id_set, plain_http, Agent};
use serde_json::{json, Value};
use support::writes::cpu_seconds;
use support::{block_on, env, put};

/// Both agents: a server without a node, so nothing but the load runs.
const CONFIG: &str = "client {\n  enabled = false\n}";

const JOBS: usize = 100;

/// The path of request `i` of a load.
type PathOf = fn(usize) -> String;

/// One of the three ways a request is made.
struct Target<'a> {
    name: &'static str,
    agent: &'a Agent,
    token: Option<&'a str>,
}

/// Requests completed and agent CPU seconds spent in measured windows.
#[derive(Clone, Copy)]
struct Tally {
    requests: u64,
    failed: u64,
    secs: f64,
    /// `None` when /proc could not be read.
    cpu: Option<f64>,
}

impl Tally {
    /// The windows of one target taken together.
    fn sum(windows: &[Tally]) -> Tally {
        Tally {
            requests: windows.iter().map(|w| w.requests).sum(),
            failed: windows.iter().map(|w| w.failed).sum(),
            secs: windows.iter().map(|w| w.secs).sum(),
            cpu: windows.iter().map(|w| w.cpu).sum(),
        }
    }

    fn rate(&self) -> f64 {
        self.requests as f64 / self.secs
    }

    fn cpu_us_per_request(&self) -> Option<f64> {
        Some(self.cpu? * 1e6 / self.requests.max(1) as f64)
    }
}

/// An HTTP client sending `token` on every request, built outside the
/// timed window.
fn client(token: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(t) = token {
        headers.insert("X-Nomad-Token", t.parse().expect("token header"));
    }
    plain_http()
        .default_headers(headers)
        .build()
        .expect("HTTP client")
}

/// `clients` concurrent clients requesting `path(i)` (`i` counting up)
/// of `target` for `warm` then `secs`; what completed in the second part.
async fn window(
    target: &Target<'_>,
    path: PathOf,
    clients: usize,
    warm: Duration,
    secs: Duration,
) -> Tally {
    let started = Instant::now();
    let (measured_from, end) = (started + warm, started + warm + secs);
    let next = Arc::new(AtomicU64::new(0));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let pid = target.agent.child.id();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let http = client(target.token);
        let base = target.agent.base.clone();
        let (next, done, failed) = (next.clone(), done.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let ok = match http.get(format!("{base}{}", path(i))).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                let now = Instant::now();
                if now >= end {
                    return;
                }
                if now >= measured_from {
                    let counter = if ok { &done } else { &failed };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep_until(measured_from.into()).await;
    let cpu_before = cpu_seconds(&[pid]);
    tokio::time::sleep_until(end.into()).await;
    let cpu_after = cpu_seconds(&[pid]);
    for t in tasks {
        t.await.expect("client task");
    }
    Tally {
        requests: done.load(Ordering::Relaxed),
        failed: failed.load(Ordering::Relaxed),
        secs: secs.as_secs_f64(),
        cpu: cpu_after
            .zip(cpu_before)
            .map(|(after, before)| after - before),
    }
}

fn job_path(i: usize) -> String {
    format!("/v1/job/acl-{}", i % JOBS)
}

fn jobs_path(_: usize) -> String {
    "/v1/jobs".to_string()
}

/// Every target lists the same 100 jobs and reads one: the load below
/// measures answers, not refusals.
async fn check(targets: &[Target<'_>]) {
    let want: Vec<String> = (0..JOBS).map(|i| format!("acl-{i}")).collect();
    for t in targets {
        let http = client(t.token);
        let list: Value = http
            .get(t.agent.url("/v1/jobs"))
            .send()
            .await
            .expect("list")
            .json()
            .await
            .expect("JSON");
        let got: Vec<String> = job_id_set(&list).into_iter().collect();
        let mut want = want.clone();
        want.sort();
        assert_eq!(got, want, "{}", t.name);
        let r = http
            .get(t.agent.url(&job_path(7)))
            .send()
            .await
            .expect("job");
        assert!(r.status().is_success(), "{}: {}", t.name, r.status());
    }
}

fn main() {
    block_on(async {
        let secs = Duration::from_secs(env("DROVER_BENCH_SECS", 5) as u64);
        let rounds = env("DROVER_BENCH_ROUNDS", 2);
        let warm = Duration::from_secs(1);

        let off_dir = tempfile::tempdir().expect("temp dir");
        let off = Agent::start_on("127.0.3.20", off_dir.path(), CONFIG).await;
        let (_on_dir, on, mgmt) = acl_agent_with("127.0.3.21", "", CONFIG).await;
        let reader = client_token(
            &on,
            &mgmt,
            "default-read",
            "namespace \"default\" { policy = \"read\" }",
        )
        .await;
        let ids: Vec<String> = (0..JOBS).map(|i| format!("acl-{i}")).collect();
        for a in [&off, &on] {
            // `on`'s own client sends the management token.
            for id in &ids {
                put(a, blocked_job(id)).await;
            }
            let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
            a.wait_scheduled(&ids).await;
        }
        let targets = [
            Target {
                name: "off",
                agent: &off,
                token: None,
            },
            Target {
                name: "on, management",
                agent: &on,
                token: Some(&mgmt),
            },
            Target {
                name: "on, client token",
                agent: &on,
                token: Some(&reader),
            },
        ];
        check(&targets).await;
        println!(
            "{JOBS} jobs on each agent; {} s per window after {} s of warm-up, {rounds} rounds alternating off / on (management) / on (client token)",
            secs.as_secs(),
            warm.as_secs()
        );

        let endpoints: [(&str, PathOf); 2] =
            [("GET /v1/job/<id>", job_path), ("GET /v1/jobs", jobs_path)];
        let mut rows = Vec::new();
        for (endpoint, path) in endpoints {
            for clients in [1usize, 16] {
                let mut windows: [Vec<Tally>; 3] = Default::default();
                for round in 0..rounds {
                    for (t, tallies) in targets.iter().zip(&mut windows) {
                        let w = window(t, path, clients, warm, secs).await;
                        println!(
                            "  {endpoint:<17} {clients:>2} clients, round {}, {:<17} {:>8.0}/s{}",
                            round + 1,
                            t.name,
                            w.rate(),
                            if w.failed > 0 {
                                format!(" ({} failed)", w.failed)
                            } else {
                                String::new()
                            }
                        );
                        tallies.push(w);
                    }
                }
                rows.push((endpoint, clients, windows.map(|w| Tally::sum(&w))));
            }
        }

        println!();
        println!(
            "{:<17} {:>7} {:>10} {:>10} {:>10} {:>8} {:>8}   agent CPU µs/request off / mgmt / client",
            "endpoint", "clients", "off/s", "mgmt/s", "client/s", "mgmt/off", "client/off"
        );
        let mut summary = Vec::new();
        for (endpoint, clients, [off, mgmt, reader]) in &rows {
            let cpu = |t: &Tally| {
                t.cpu_us_per_request()
                    .map_or("n/a".to_string(), |c| format!("{c:.0}"))
            };
            println!(
                "{endpoint:<17} {clients:>7} {:>10.0} {:>10.0} {:>10.0} {:>8.2} {:>8.2}   {} / {} / {}",
                off.rate(),
                mgmt.rate(),
                reader.rate(),
                mgmt.rate() / off.rate(),
                reader.rate() / off.rate(),
                cpu(off),
                cpu(mgmt),
                cpu(reader),
            );
            summary.push(json!({
                "endpoint": endpoint, "clients": clients,
                "off": off.rate(), "management": mgmt.rate(), "client_token": reader.rate(),
                "ratio_management": mgmt.rate() / off.rate(),
                "ratio_client_token": reader.rate() / off.rate(),
                "cpu_us_per_request": [off.cpu_us_per_request(), mgmt.cpu_us_per_request(),
                    reader.cpu_us_per_request()],
                "failed": off.failed + mgmt.failed + reader.failed,
            }));
        }
        println!("{}", Value::Array(summary));
    });
}
