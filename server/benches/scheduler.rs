//! `cargo bench -p drover-server --bench scheduler`: placements per second
//! through the real eval broker, scheduler workers and plan applier, in
//! process (no HTTP), on a single-server Raft whose data dir sits in
//! /dev/shm when there is one (so the figure is the scheduler's, not the
//! disk's). It lives in drover-server, not drover-scheduler, because it
//! drives Raft and the leader duties; the scheduler's own tests
//! (`cargo test -p drover-scheduler`) need no runtime.
//!
//! Per scenario (1,000 and 10,000 ready nodes): register the nodes, start the
//! leader duties, then submit `jobs` service jobs of `count` allocations each
//! (32 `JobRegister` writes in flight, each with its pending eval) and time
//! from the first submission until every eval is complete and every
//! allocation is placed. Also printed: eval latency (JobRegister
//! acknowledged -> the eval's `ModifyTime`, stamped by the plan applier when
//! it commits the final plan), the share of plans the applier partially
//! rejected, and an isolated cost of one `compute` and one plan write at the
//! end state, to show where the time goes. Each scenario then checks that no
//! node is over-committed and exactly `jobs × count` allocations live.
//!
//! Prints figures rather than asserting them (the machine is shared and
//! noisy); the targets (rate_10k ≥ 20,000/s, rate_10k ≥ 0.7 × rate_1k) are
//! read off the last line, which is JSON.
//!
//! Scale down with `DROVER_BENCH_JOBS` (default 1000), `DROVER_BENCH_SCALE`
//! (multiplies the node counts, default 1) or `DROVER_BENCH_NODES` (e.g.
//! `10000` to run one scenario, for a profiler); `DROVER_BENCH_WORKERS`
//! (default: available cores) sets the scheduler workers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover_api::*;
use drover_scheduler::generic::live_usage;
use drover_scheduler::rank::Capacity;
use drover_server::clock::unix_nanos;
use drover_server::leader::{self, SchedulerStats};
use drover_server::raft::node::{start, RaftHandle, RaftSettings};
use drover_state::command::*;
use drover_state::{AllocRow, Command, WatchSet};
use futures_util::stream::{self, StreamExt};

/// The allocator the `drover` binary uses: measure what ships.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const ALLOCS_PER_JOB: usize = 50;
const IN_FLIGHT: usize = 32;
const NODE_BATCH: usize = 64;
const TASK_CPU: i64 = 100;
const TASK_MEM: i64 = 64;

fn env<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// A ready, eligible dc1 node with a healthy raw_exec driver and room for
/// 640 of the benchmark's allocations (CPU bound): 50,000 allocations on
/// 1,000 nodes use under a tenth of it.
fn node(i: usize) -> Node {
    Node {
        id: format!("{i:08x}-0000-4000-8000-000000000000"),
        name: format!("bench-node-{i}"),
        datacenter: "dc1".into(),
        status: NodeStatus::Ready,
        scheduling_eligibility: SchedulingEligibility::Eligible,
        drivers: [(
            "raw_exec".to_string(),
            DriverInfo {
                detected: true,
                healthy: true,
                ..Default::default()
            },
        )]
        .into(),
        node_resources: NodeResources {
            cpu: NodeCpuResources {
                cpu_shares: 64_000,
                total_cpu_cores: 32,
                ..Default::default()
            },
            memory: NodeMemoryResources {
                memory_mb: 256 * 1024,
            },
            disk: NodeDiskResources {
                disk_mb: 1024 * 1024,
            },
            ..Default::default()
        },
        ..Default::default()
    }
}

fn job(i: usize, now: i64) -> Job {
    let mut job = Job {
        id: format!("bench-{i:05}"),
        job_type: JobType::Service,
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: ALLOCS_PER_JOB as i32,
            tasks: vec![Task {
                name: "server".into(),
                driver: "raw_exec".into(),
                config: drover_api::SmallMap::from([(
                    "command".to_string(),
                    serde_json::json!("/bin/true"),
                )]),
                resources: Resources {
                    cpu: TASK_CPU,
                    memory_mb: TASK_MEM,
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        }],
        submit_time: now,
        ..Default::default()
    };
    drover_server::jobs::canonicalize(&mut job);
    job
}

/// What `PUT /v1/jobs` writes: the job and its pending eval.
fn register(i: usize) -> (Command, String) {
    let now = unix_nanos();
    let job = job(i, now);
    let eval = Evaluation {
        id: uuid::Uuid::new_v4().to_string(),
        namespace: job.namespace.clone(),
        priority: job.priority,
        eval_type: job.job_type.as_str().to_string(),
        triggered_by: trigger::JOB_REGISTER.to_string(),
        job_id: job.id.clone(),
        status: EvalStatus::Pending,
        create_time: now,
        modify_time: now,
        ..Default::default()
    };
    let id = eval.id.clone();
    let cmd = Command::JobRegister(JobRegister {
        job,
        eval: Some(eval),
        enforce_index: None,
        now,
    });
    (cmd, id)
}

async fn write(raft: &RaftHandle, cmd: Command) -> u64 {
    let out = raft.write(cmd).await.expect("raft write");
    out.result.expect("command applied");
    out.index
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[derive(Debug)]
struct Outcome {
    nodes: usize,
    placements: u64,
    elapsed: Duration,
    submit: Duration,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    plans: u64,
    plans_partial: u64,
    compute_ms: f64,
    plan_write_ms: f64,
    register_write_ms: f64,
}

impl Outcome {
    fn rate(&self) -> f64 {
        self.placements as f64 / self.elapsed.as_secs_f64()
    }
    fn partial_share(&self) -> f64 {
        if self.plans == 0 {
            0.0
        } else {
            self.plans_partial as f64 / self.plans as f64
        }
    }
}

fn data_dir() -> (tempfile::TempDir, &'static str) {
    let shm = PathBuf::from("/dev/shm");
    if shm.is_dir() {
        if let Ok(d) = tempfile::Builder::new()
            .prefix("drover-bench-")
            .tempdir_in(&shm)
        {
            return (d, "tmpfs (/dev/shm)");
        }
    }
    (tempfile::tempdir().expect("temp dir"), "disk (temp dir)")
}

async fn scenario(nodes: usize, jobs: usize, workers: usize) -> Outcome {
    let (dir, kind) = data_dir();
    println!("-- {nodes} nodes, {jobs} jobs x {ALLOCS_PER_JOB}, {workers} workers; Raft data dir on {kind}");
    let raft = start(&RaftSettings::new(
        dir.path().to_path_buf(),
        1,
        "127.0.0.1:0".into(),
    ))
    .await
    .expect("start raft");
    raft.wait_for_leader(Duration::from_secs(10))
        .await
        .expect("leader");

    let t = Instant::now();
    stream::iter(0..nodes)
        .map(|i| {
            let raft = &raft;
            async move {
                write(
                    raft,
                    Command::NodeRegister(NodeRegister {
                        node: node(i),
                        evals: vec![],
                        now: unix_nanos(),
                    }),
                )
                .await
            }
        })
        .buffer_unordered(NODE_BATCH)
        .collect::<Vec<_>>()
        .await;
    println!("   registered {nodes} nodes in {:.2?}", t.elapsed());

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let cluster = drover_server::cluster::Cluster::new(
        drover_server::cluster::Identity {
            node_id: raft.node_id,
            name: "bench".into(),
            region: "global".into(),
            rpc_addr: "127.0.0.1:4647".into(),
            http_addr: "127.0.0.1:4646".into(),
            bootstrap_expect: 1,
            datacenter: "dc1".into(),
            version: String::new(),
        },
        raft.clone(),
        Default::default(),
    );
    let duties = leader::start(raft.clone(), cluster, workers, Default::default(), stop_rx);
    let stats: Arc<SchedulerStats> = duties.stats.clone();
    // Let the leader's first feed (nothing pending) pass.
    tokio::time::sleep(Duration::from_millis(50)).await;

    let want = (jobs * ALLOCS_PER_JOB) as u64;
    let start_at = Instant::now();
    let acked: Arc<std::sync::Mutex<HashMap<String, i64>>> = Arc::default();
    let submitter = {
        let raft = raft.clone();
        let acked = acked.clone();
        tokio::spawn(async move {
            let mut write_ns = 0u128;
            let lat: Vec<Duration> = stream::iter(0..jobs)
                .map(|i| {
                    let raft = &raft;
                    let acked = &acked;
                    async move {
                        let (cmd, eval_id) = register(i);
                        let t = Instant::now();
                        write(raft, cmd).await;
                        let d = t.elapsed();
                        acked.lock().unwrap().insert(eval_id, unix_nanos());
                        d
                    }
                })
                .buffer_unordered(IN_FLIGHT)
                .collect()
                .await;
            for d in &lat {
                write_ns += d.as_nanos();
            }
            (
                start_at.elapsed(),
                write_ns as f64 / 1e6 / lat.len().max(1) as f64,
            )
        })
    };

    // Generous: 100 placements/s would be a failure by two orders of magnitude.
    let deadline = Duration::from_secs(60 + want / 100);
    let mut tick = tokio::time::interval(Duration::from_millis(2));
    loop {
        tick.tick().await;
        let placed = stats.placements.load(Ordering::Relaxed);
        let done = stats.evals_completed.load(Ordering::Relaxed);
        if placed >= want && done >= jobs as u64 {
            break;
        }
        if start_at.elapsed() > deadline {
            panic!(
                "deadline {deadline:?} exceeded: {placed}/{want} placements, {done}/{jobs} evals complete"
            );
        }
    }
    let elapsed = start_at.elapsed();
    let (submit, register_write_ms) = submitter.await.expect("submitter");

    let placements = stats.placements.load(Ordering::Relaxed);
    let plans = stats.plans.load(Ordering::Relaxed);
    let plans_partial = stats.plans_partial.load(Ordering::Relaxed);
    stop_tx.send(true).ok();
    duties.stopped().await;

    // Eval latency, and the correctness checks, on the final state.
    let mut lat_ms: Vec<f64>;
    let final_state = {
        let applied = raft.shared.read();
        let st = &applied.state;
        let acked = acked.lock().unwrap();
        let mut ws = WatchSet::new();
        lat_ms = Vec::with_capacity(acked.len());
        for (id, at) in acked.iter() {
            let e = st.eval(&mut ws, id).expect("eval stored");
            assert_eq!(e.status, EvalStatus::Complete, "eval {id} not complete");
            assert!(
                e.blocked_eval.is_empty(),
                "eval {id} left a blocked eval: {:?}",
                e.failed_tg_allocs
            );
            lat_ms.push((e.modify_time - at).max(0) as f64 / 1e6);
        }
        let live: Vec<&AllocRow> = st
            .allocs(&mut ws, None, false)
            .filter(|r| !r.alloc.is_terminal())
            .collect();
        assert_eq!(live.len(), jobs * ALLOCS_PER_JOB, "live allocations");
        let mut per_job: HashMap<&str, usize> = HashMap::new();
        for r in &live {
            *per_job.entry(r.alloc.job_id.as_str()).or_default() += 1;
        }
        assert_eq!(per_job.len(), jobs, "jobs with allocations");
        assert!(
            per_job.values().all(|&n| n == ALLOCS_PER_JOB),
            "every job has exactly {ALLOCS_PER_JOB} live allocations"
        );
        let mut busiest = 0usize;
        for n in st.nodes(&mut ws, "", None, false) {
            let cap = Capacity::of(n);
            let used = live_usage(st, &n.id);
            assert!(
                used.cpu_mhz <= cap.cpu_mhz
                    && used.memory_mb <= cap.memory_mb
                    && used.disk_mb <= cap.disk_mb,
                "node {} over-committed: {used:?} > {cap:?}",
                n.id
            );
            busiest = busiest.max(st.allocs_by_node(&mut ws, &n.id).count());
        }
        println!(
            "   verified: {} live allocations, {} per job, no node over-committed (busiest node: {busiest} allocations)",
            live.len(),
            ALLOCS_PER_JOB
        );
        st.clone()
    };
    lat_ms.sort_by(f64::total_cmp);

    // Where the time goes: one eval's compute, and one 50-allocation plan's
    // Raft write, each in isolation at the end state (median of a few).
    let (compute_ms, plan_cmd) = {
        let mut st = final_state;
        let (cmd, eval_id) = register(jobs + 1);
        let index = st.latest_index() + 1;
        st.apply(index, &cmd);
        let eval = st
            .eval(&mut WatchSet::new(), &eval_id)
            .expect("probe eval")
            .clone();
        let mut times = Vec::new();
        let mut plan = None;
        for _ in 0..9 {
            let t = Instant::now();
            let p = drover_scheduler::compute(
                &st,
                &eval,
                &mut || uuid::Uuid::new_v4().to_string(),
                unix_nanos(),
            );
            times.push(t.elapsed().as_secs_f64() * 1e3);
            plan = Some(p);
        }
        times.sort_by(f64::total_cmp);
        let plan = plan.expect("plan");
        assert_eq!(plan.placed.len(), ALLOCS_PER_JOB, "probe plan places all");
        (
            times[times.len() / 2],
            (
                cmd,
                plan.into_command(eval, uuid::Uuid::new_v4().to_string(), unix_nanos()),
            ),
        )
    };
    let plan_write_ms = {
        let (reg, plan) = plan_cmd;
        write(&raft, reg).await;
        let t = Instant::now();
        write(&raft, plan).await;
        t.elapsed().as_secs_f64() * 1e3
    };

    raft.shutdown().await;
    drop(dir);
    Outcome {
        nodes,
        placements,
        elapsed,
        submit,
        p50_ms: percentile(&lat_ms, 0.5),
        p99_ms: percentile(&lat_ms, 0.99),
        max_ms: lat_ms.last().copied().unwrap_or(f64::NAN),
        plans,
        plans_partial,
        compute_ms,
        plan_write_ms,
        register_write_ms,
    }
}

#[tokio::main]
async fn main() {
    // cargo passes `--bench`; any other argument is a name filter we ignore.
    let scale: f64 = env("DROVER_BENCH_SCALE").unwrap_or(1.0);
    let jobs: usize = env("DROVER_BENCH_JOBS").unwrap_or(1000);
    let workers: usize = env("DROVER_BENCH_WORKERS").unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    });
    let node_counts: Vec<usize> = match std::env::var("DROVER_BENCH_NODES") {
        Ok(v) => v.split(',').filter_map(|n| n.trim().parse().ok()).collect(),
        Err(_) => vec![1_000, 10_000],
    };
    let node_counts: Vec<usize> = node_counts
        .into_iter()
        .map(|n| ((n as f64 * scale).round() as usize).max(1))
        .collect();
    println!(
        "drover scheduler benchmark: {jobs} service jobs x {ALLOCS_PER_JOB} allocations, {workers} workers, nodes {node_counts:?}"
    );

    let mut outcomes = Vec::new();
    for &n in &node_counts {
        outcomes.push(scenario(n, jobs, workers).await);
    }

    println!();
    println!(
        "{:>7} {:>10} {:>9} {:>12} {:>9} {:>9} {:>9} {:>7} {:>9} {:>10} {:>11} {:>11}",
        "nodes",
        "placed",
        "elapsed",
        "placements/s",
        "eval p50",
        "eval p99",
        "eval max",
        "plans",
        "partial",
        "submit",
        "compute/ev",
        "plan write"
    );
    for o in &outcomes {
        println!(
            "{:>7} {:>10} {:>8.2}s {:>12.0} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>7} {:>8.1}% {:>9.2}s {:>9.2}ms {:>9.2}ms",
            o.nodes,
            o.placements,
            o.elapsed.as_secs_f64(),
            o.rate(),
            o.p50_ms,
            o.p99_ms,
            o.max_ms,
            o.plans,
            o.partial_share() * 100.0,
            o.submit.as_secs_f64(),
            o.compute_ms,
            o.plan_write_ms,
        );
    }
    println!(
        "(submit: time until the last JobRegister was acknowledged; mean JobRegister write {}; compute/ev and plan write: one eval's compute and one {ALLOCS_PER_JOB}-allocation plan's Raft write, in isolation at the end state)",
        outcomes
            .iter()
            .map(|o| format!("{:.2}ms", o.register_write_ms))
            .collect::<Vec<_>>()
            .join(" / ")
    );

    let by_nodes = |n: usize| outcomes.iter().find(|o| o.nodes == n);
    let (r1, r2) = (
        by_nodes(node_counts[0]).map(Outcome::rate),
        by_nodes(*node_counts.last().unwrap_or(&0)).map(Outcome::rate),
    );
    let mut json = serde_json::json!({
        "bench": "scheduler",
        "rate_1k": r1.map(|r| r.round()),
        "rate_10k": r2.map(|r| r.round()),
        "ratio": match (r1, r2) { (Some(a), Some(b)) if a > 0.0 => Some((b / a * 1000.0).round() / 1000.0), _ => None },
        "nodes": node_counts,
        "jobs": jobs,
        "allocs_per_job": ALLOCS_PER_JOB,
        "workers": workers,
    });
    let round = |x: f64| (x * 100.0).round() / 100.0;
    for o in &outcomes {
        let tag = if o.nodes % 1000 == 0 {
            format!("{}k", o.nodes / 1000)
        } else {
            o.nodes.to_string()
        };
        json[format!("p50_ms_{tag}")] = round(o.p50_ms).into();
        json[format!("p99_ms_{tag}")] = round(o.p99_ms).into();
        json[format!("partial_{tag}")] = (round(o.partial_share() * 100.0) / 100.0).into();
        json[format!("plans_{tag}")] = o.plans.into();
    }
    println!("{json}");
}
