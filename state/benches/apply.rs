//! `cargo bench -p drover-state`: apply rates and snapshot cost.
//!
//! Prints figures rather than asserting them: machines here are shared and
//! noisy, so the target (≥ 200,000 alloc client updates/s) is read off the
//! output, not enforced by a timed test.

use std::hint::black_box;
use std::time::{Duration, Instant};

use drover_api::*;
use drover_state::command::*;
use drover_state::{Command, EventRetention, State};

/// The allocator the `drover` binary uses: measure what ships.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const T0: i64 = 1_700_000_000_000_000_000;

fn job(i: usize) -> Job {
    Job {
        namespace: "default".into(),
        id: format!("job-{i:05}"),
        name: format!("job-{i:05}"),
        region: "global".into(),
        priority: 50,
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: 10,
            tasks: vec![Task {
                name: "server".into(),
                driver: "docker".into(),
                config: drover_api::SmallMap::from([(
                    "image".to_string(),
                    serde_json::json!("drover-test/busybox:1"),
                )]),
                resources: Resources {
                    cpu: 100,
                    memory_mb: 64,
                    ..Default::default()
                },
                ..Default::default()
            }],
            ..Default::default()
        }],
        submit_time: T0,
        ..Default::default()
    }
}

fn alloc_id(j: usize, k: usize) -> String {
    format!("{j:08x}-0000-4000-8000-{k:012x}")
}

fn placed(j: &Job, ji: usize, n: usize) -> Vec<Allocation> {
    (0..n)
        .map(|k| Allocation {
            id: alloc_id(ji, k),
            namespace: j.namespace.clone(),
            eval_id: format!("eval-{ji}"),
            name: format!("{}.web[{k}]", j.id),
            node_id: format!("node-{}", (ji * n + k) % 500),
            job_id: j.id.clone(),
            task_group: "web".into(),
            create_time: T0,
            ..Default::default()
        })
        .collect()
}

fn plan(j: &Job, ji: usize, n: usize) -> Command {
    Command::ApplyPlanResults(ApplyPlanResults {
        deployment: None,
        deployment_updates: Vec::new(),
        namespace: j.namespace.clone(),
        job_id: j.id.clone(),
        job_version: 0,
        placed: placed(j, ji, n),
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals: vec![],
        now: T0,
    })
}

fn register(j: &Job) -> Command {
    Command::JobRegister(JobRegister {
        job: j.clone(),
        eval: None,
        enforce_index: None,
        now: T0,
    })
}

fn rate(n: usize, d: Duration) -> String {
    format!("{:>12.0}/s", n as f64 / d.as_secs_f64())
}

struct Bench {
    state: State,
    index: u64,
}

impl Bench {
    fn apply_all(&mut self, cmds: &[Command]) -> Duration {
        let start = Instant::now();
        for c in cmds {
            self.index += 1;
            let applied = self.state.apply(self.index, c);
            black_box(&applied);
        }
        start.elapsed()
    }
}

fn main() {
    // cargo passes `--bench`; any other argument is a name filter we ignore.
    // DROVER_BENCH_JOBS scales the run down, e.g. for callgrind.
    let jobs_n = std::env::var("DROVER_BENCH_JOBS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let allocs_per_job = 10;
    println!(
        "drover-state apply benchmark ({jobs_n} jobs, {} allocations)",
        jobs_n * allocs_per_job
    );
    let mut b = Bench {
        state: State::new(EventRetention::default()),
        index: 0,
    };

    let jobs: Vec<Job> = (0..jobs_n).map(job).collect();
    let cmds: Vec<Command> = jobs.iter().map(register).collect();
    let d = b.apply_all(&cmds);
    println!(
        "job register              {} ({} commands in {:?})",
        rate(cmds.len(), d),
        cmds.len(),
        d
    );

    let cmds: Vec<Command> = jobs
        .iter()
        .enumerate()
        .map(|(i, j)| plan(j, i, allocs_per_job))
        .collect();
    let d = b.apply_all(&cmds);
    println!(
        "plan result, 10 allocs    {} ({} allocations placed/s)",
        rate(cmds.len(), d),
        rate(cmds.len() * allocs_per_job, d).trim()
    );

    // 100-allocation plans for 200 more jobs.
    let big: Vec<Job> = (jobs_n..jobs_n + 200).map(job).collect();
    let regs: Vec<Command> = big.iter().map(register).collect();
    b.apply_all(&regs);
    let cmds: Vec<Command> = big
        .iter()
        .enumerate()
        .map(|(i, j)| plan(j, jobs_n + i, 100))
        .collect();
    let d = b.apply_all(&cmds);
    println!(
        "plan result, 100 allocs   {} ({} allocations placed/s)",
        rate(cmds.len(), d),
        rate(cmds.len() * 100, d).trim()
    );

    // Alloc client updates: one allocation per command, as a client reports
    // a single state change. The first pass gives every allocation its task
    // states (fresh memory per allocation); later passes are the steady
    // state of a running cluster, cycling running → complete → pending.
    let allocs = jobs_n * allocs_per_job;
    let statuses = [
        AllocClientStatus::Running,
        AllocClientStatus::Complete,
        AllocClientStatus::Pending,
    ];
    let update = |i: usize| {
        let (j, k) = (i % jobs_n, (i / jobs_n) % allocs_per_job);
        let st = statuses[(i / allocs) % 3];
        Command::AllocClientUpdate(AllocClientUpdate {
            updates: vec![AllocClientState {
                id: alloc_id(j, k),
                client_status: st,
                client_description: String::new(),
                task_states: SmallMap::from([(
                    "server".to_string(),
                    TaskState {
                        state: TaskStateValue::Running,
                        restarts: (i / allocs) as u64,
                        started_at: Some(T0),
                        ..Default::default()
                    },
                )]),
                deployment_status: None,
            }],
            evals: vec![],
            now: T0 + i as i64,
        })
    };
    let first: Vec<Command> = (0..allocs).map(update).collect();
    let d = b.apply_all(&first);
    println!(
        "alloc client update, 1st  {} (first report of each of {} allocations)",
        rate(first.len(), d),
        first.len()
    );
    drop(first);
    let steady: Vec<Command> = (allocs..allocs * 4).map(update).collect();
    let d = b.apply_all(&steady);
    println!(
        "alloc client update       {} ({} commands in {:?}; target >= 200000/s)",
        rate(steady.len(), d),
        steady.len(),
        d
    );

    // Snapshot of every job and allocation above, plus retained events.
    let start = Instant::now();
    let bytes = b.state.snapshot().expect("snapshot encodes");
    let enc = start.elapsed();
    let start = Instant::now();
    let restored = State::restore(&bytes, EventRetention::default()).expect("snapshot decodes");
    let dec = start.elapsed();
    assert!(restored == b.state, "restored state differs");
    println!(
        "snapshot                  {:.1} MiB written in {:?}, restored (with index rebuild) in {:?}; {} events retained",
        bytes.len() as f64 / (1024.0 * 1024.0),
        enc,
        dec,
        b.state.events().len()
    );

    // The same state without the event log, to separate table size from history.
    let mut lean = b.state.clone();
    lean.set_event_retention(EventRetention {
        max_events: 0,
        max_age: 0,
        max_bytes: 0,
    });
    let start = Instant::now();
    let bytes = lean.snapshot().expect("snapshot encodes");
    println!(
        "snapshot, tables only     {:.1} MiB written in {:?} ({} jobs, {} allocations)",
        bytes.len() as f64 / (1024.0 * 1024.0),
        start.elapsed(),
        jobs_n + 200,
        allocs + 200 * 100
    );
}
