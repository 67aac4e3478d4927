//! The watcher part of `cargo bench --bench cluster` (see its doc): many
//! watchers held on a follower, one key each, then every key written once
//! on the leader; the time from each write's acknowledgement to its
//! watcher's wake.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::common::blocked_job;
use crate::common::cluster::{converged, Server};
use crate::support::etcd::{b64, wait_leader, Member};
use crate::support::writes::send_ok;

/// Watchers are opened this many at a time, each batch parked (or its
/// watches created) before the next, so the connection storm does not
/// overflow the listener's accept queue.
const BATCH: usize = 1_000;
/// How long a batch of watchers may take to park.
const PARK_DEADLINE: Duration = Duration::from_secs(60);
/// How long after the last acknowledgement watchers may take to wake.
const WAKE_DEADLINE: Duration = Duration::from_secs(60);

pub struct Settings {
    watchers: usize,
    writers: usize,
    forwarded: bool,
    /// etcd values are this long, as in the write part.
    value_len: usize,
}

impl Settings {
    pub fn from_env(value_len: usize) -> Settings {
        Settings {
            watchers: crate::support::env("DROVER_BENCH_WATCHERS", 10_000),
            writers: crate::support::env("DROVER_BENCH_WATCH_WRITERS", 64).max(1),
            forwarded: crate::support::env("DROVER_BENCH_WATCH_FORWARDED", 1) != 0,
            value_len,
        }
    }
}

/// The watched key (Drover job ID, etcd key) of watcher `i`.
fn key(i: usize) -> String {
    format!("w-{i:05}")
}

#[derive(Clone, Copy, PartialEq)]
enum System {
    Drover,
    Etcd,
}

/// Writes watcher `i`'s key for the `round`th time: a Drover register
/// (the job's `Meta` names the round, so every round changes the job),
/// or an etcd put.
async fn write(
    http: &reqwest::Client,
    system: System,
    base: &str,
    i: usize,
    round: u32,
    value: &str,
) -> bool {
    match system {
        System::Drover => {
            let mut job = blocked_job(&key(i));
            job["Job"]["Meta"] = json!({ "round": round.to_string() });
            send_ok(http.put(format!("{base}/v1/jobs")).json(&job)).await
        }
        System::Etcd => {
            let body = json!({"key": b64(key(i).as_bytes()), "value": value});
            send_ok(http.post(format!("{base}/v3/kv/put")).json(&body)).await
        }
    }
}

/// When each key's write was sent and acknowledged (`None`: it failed),
/// and the writes per second.
struct Writes {
    times: Vec<Option<(Instant, Instant)>>,
    rate: f64,
}

/// Every key written once by `writers` concurrent clients on `base`.
async fn write_all(s: &Settings, system: System, base: &str, round: u32) -> Writes {
    let next = Arc::new(AtomicUsize::new(0));
    let value: Arc<str> = b64(&vec![b'0' + (round % 10) as u8; s.value_len]).into();
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for _ in 0..s.writers {
        let (next, value, base, n) = (next.clone(), value.clone(), base.to_string(), s.watchers);
        tasks.spawn(async move {
            let http = crate::common::plain_http().build().expect("HTTP client");
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n {
                    return done;
                }
                let sent = Instant::now();
                if write(&http, system, &base, i, round, &value).await {
                    done.push((i, sent, Instant::now()));
                }
            }
        });
    }
    let mut times = vec![None; s.watchers];
    while let Some(r) = tasks.join_next().await {
        for (i, sent, acked) in r.expect("writer") {
            times[i] = Some((sent, acked));
        }
    }
    let ok = times.iter().flatten().count();
    Writes {
        times,
        rate: ok as f64 / started.elapsed().as_secs_f64(),
    }
}

/// What one watcher saw: its key's index and when its answer (Drover) or
/// event (etcd) arrived, or why it failed.
type Wake = (usize, Result<Instant, String>);

/// Drover's blocking query on job `i` at `url`; reports when it answers.
async fn drover_watcher(
    http: reqwest::Client,
    url: String,
    i: usize,
    tx: mpsc::UnboundedSender<Wake>,
) {
    let woke = match http.get(&url).send().await {
        Ok(r) => {
            let at = Instant::now();
            let status = r.status();
            let body = r.text().await.unwrap_or_default();
            match status.is_success() {
                true => Ok(at),
                false => Err(format!("{status}: {}", body.trim())),
            }
        }
        Err(e) => Err(drover_server::raft::network::error_chain(&e)),
    };
    let _ = tx.send((i, woke));
}

/// An etcd watch stream on key `i`; counts itself in `created` once etcd
/// confirms the watch, then reports when the first event arrives.
async fn etcd_watcher(
    http: reqwest::Client,
    base: String,
    i: usize,
    created: Arc<AtomicUsize>,
    tx: mpsc::UnboundedSender<Wake>,
) {
    let body = json!({"create_request": {"key": b64(key(i).as_bytes())}});
    let mut woke = Err("the watch stream ended without an event".to_string());
    if let Ok(mut r) = http
        .post(format!("{base}/v3/watch"))
        .json(&body)
        .send()
        .await
    {
        let mut seen = String::new();
        let mut confirmed = false;
        while let Ok(Some(chunk)) = r.chunk().await {
            let at = Instant::now();
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if !confirmed && seen.contains("\"created\":true") {
                confirmed = true;
                created.fetch_add(1, Ordering::Relaxed);
            }
            if confirmed && seen.contains("\"events\"") {
                woke = Ok(at);
                break;
            }
        }
    }
    let _ = tx.send((i, woke));
}

/// Wait until `count()` reaches `want`; false (after saying so) when it
/// does not within [`PARK_DEADLINE`].
async fn reach<F, Fut>(what: &str, want: usize, mut count: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = usize>,
{
    let started = Instant::now();
    loop {
        let n = count().await;
        if n >= want {
            return true;
        }
        if started.elapsed() > PARK_DEADLINE {
            println!("    gave up: {n} {what}, waited {PARK_DEADLINE:?} for {want}");
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Watchers that did not wake by their key's write.
#[derive(Default)]
struct Missed {
    /// Their key's write failed.
    write_failed: usize,
    /// The watcher failed (an error status, a broken connection).
    failed: usize,
    /// The first failure's reason.
    why: Option<String>,
    /// Still waiting when the bench stopped waiting.
    asleep: usize,
}

impl Missed {
    fn total(&self) -> usize {
        self.write_failed + self.failed + self.asleep
    }
}

/// The figures of one watcher run.
struct Figures {
    /// Acknowledgement to wake, ms, sorted.
    lat: Vec<f64>,
    missed: Missed,
    /// Woke before their write was sent: not a wake by the write.
    early: usize,
    write_rate: f64,
}

impl Figures {
    fn line(&self, label: &str, n: usize) -> String {
        let p = |q| crate::support::percentile(&self.lat, q);
        let mut line = format!(
            "  {label:<40} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>7.2} ms  woke {}/{n} (early {}, missed {})  writes {:.0}/s",
            p(0.5),
            p(0.99),
            self.lat.last().copied().unwrap_or(0.0),
            self.lat.len(),
            self.early,
            self.missed.total(),
            self.write_rate
        );
        let m = &self.missed;
        if m.total() > 0 {
            line.push_str(&format!(
                "\n    missed: {} writes failed, {} watchers failed (first: {}), {} still waiting after {WAKE_DEADLINE:?}",
                m.write_failed,
                m.failed,
                m.why.as_deref().unwrap_or("-"),
                m.asleep
            ));
        }
        line
    }

    fn json(&self) -> Value {
        let p = |q| crate::support::percentile(&self.lat, q);
        json!({"p50_ms": p(0.5), "p99_ms": p(0.99), "max_ms": self.lat.last(),
               "woke": self.lat.len(), "early": self.early, "missed": self.missed.total(),
               "write_rate": self.write_rate})
    }
}

/// Match the wakes with the writes: signed milliseconds from each
/// acknowledgement to its watcher's wake.
async fn collect(n: usize, writes: Writes, rx: &mut mpsc::UnboundedReceiver<Wake>) -> Figures {
    let mut wakes: Vec<Option<Result<Instant, String>>> = vec![None; n];
    let mut heard = 0;
    let deadline = tokio::time::Instant::now() + WAKE_DEADLINE;
    while heard < n {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some((i, woke))) => {
                wakes[i] = Some(woke);
                heard += 1;
            }
            _ => break,
        }
    }
    let mut figures = Figures {
        lat: Vec::new(),
        missed: Missed::default(),
        early: 0,
        write_rate: writes.rate,
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    for (w, t) in wakes.into_iter().zip(&writes.times) {
        match (w, t) {
            (_, None) => figures.missed.write_failed += 1,
            (None, _) => figures.missed.asleep += 1,
            (Some(Err(why)), _) => {
                figures.missed.failed += 1;
                figures.missed.why.get_or_insert(why);
            }
            (Some(Ok(w)), Some((sent, _))) if w < *sent => figures.early += 1,
            (Some(Ok(w)), Some((_, acked))) => figures.lat.push(if w >= *acked {
                ms(w - *acked)
            } else {
                -ms(*acked - w)
            }),
        }
    }
    figures.lat.sort_by(f64::total_cmp);
    figures
}

/// The open-file limit (soft) of process `pid`, from /proc.
fn fd_limit(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/limits"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Blocking queries parked on any of `servers`.
async fn parked(servers: &[Server]) -> usize {
    let mut total = 0.0;
    for s in servers {
        total += s.metric("drover_blocking_queries_parked").await;
    }
    total as usize
}

/// Drover: watchers on `servers[follower]`, parked there (`stale`) or
/// forwarded to the leader; then every job written once more on the
/// leader.
async fn drover_run(
    s: &Settings,
    servers: &[Server],
    (follower, leader): (usize, usize),
    stale: bool,
    round: u32,
) -> Option<Figures> {
    let (follower, leader) = (&servers[follower], &servers[leader]);
    // Once every register is planned, no evaluation write touches a
    // watched job; the watchers block past the leader's index then.
    crate::settled(&leader.base()).await;
    let index = leader.metric("drover_raft_applied_index").await as u64;
    let before = parked(servers).await;
    let http = crate::common::plain_http()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watchers = JoinSet::new();
    let stale = if stale { "&stale=true" } else { "" };
    for start in (0..s.watchers).step_by(BATCH) {
        let end = (start + BATCH).min(s.watchers);
        for i in start..end {
            let url = format!(
                "{}/v1/job/{}?index={index}&wait=5m{stale}",
                follower.base(),
                key(i)
            );
            watchers.spawn(drover_watcher(http.clone(), url, i, tx.clone()));
        }
        if !reach("blocking queries parked", before + end, || parked(servers)).await {
            return None;
        }
    }
    let writes = write_all(s, System::Drover, &leader.base(), round).await;
    Some(collect(s.watchers, writes, &mut rx).await)
}

/// etcd: watch streams on `follower`, then every key put on the leader.
async fn etcd_run(s: &Settings, follower: &Member, leader: &Member) -> Option<Figures> {
    let http = crate::common::plain_http()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let created = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut watchers = JoinSet::new();
    for start in (0..s.watchers).step_by(BATCH) {
        let end = (start + BATCH).min(s.watchers);
        for i in start..end {
            let (http, base, created) = (http.clone(), follower.base.clone(), created.clone());
            watchers.spawn(etcd_watcher(http, base, i, created, tx.clone()));
        }
        let count = || async { created.load(Ordering::Relaxed) };
        if !reach("etcd watches created", end, count).await {
            return None;
        }
    }
    let writes = write_all(s, System::Etcd, &leader.base, 1).await;
    Some(collect(s.watchers, writes, &mut rx).await)
}

/// The follower to hold watchers on: the first server that does not lead.
fn follower_of(len: usize, leader: usize) -> usize {
    (leader + 1) % len
}

/// Runs the watcher part on `servers` (whose RPC addresses are `voters`)
/// and, when given, etcd `members`, and prints it; the figures as JSON.
pub async fn compare(
    s: &Settings,
    servers: &[Server],
    voters: &[String],
    members: Option<&[Member]>,
) -> Value {
    let n = s.watchers;
    let all: Vec<&Server> = servers.iter().collect();
    // Leadership may move between rounds: each round looks again.
    let roles = || async {
        let leader = converged(&all, voters).await;
        (follower_of(servers.len(), leader), leader)
    };
    let (f, l) = roles().await;
    println!(
        "{n} watchers on a follower, one key each; every key then written once on the leader by {} writers; acknowledgement → wake",
        s.writers
    );
    println!(
        "  open-file limit of the drover follower: {}",
        fd_limit(servers[f].child.id())
    );
    let mut out = serde_json::Map::new();
    // Every job exists before anyone watches it, as every etcd key does.
    let created = write_all(s, System::Drover, &servers[l].base(), 0).await;
    println!("  (created {n} jobs at {:.0}/s)", created.rate);
    let mut round = 0;
    let modes: &[(bool, &str)] = if s.forwarded {
        &[(true, "stale"), (false, "forwarded")]
    } else {
        &[(true, "stale")]
    };
    for &(stale, name) in modes {
        round += 1;
        let label = if stale {
            "drover, stale (served by the follower)"
        } else {
            "drover, default (forwarded to leader)"
        };
        match drover_run(s, servers, roles().await, stale, round).await {
            Some(fig) => {
                println!("{}", fig.line(label, n));
                out.insert(format!("drover_{name}"), fig.json());
            }
            None => println!("  {label}: not measured"),
        }
    }
    if let Some(members) = members {
        let l = wait_leader(members).await;
        let follower = &members[follower_of(members.len(), l)];
        println!(
            "  open-file limit of the etcd follower: {}",
            fd_limit(follower.child.id())
        );
        let created = write_all(s, System::Etcd, &members[l].base, 0).await;
        println!("  (created {n} etcd keys at {:.0}/s)", created.rate);
        match etcd_run(s, follower, &members[l]).await {
            Some(fig) => {
                println!("{}", fig.line("etcd, watch streams on the follower", n));
                out.insert("etcd".into(), fig.json());
            }
            None => println!("  etcd: not measured"),
        }
    }
    if let (Some(d), Some(e)) = (out.get("drover_stale"), out.get("etcd")) {
        let ratio = |k: &str| d[k].as_f64().unwrap_or(0.0) / e[k].as_f64().unwrap_or(0.0);
        println!(
            "  drover (stale) / etcd: p99 {:.2}, max {:.2} (lower is better for Drover)",
            ratio("p99_ms"),
            ratio("max_ms")
        );
    }
    Value::Object(out)
}
