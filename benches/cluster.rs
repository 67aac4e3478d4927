//! `cargo bench --bench cluster`: Drover's write path and blocking queries
//! on three servers beside a three-member etcd, in one run, on one disk.
//!
//! Every data directory is under one temporary directory
//! (`DROVER_BENCH_DIR`, default the system's). Drover servers are
//! `drover agent -server` without a client on loopback (127.0.0.111 to
//! .113, `-bootstrap-expect 3 -retry-join` each other; the single server
//! on .117 with `-bootstrap-expect 1`; `DROVER_BENCH_IPS_FROM` moves all
//! eight addresses, etcd's included), with no per-client connection cap
//! (`limits { http_max_conns_per_client = 0 }`), since every request
//! comes from one address. etcd is Debian's `etcd-server` with its
//! defaults, members on .114 to .116 from a static `--initial-cluster`
//! (the single member on .118), written and watched through its JSON
//! gateway. Without etcd, Drover runs alone and says so.
//!
//! 1. Writes: Drover job registers (`PUT /v1/jobs`, a job no node can
//!    run, so each register also leaves an evaluation that the leader
//!    plans after acknowledging the register) against etcd puts
//!    (`POST /v3/kv/put`) whose value has as many bytes as the register's
//!    JSON body. Each client has its own HTTP/1.1 connection and writes
//!    unique keys as fast as they are acknowledged, for `DROVER_BENCH_SECS`
//!    (default 10) per figure, at 1 and 64 clients: one server against
//!    one member, then three against three with the clients spread over
//!    every server (as behind a load balancer; followers forward writes to
//!    the leader, and a lone client lands on a follower) and with all of
//!    them on the leader. Printed: acknowledged writes/s, p50 and p99
//!    latency, and, summed over every server, fsync-class system calls
//!    (perf) and CPU time (/proc) per write; then each Drover/etcd ratio.
//!    Target: ≥ 1.0 at 64 clients. After each Drover figure the bench
//!    waits until the leader has planned every register (no evaluation
//!    pending), so the next figure does not share the machine with that
//!    backlog, and prints the wait and the CPU per write counting it.
//! 2. Watchers: `DROVER_BENCH_WATCHERS` (default 10,000) watchers on a
//!    follower, one key each, then every key written once on the leader
//!    by `DROVER_BENCH_WATCH_WRITERS` (default 64) writers; for each
//!    watcher, the time from its write's acknowledgement to its wake
//!    (negative when the watcher heard first), p50/p99/max. One key per
//!    watcher, not a shared one, so the figure is the notification path of
//!    10,000 independent writes and not one fan-out, and etcd gets the
//!    same: a watch on its own key. Drover's watchers are blocking
//!    queries, `GET /v1/job/<id>?index=N&wait=5m`, an HTTP/1.1 connection
//!    each, held on the follower: with `stale=true` the follower answers
//!    from its own state, as an etcd member serves its watches (the fair
//!    pair); without it (Nomad's default consistency; skipped with
//!    `DROVER_BENCH_WATCH_FORWARDED=0`) the follower forwards each query
//!    to the leader and relays the answer. etcd's watchers are
//!    `POST /v3/watch` streams, one watch per HTTP/1.1 connection: that is
//!    how an HTTP client watches through the gateway, and it matches
//!    Drover's connection per query (etcd's gRPC clients can multiplex
//!    many watches on one stream; neither system gets that advantage
//!    here). Watchers connect a thousand at a time, each thousand parked
//!    (or its watches created) before the next. The bench raises its own
//!    open-file limit and prints the followers' (both servers raise theirs
//!    at start).
//!
//! `DROVER_BENCH_PARTS` (default `one,three,watch`) and
//! `DROVER_BENCH_CLIENTS` (default `1,64`) choose what runs, for
//! profiling one case. Figures, not assertions: the machine is shared
//! and noisy, and CPU per write is the steadiest of them.

#[path = "../tests/common/mod.rs"]
mod common;
mod support;
#[path = "cluster/watch.rs"]
mod watch;

use std::path::Path;
use std::time::{Duration, Instant};

use common::cluster::{converged, form_three, Server};
use common::free_port;
use serde_json::{json, Value};
use support::etcd;
use support::writes::{self, Load, Run, Target};

/// Where the servers listen: eight loopback addresses from
/// `DROVER_BENCH_IPS_FROM` (default 127.0.0.111; other benches and tests
/// use other addresses). Three Drover servers, three etcd members, then
/// the single server and the single member.
fn bench_ips() -> Vec<String> {
    let from = std::env::var("DROVER_BENCH_IPS_FROM").unwrap_or_else(|_| "127.0.0.111".into());
    let first: std::net::Ipv4Addr = from
        .parse()
        .unwrap_or_else(|_| panic!("DROVER_BENCH_IPS_FROM={from:?} is not an IPv4 address"));
    (0..8)
        .map(|i| std::net::Ipv4Addr::from(u32::from(first) + i).to_string())
        .collect()
}

/// Every request comes from 127.0.0.1: no per-client connection cap.
const CONFIG: &str = "limits {\n  http_max_conns_per_client = 0\n}";

/// One system under test: its HTTP bases, process IDs and leader.
struct Side {
    bases: Vec<String>,
    pids: Vec<u32>,
    leader: usize,
}

/// Where a run's clients go.
#[derive(Clone, Copy, PartialEq)]
enum Placement {
    /// Round robin over the followers, then the leader.
    Spread,
    Leader,
}

impl Side {
    fn bases(&self, placement: Placement) -> Vec<String> {
        match placement {
            Placement::Leader => vec![self.bases[self.leader].clone()],
            Placement::Spread => {
                let n = self.bases.len();
                (1..=n)
                    .map(|k| self.bases[(self.leader + k) % n].clone())
                    .collect()
            }
        }
    }
}

/// Settings read once from the environment.
struct Settings {
    secs: u64,
    /// The etcd values' length, and one such value in base64.
    value_len: usize,
    value: String,
    scratch: std::path::PathBuf,
}

/// How long the scheduler may take to catch up with the registers.
const SETTLE_DEADLINE: Duration = Duration::from_secs(300);

/// Wait until the leader at `base` has no pending evaluation: every
/// register acknowledged so far is also planned (each leaves a blocked
/// evaluation, a second Raft write the leader makes after the
/// acknowledgement). Returns how long that took.
async fn settled(base: &str) -> Duration {
    // Nomad's `status=` filter compares a field; a `filter=` expression
    // would encode every evaluation to test it, and cost the leader more
    // than the planning waited for.
    let url = format!("{base}/v1/evaluations?per_page=1&status=pending");
    let http = common::plain_http().build().expect("HTTP client");
    let started = Instant::now();
    loop {
        let pending = match http.get(&url).send().await {
            Ok(r) => r.json::<Value>().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        if pending.as_array().is_some_and(|a| a.is_empty()) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < SETTLE_DEADLINE,
            "evaluations still pending after {SETTLE_DEADLINE:?}: {pending}"
        );
        // Each look scans every evaluation on the leader: not too often.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// A run's figures, and for Drover what planning its registers took
/// after the run: the wait, and the servers' CPU per write counting it.
struct Measured {
    run: Run,
    planning: Option<(Duration, Option<f64>)>,
}

/// One measurement: `clients` writers of `target` placed on `side`.
async fn measure(
    s: &Settings,
    target: Target,
    side: &Side,
    placement: Placement,
    clients: usize,
    run: &mut usize,
) -> Measured {
    *run += 1;
    let prefix = format!("r{run}-k");
    let cpu_before = writes::cpu_seconds(&side.pids);
    let r = writes::run(&Load {
        target,
        bases: &side.bases(placement),
        clients,
        secs: s.secs,
        pids: &side.pids,
        scratch: &s.scratch,
        prefix: &prefix,
        etcd_value: &s.value,
    })
    .await;
    if r.failed > 0 {
        println!("    ({} writes failed)", r.failed);
    }
    // The next run starts with the scheduler idle, not still planning
    // this run's registers.
    let planning = match target {
        Target::Drover => {
            let lag = settled(&side.bases[side.leader]).await;
            let cpu = writes::cpu_seconds(&side.pids)
                .zip(cpu_before)
                .map(|(a, b)| (a - b) * 1e6 / r.writes.max(1) as f64);
            Some((lag, cpu))
        }
        Target::Etcd => None,
    };
    Measured { run: r, planning }
}

/// Drover then etcd, one figure each, and their ratio.
async fn compare(
    s: &Settings,
    label: &str,
    drover: &Side,
    etcd: Option<&Side>,
    placement: Placement,
    clients: usize,
    run: &mut usize,
) -> Value {
    let Measured { run: d, planning } =
        measure(s, Target::Drover, drover, placement, clients, run).await;
    println!("  {label:<34} drover {}", d.figures());
    let mut out = json!({"drover": d.json()});
    if let Some((lag, cpu)) = planning {
        out["drover_cpu_with_planning_us"] = json!(cpu);
        let cpu = cpu.map_or("n/a".into(), |c| format!("{c:.0} µs"));
        println!(
            "  {:<34}        (planned {:.1} s after the run; CPU/write with planning {cpu})",
            "",
            lag.as_secs_f64()
        );
        out["drover_planning_s"] = json!(lag.as_secs_f64());
    }
    if let Some(etcd) = etcd {
        let e = measure(s, Target::Etcd, etcd, placement, clients, run)
            .await
            .run;
        println!("  {:<34} etcd   {}", "", e.figures());
        let ratio = d.rate / e.rate.max(f64::MIN_POSITIVE);
        let target = if clients >= 64 {
            " (target ≥ 1.0)"
        } else {
            ""
        };
        println!("  {:<34} drover/etcd {ratio:.2}{target}", "");
        out["etcd"] = e.json();
        out["ratio"] = json!(ratio);
    }
    out
}

/// A single Drover server on its own, leading once it answers so.
async fn start_solo(dir: &Path) -> Server {
    let s = Server::start(
        dir,
        &bench_ips()[6],
        free_port(),
        &["-bootstrap-expect".to_string(), "1".to_string()],
        CONFIG,
    );
    s.until("/v1/status/leader", "the single server leads", |st, v| {
        st.is_success() && v.as_str().is_some_and(|l| !l.is_empty())
    })
    .await;
    s
}

/// Raise this process's soft open-file limit to its hard limit: the
/// watcher part holds a connection per watcher. Returns the soft limit.
fn raise_own_fd_limit() -> u64 {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write one rlimit through a
    // valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 0;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                limit = raised;
            }
        }
    }
    limit.rlim_cur
}

/// "1 client" or "64 clients".
fn clients_label(clients: usize) -> String {
    match clients {
        1 => "1 client".to_string(),
        n => format!("{n} clients"),
    }
}

/// What a run measures, from the environment.
struct Plan {
    parts: Vec<String>,
    clients: Vec<usize>,
}

impl Plan {
    fn from_env() -> Plan {
        let list = |name: &str, default: &str| -> Vec<String> {
            std::env::var(name)
                .unwrap_or_else(|_| default.into())
                .split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        };
        Plan {
            parts: list("DROVER_BENCH_PARTS", "one,three,watch"),
            clients: list("DROVER_BENCH_CLIENTS", "1,64")
                .iter()
                .filter_map(|c| c.parse().ok())
                .collect(),
        }
    }

    fn has(&self, part: &str) -> bool {
        self.parts.iter().any(|p| p == part)
    }
}

/// One Drover server against one etcd member.
async fn one_against_one(s: &Settings, plan: &Plan, etcd_ok: bool, run: &mut usize) -> Value {
    println!("1 Drover server against 1 etcd member");
    let mut out = serde_json::Map::new();
    let solo = start_solo(&s.scratch.join("solo-drover")).await;
    let drover = Side {
        bases: vec![solo.base()],
        pids: vec![solo.child.id()],
        leader: 0,
    };
    let etcd_dir = s.scratch.join("solo-etcd");
    std::fs::create_dir_all(&etcd_dir).expect("etcd dir");
    let members = match etcd_ok {
        true => etcd::start_cluster(&etcd_dir, &[bench_ips()[7].as_str()]).await,
        false => None,
    };
    let etcd_side = members.as_ref().map(|m| Side {
        bases: vec![m[0].base.clone()],
        pids: vec![m[0].child.id()],
        leader: 0,
    });
    for &clients in &plan.clients {
        let label = clients_label(clients);
        let figures = compare(
            s,
            &label,
            &drover,
            etcd_side.as_ref(),
            Placement::Leader,
            clients,
            run,
        )
        .await;
        out.insert(format!("{clients}"), figures);
    }
    Value::Object(out)
}

/// Three Drover servers against three etcd members: writes, then the
/// watchers.
async fn three_against_three(s: &Settings, plan: &Plan, etcd_ok: bool, run: &mut usize) -> Value {
    println!("3 Drover servers against 3 etcd members");
    let mut out = serde_json::Map::new();
    let dirs: Vec<_> = (0..3)
        .map(|i| s.scratch.join(format!("drover-{i}")))
        .collect();
    let ips = bench_ips();
    let ips: Vec<&str> = ips.iter().map(String::as_str).collect();
    let (servers, voters, _) = form_three(&dirs, &ips[..3], CONFIG).await;
    let etcd_dir = s.scratch.join("etcd");
    std::fs::create_dir_all(&etcd_dir).expect("etcd dir");
    let members = match etcd_ok {
        true => etcd::start_cluster(&etcd_dir, &ips[3..6]).await,
        false => None,
    };
    let all: Vec<&Server> = servers.iter().collect();
    let clients = if plan.has("three") {
        &plan.clients[..]
    } else {
        &[]
    };
    for &clients in clients {
        for placement in [Placement::Spread, Placement::Leader] {
            // Leadership may have moved during a run: look again.
            let drover = Side {
                bases: servers.iter().map(Server::base).collect(),
                pids: servers.iter().map(|s| s.child.id()).collect(),
                leader: converged(&all, &voters).await,
            };
            let etcd_side = match &members {
                Some(m) => Some(Side {
                    bases: m.iter().map(|m| m.base.clone()).collect(),
                    pids: m.iter().map(|m| m.child.id()).collect(),
                    leader: etcd::wait_leader(m).await,
                }),
                None => None,
            };
            let (label, key) = match (placement, clients) {
                (Placement::Spread, 1) => ("1 client, on a follower".into(), "follower"),
                (Placement::Spread, _) => (
                    format!("{} spread over all", clients_label(clients)),
                    "spread",
                ),
                (Placement::Leader, _) => (
                    format!("{}, all on the leader", clients_label(clients)),
                    "leader",
                ),
            };
            let figures = compare(
                s,
                &label,
                &drover,
                etcd_side.as_ref(),
                placement,
                clients,
                run,
            )
            .await;
            out.insert(format!("{key}_{clients}"), figures);
        }
    }
    if plan.has("watch") {
        let figures = watch::compare(
            &watch::Settings::from_env(s.value_len),
            &servers,
            &voters,
            members.as_deref(),
        )
        .await;
        out.insert("watchers".into(), figures);
    }
    Value::Object(out)
}

fn main() {
    support::block_on(async {
        let secs = support::env("DROVER_BENCH_SECS", 10) as u64;
        let plan = Plan::from_env();
        let root = std::env::var("DROVER_BENCH_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| std::env::temp_dir());
        let tmp = tempfile::tempdir_in(&root).expect("temp dir");
        let etcd_ok = etcd::installed();
        if !etcd_ok {
            println!("etcd not found (Debian: apt-get install etcd-server): Drover alone");
        }
        // A key as long as the runs' keys, so the sizes match.
        let value_len = writes::register_body_len("r10-k63-123456");
        let s = Settings {
            secs,
            value_len,
            value: etcd::b64(&vec![b'v'; value_len]),
            scratch: tmp.path().to_path_buf(),
        };
        println!(
            "data directories under {}; register body {value_len} bytes = etcd value bytes; {secs} s per figure; this process's open-file limit {}",
            tmp.path().display(),
            raise_own_fd_limit()
        );
        let mut summary = serde_json::Map::new();
        let mut run = 0;
        if plan.has("one") {
            let figures = one_against_one(&s, &plan, etcd_ok, &mut run).await;
            summary.insert("one".into(), figures);
        }
        if plan.has("three") || plan.has("watch") {
            let figures = three_against_three(&s, &plan, etcd_ok, &mut run).await;
            summary.insert("three".into(), figures);
        }
        println!("{}", Value::Object(summary));
    });
}
