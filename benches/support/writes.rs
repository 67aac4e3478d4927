//! The write load of the benches that set Drover beside etcd: concurrent
//! clients, each on its own HTTP/1.1 connection, writing unique keys as
//! fast as they are acknowledged (Drover job registers, etcd puts through
//! the JSON gateway), with latencies and the servers' fsync-class system
//! calls per acknowledged write.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::etcd::b64;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Drover,
    Etcd,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Drover => "drover job register",
            Target::Etcd => "etcd put",
        }
    }
}

/// One write of `key`: for Drover a register of job `key` (a blocked job,
/// [`crate::common::blocked_job`]), for etcd a put of `key` with
/// `etcd_value` (already base64, as the gateway takes it). Whether it was
/// acknowledged with a success status.
pub async fn one_write(
    http: &reqwest::Client,
    target: Target,
    base: &str,
    key: &str,
    etcd_value: &str,
) -> bool {
    match target {
        Target::Drover => {
            let job = crate::common::blocked_job(key);
            send_ok(http.put(format!("{base}/v1/jobs")).json(&job)).await
        }
        Target::Etcd => {
            let body = json!({"key": b64(key.as_bytes()), "value": etcd_value});
            send_ok(http.post(format!("{base}/v3/kv/put")).json(&body)).await
        }
    }
}

/// Send a write and read its answer whole: whether it succeeded.
pub async fn send_ok(req: reqwest::RequestBuilder) -> bool {
    match req.send().await {
        Ok(r) => {
            let ok = r.status().is_success();
            let _ = r.bytes().await;
            ok
        }
        Err(_) => false,
    }
}

/// The size of a Drover register's JSON body for job `id`, which is the
/// size etcd's values get when the two are compared byte for byte.
pub fn register_body_len(id: &str) -> usize {
    serde_json::to_vec(&crate::common::blocked_job(id)).map_or(0, |b| b.len())
}

/// Counts fsync-class system calls of some processes until stopped.
pub struct SyncCounter {
    child: Option<Child>,
    out: PathBuf,
}

impl SyncCounter {
    pub fn start(pids: &[u32], out: &Path) -> SyncCounter {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        let child = Command::new("perf")
            .args([
                "stat",
                "-x,",
                "-e",
                "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync",
                "-p",
                &pids.join(","),
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
    pub fn stop(mut self) -> Option<u64> {
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

/// CPU time (user and system) the processes have used so far, in
/// seconds, from /proc; `None` when one cannot be read.
pub fn cpu_seconds(pids: &[u32]) -> Option<f64> {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks <= 0 {
        return None;
    }
    let mut total = 0u64;
    for pid in pids {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // The command may hold spaces: fields count from after its ')'.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the whole line.
        total += fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    }
    Some(total as f64 / ticks as f64)
}

/// A timed write load.
pub struct Load<'a> {
    pub target: Target,
    /// Where the clients write: client `c` to `bases[c % bases.len()]`.
    pub bases: &'a [String],
    pub clients: usize,
    pub secs: u64,
    /// The servers whose fsync-class calls are counted.
    pub pids: &'a [u32],
    /// A directory for perf's output.
    pub scratch: &'a Path,
    /// Keys are `<prefix><client>-<n>`: unique across the runs on one
    /// server when each run has its own prefix.
    pub prefix: &'a str,
    /// The value of every etcd put, base64.
    pub etcd_value: &'a str,
}

pub struct Run {
    pub rate: f64,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    pub writes: u64,
    pub failed: u64,
    /// Over every counted process, per acknowledged write.
    pub syncs_per_write: Option<f64>,
    /// CPU time of every counted process per acknowledged write, in µs.
    pub cpu_per_write_us: Option<f64>,
    /// The longest stretch without an acknowledgement, in seconds.
    pub longest_gap: f64,
}

impl Run {
    /// Rate, latencies and syncs on one line.
    pub fn figures(&self) -> String {
        let syncs = self
            .syncs_per_write
            .map_or("n/a (perf)".to_string(), |s| format!("{s:.3}"));
        let cpu = self
            .cpu_per_write_us
            .map_or("n/a".to_string(), |c| format!("{c:.0} µs"));
        format!(
            "{:>7.0}/s  p50 {:>6.2} ms  p99 {:>7.2} ms  syncs/write {syncs}  CPU/write {cpu}",
            self.rate, self.p50, self.p99
        )
    }

    pub fn json(&self) -> Value {
        json!({"rate": self.rate, "p50_ms": self.p50, "p99_ms": self.p99,
               "syncs_per_write": self.syncs_per_write, "writes": self.writes,
               "cpu_per_write_us": self.cpu_per_write_us,
               "failed": self.failed})
    }
}

/// Run `load`: every client writes until the time is up.
pub async fn run(load: &Load<'_>) -> Run {
    let counter = SyncCounter::start(load.pids, &load.scratch.join("perf.txt"));
    let cpu_before = cpu_seconds(load.pids);
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + Duration::from_secs(load.secs);
    let value: Arc<str> = load.etcd_value.into();
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..load.clients {
        let (next, failed, value) = (next.clone(), failed.clone(), value.clone());
        let base = load.bases[c % load.bases.len()].clone();
        let (target, prefix) = (load.target, load.prefix.to_string());
        tasks.spawn(async move {
            let http = crate::common::plain_http()
                .pool_max_idle_per_host(1)
                .build()
                .expect("client");
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let key = format!("{prefix}{c}-{i}");
                let sent = Instant::now();
                if one_write(&http, target, &base, &key, &value).await {
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
    let cpu = cpu_seconds(load.pids).zip(cpu_before).map(|(a, b)| a - b);
    let syncs = counter.stop();
    all.sort_by_key(|(at, _)| *at);
    let mut gap = all
        .first()
        .map_or(0.0, |(at, _)| (*at - started).as_secs_f64());
    for w in all.windows(2) {
        gap = gap.max((w[1].0 - w[0].0).as_secs_f64());
    }
    let mut lat: Vec<f64> = all.iter().map(|(_, d)| d.as_secs_f64() * 1e3).collect();
    let (p50, p99) = super::p50_p99(&mut lat);
    let writes = all.len() as u64;
    Run {
        rate: writes as f64 / elapsed,
        p50,
        p99,
        max: lat.last().copied().unwrap_or(0.0),
        writes,
        failed: failed.load(Ordering::Relaxed),
        syncs_per_write: syncs.map(|s| s as f64 / writes.max(1) as f64),
        cpu_per_write_us: cpu.map(|c| c * 1e6 / writes.max(1) as f64),
        longest_gap: gap,
    }
}
