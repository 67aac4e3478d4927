//! The plan applier's re-check under concurrency (Nomad plan_apply.go):
//! workers plan against stale snapshots, their plans reach the applier in
//! any order, some are checked while others are still on their way through
//! Raft (the pending overlay), and rejected placements are planned again.
//! Whatever the interleaving, no node ends up over-committed in CPU, memory,
//! disk or ports, and every placement satisfies its job's constraints.

mod sched;

use std::collections::BTreeSet;

use drover_api::*;
use drover_scheduler::feasible::node_is_feasible;
use drover_scheduler::generic::Plan;
use drover_scheduler::plan_check::check;
use drover_scheduler::rank::Capacity;
use drover_scheduler::{compute, compute_job};
use drover_state::usage::Reserved;
use drover_state::{State, WatchSet};
use proptest::prelude::*;
use sched::{c, H};

#[derive(Debug, Clone)]
struct JobSpec {
    count: i32,
    cpu: i64,
    mem: i64,
    port: Option<i64>,
    rack: Option<&'static str>,
}

fn job_spec() -> impl Strategy<Value = JobSpec> {
    (
        1..5i32,
        prop::sample::select(vec![100i64, 300, 700]),
        prop::sample::select(vec![64i64, 512, 1500]),
        prop::option::weighted(0.3, 8000..8003i64),
        prop::option::weighted(0.3, prop::sample::select(vec!["a", "b"])),
    )
        .prop_map(|(count, cpu, mem, port, rack)| JobSpec {
            count,
            cpu,
            mem,
            port,
            rack,
        })
}

/// One step of the applier: which queued plan arrives next, and whether it
/// is committed at once or stays pending while the next one is checked.
type Step = (prop::sample::Index, bool);

fn register(h: &mut H, i: usize, spec: &JobSpec) -> Evaluation {
    let constraints = spec
        .rack
        .map(|r| vec![c("${attr.rack}", "=", r)])
        .unwrap_or_default();
    let mut job = H::job_spec(
        &format!("j{i}"),
        JobType::Service,
        spec.count,
        spec.cpu,
        spec.mem,
        constraints,
    );
    if let Some(port) = spec.port {
        job.task_groups[0].networks = vec![NetworkResource {
            reserved_ports: vec![Port {
                label: "p".into(),
                value: port,
                ..Default::default()
            }],
            ..Default::default()
        }];
    }
    h.register(job)
}

fn plan_for(h: &mut H, st: &State, eval: &Evaluation) -> Plan {
    let mut n = h.ids;
    let plan = compute(
        st,
        eval,
        &mut || {
            n += 1;
            format!("alloc-{n:05}")
        },
        sched::T0,
    );
    h.ids = n;
    plan
}

fn commit(h: &mut H, plan: Plan, eval: &Evaluation) {
    let id = format!("blocked-{}-{}", eval.id, h.index);
    h.apply(plan.into_command(eval.clone(), id, sched::T0));
}

/// Every node's live allocations fit it, and every placement satisfies its
/// job's constraints.
fn assert_sound(st: &State) -> Result<(), TestCaseError> {
    let mut ws = WatchSet::new();
    for node in st.nodes(&mut ws, "", None, false) {
        let cap = Capacity::of(node);
        let live: Vec<&Allocation> = st
            .allocs_by_node(&mut ws, &node.id)
            .filter(|r| !r.alloc.is_terminal())
            .map(|r| &r.alloc)
            .collect();
        let (mut cpu, mut mem, mut disk) = (0, 0, 0);
        let mut ports = BTreeSet::new();
        for a in &live {
            let r = Reserved::of(a);
            cpu += r.cpu_mhz;
            mem += r.memory_mb;
            disk += r.disk_mb;
            for p in r.ports {
                prop_assert!(ports.insert(p), "port {} twice on {}", p, node.id);
            }
            let job = st.job(&mut ws, &a.namespace, &a.job_id).unwrap();
            let tg = job.task_group(&a.task_group).unwrap();
            prop_assert!(
                node_is_feasible(node, job, tg, &mut AllocMetric::default()),
                "{} placed on {} against its constraints",
                a.id,
                node.id
            );
        }
        prop_assert!(
            cpu <= cap.cpu_mhz,
            "cpu {} > {} on {}",
            cpu,
            cap.cpu_mhz,
            node.id
        );
        prop_assert!(
            mem <= cap.memory_mb,
            "memory {} > {} on {}",
            mem,
            cap.memory_mb,
            node.id
        );
        prop_assert!(disk <= cap.disk_mb, "disk over on {}", node.id);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn no_interleaving_of_concurrent_plans_overcommits_a_node(
        nodes in prop::collection::vec((prop::sample::select(vec![1000i64, 2000, 4000]), prop::sample::select(vec!["a", "b"])), 1..6),
        jobs in prop::collection::vec(job_spec(), 1..8),
        steps in prop::collection::vec(any::<Step>(), 0..40),
    ) {
        let mut h = H::new();
        for (i, (cpu, rack)) in nodes.iter().enumerate() {
            h.node(&format!("n{i}"), *cpu, 4096, &[("rack", rack)]);
        }
        let evals: Vec<Evaluation> = jobs.iter().enumerate().map(|(i, s)| register(&mut h, i, s)).collect();
        // Every worker plans against the same stale snapshot.
        let snapshot = h.st.clone();
        let mut queue: Vec<(Plan, Evaluation)> = evals
            .iter()
            .map(|e| (plan_for(&mut h, &snapshot, e), e.clone()))
            .collect();
        let mut pending: Option<(Plan, Evaluation)> = None;
        let mut steps = steps.into_iter();
        while !queue.is_empty() {
            let (at, hold) = steps
                .next()
                .map_or((0, false), |(pick, hold)| (pick.index(queue.len()), hold));
            let (mut plan, eval) = queue.remove(at);
            let overlay: Vec<&Allocation> = pending.iter().flat_map(|(p, _)| p.placed.iter()).collect();
            let rejected = check(&h.st, &mut plan, &overlay);
            if hold && pending.is_none() {
                pending = Some((plan, eval));
                continue;
            }
            commit(&mut h, plan, &eval);
            if let Some((p, e)) = pending.take() {
                commit(&mut h, p, &e);
            }
            if rejected > 0 {
                // The worker plans what was rejected again, now fresh.
                let fresh = h.st.clone();
                let again = plan_for(&mut h, &fresh, &eval);
                queue.push((again, eval));
            }
            prop_assert!(h.index < 10_000, "no livelock");
        }
        if let Some((p, e)) = pending.take() {
            commit(&mut h, p, &e);
        }
        assert_sound(&h.st)?;
    }
}

/// A plan computed for a job version that the applier no longer finds
/// (the job was stopped meanwhile) places nothing.
#[test]
fn placements_for_a_stopped_job_are_rejected() {
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    let eval = h.job("web", JobType::Service, 2, 100, 64, vec![]);
    let job = h.stored_job("web");
    let mut plan = compute_job(&h.st, &eval, Some(&job), &mut || "x".to_string(), sched::T0);
    let mut stopped = job.clone();
    stopped.stop = true;
    h.register(stopped);
    assert_eq!(check(&h.st, &mut plan, &[]), 2);
    assert!(plan.placed.is_empty());
}
