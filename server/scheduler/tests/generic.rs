//! The service/batch scheduler against real states built by applying
//! commands: placements, capacity, constraints, failures, scale-down,
//! stopped jobs, lost nodes; and a proptest that plans applied one after
//! another never over-commit a node.

use drover_api::*;
use drover_scheduler::generic::{candidate_limit, DESC_LOST, DESC_SCALED_DOWN, DESC_STOPPED_JOB};
use drover_state::command::{JobDeregister, NodeUpdateStatus};
use drover_state::{Command, WatchSet};
use proptest::prelude::*;

mod sched;
use sched::{c, H, T0};

#[test]
fn places_count_allocations_with_metrics_and_resources() {
    let mut h = H::new();
    for i in 0..4 {
        h.node(&format!("n{i}"), 4000, 4096, &[]);
    }
    let eval = h.job("web", JobType::Service, 3, 500, 256, vec![]);
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 3);
    assert!(plan.failed_tg_allocs.is_empty());
    let names: Vec<&str> = plan.placed.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["web.g[0]", "web.g[1]", "web.g[2]"]);
    for a in &plan.placed {
        assert_eq!(a.eval_id, eval.id);
        let m = a.metrics.as_ref().unwrap();
        assert!(m.nodes_evaluated >= 1);
        assert!(!m.score_meta_data.is_empty());
        assert_eq!(
            a.allocated_resources.as_ref().unwrap().tasks["t"]
                .cpu
                .cpu_shares,
            500
        );
    }
    assert_eq!(h.live_allocs("web").len(), 3);
    assert_eq!(
        h.st.eval(&mut WatchSet::new(), &eval.id).unwrap().status,
        EvalStatus::Complete
    );
    // Re-evaluating changes nothing.
    let again = h.schedule(&eval);
    assert!(again.is_noop());
}

#[test]
fn anti_affinity_spreads_a_group_over_equal_nodes() {
    // Two equal nodes: the candidate limit (2) covers both, so the second
    // placement sees the first one's node penalised by job anti-affinity.
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    h.node("n1", 4000, 4096, &[]);
    let eval = h.job("web", JobType::Service, 2, 100, 64, vec![]);
    let plan = h.schedule(&eval);
    let nodes: std::collections::BTreeSet<&str> =
        plan.placed.iter().map(|a| a.node_id.as_str()).collect();
    assert_eq!(
        nodes.len(),
        2,
        "one per node: {:?}",
        plan.placed.iter().map(|a| &a.node_id).collect::<Vec<_>>()
    );
    let second = plan.placed[1].metrics.as_ref().unwrap();
    assert!(
        second
            .score_meta_data
            .iter()
            .any(|s| s.scores.contains_key("job-anti-affinity")),
        "the penalty was scored"
    );
}

#[test]
fn capacity_is_never_overcommitted_and_the_rest_is_queued_with_failed_metrics() {
    let mut h = H::new();
    h.node("n0", 1000, 1024, &[]);
    h.node("n1", 1000, 1024, &[]);
    let eval = h.job("big", JobType::Service, 5, 600, 256, vec![]);
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 2, "600 MHz fits once per 1000 MHz node");
    assert_eq!(plan.queued["g"], 3);
    let failed = &plan.failed_tg_allocs["g"];
    assert_eq!(
        failed.coalesced_failures, 2,
        "three failures coalesced into one metric"
    );
    assert_eq!(failed.dimension_exhausted.get("cpu"), Some(&2));
    let eval_after = h.st.eval(&mut WatchSet::new(), &eval.id).unwrap().clone();
    assert!(eval_after.failed_tg_allocs.contains_key("g"));
    let blocked =
        h.st.eval(&mut WatchSet::new(), &eval_after.blocked_eval)
            .expect("a blocked eval waits for capacity")
            .clone();
    assert_eq!(
        (blocked.status, blocked.previous_eval.as_str()),
        (EvalStatus::Blocked, eval.id.as_str())
    );
    assert_eq!(
        h.st.job(&mut WatchSet::new(), "default", "big")
            .unwrap()
            .status,
        JobStatus::Running
    );
    assert_eq!(eval_after.queued_allocations["g"], 3);
}

#[test]
fn constraints_pick_the_matching_nodes_only() {
    let mut h = H::new();
    h.node("linux", 4000, 4096, &[("kernel.name", "linux")]);
    h.node("darwin", 4000, 4096, &[("kernel.name", "darwin")]);
    let eval = h.job(
        "web",
        JobType::Service,
        2,
        100,
        64,
        vec![c("${attr.kernel.name}", "=", "linux")],
    );
    let plan = h.schedule(&eval);
    assert!(plan.placed.iter().all(|a| a.node_id == "linux"));
    assert_eq!(plan.placed.len(), 2);
    let eval = h.job(
        "nowhere",
        JobType::Service,
        1,
        100,
        64,
        vec![c("${attr.kernel.name}", "=", "plan9")],
    );
    let plan = h.schedule(&eval);
    let m = &plan.failed_tg_allocs["g"];
    assert_eq!(m.nodes_filtered, 2);
    assert_eq!(
        m.constraint_filtered.get("${attr.kernel.name} = plan9"),
        Some(&2)
    );
}

#[test]
fn scaling_down_stops_the_highest_indexes() {
    let mut h = H::new();
    h.node("n0", 8000, 8192, &[]);
    let eval = h.job("web", JobType::Service, 3, 100, 64, vec![]);
    h.schedule(&eval);
    let eval = h.job("web", JobType::Service, 1, 100, 64, vec![]);
    let plan = h.schedule(&eval);
    assert_eq!(plan.stopped.len(), 2);
    assert!(plan
        .stopped
        .iter()
        .all(|s| s.desired_description == DESC_SCALED_DOWN));
    let live = h.live_allocs("web");
    assert_eq!(
        live.iter().map(|a| a.name.as_str()).collect::<Vec<_>>(),
        ["web.g[0]"]
    );
}

#[test]
fn a_stopped_job_stops_all_its_allocations() {
    let mut h = H::new();
    h.node("n0", 8000, 8192, &[]);
    let eval = h.job("web", JobType::Service, 2, 100, 64, vec![]);
    h.schedule(&eval);
    h.apply(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: false,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    let plan = h.schedule(&eval);
    assert_eq!(plan.stopped.len(), 2);
    assert!(plan
        .stopped
        .iter()
        .all(|s| s.desired_description == DESC_STOPPED_JOB));
    assert!(h.live_allocs("web").is_empty());
}

#[test]
fn allocations_on_a_down_node_are_lost_and_replaced_elsewhere() {
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    let eval = h.job("web", JobType::Service, 1, 100, 64, vec![]);
    let first = h.schedule(&eval);
    let lost_node = first.placed[0].node_id.clone();
    h.node("n1", 4000, 4096, &[]);
    h.apply(Command::NodeUpdateStatus(NodeUpdateStatus {
        node_id: lost_node.clone(),
        status: NodeStatus::Down,
        event: None,
        evals: vec![],
        now: T0,
    }));
    let plan = h.schedule(&eval);
    assert_eq!(plan.stopped.len(), 1);
    assert_eq!(
        (
            plan.stopped[0].desired_description.as_str(),
            plan.stopped[0].client_status
        ),
        (DESC_LOST, Some(AllocClientStatus::Lost))
    );
    assert_eq!(plan.placed.len(), 1);
    assert_ne!(plan.placed[0].node_id, lost_node);
    assert_eq!(
        h.st.job_summary(&mut WatchSet::new(), "default", "web")
            .unwrap()
            .summary["g"]
            .lost,
        1
    );
}

#[test]
fn completed_batch_allocations_are_not_replaced() {
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    let eval = h.job("once", JobType::Batch, 2, 100, 64, vec![]);
    let plan = h.schedule(&eval);
    for a in &plan.placed {
        h.apply(Command::AllocClientUpdate(
            drover_state::command::AllocClientUpdate {
                updates: vec![drover_state::command::AllocClientState {
                    id: a.id.clone(),
                    client_status: AllocClientStatus::Complete,
                    client_description: String::new(),
                    task_states: Default::default(),
                    deployment_status: None,
                }],
                evals: vec![],
                now: T0,
            },
        ));
    }
    assert!(h.schedule(&eval).is_noop(), "finished batch work is done");
}

#[test]
fn candidate_limit_follows_nomad() {
    assert_eq!(candidate_limit(JobType::Batch, 10_000), 2);
    assert_eq!(candidate_limit(JobType::Service, 1), 2);
    assert_eq!(candidate_limit(JobType::Service, 1000), 10);
    assert_eq!(candidate_limit(JobType::Service, 10_000), 14);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// For random nodes and jobs scheduled one after another, no node's
    /// CPU or memory is ever over-committed and every placement honours its
    /// job's constraint.
    #[test]
    fn no_node_is_ever_overcommitted(
        nodes in prop::collection::vec((500i64..4000, 256i64..4096, any::<bool>()), 1..8),
        jobs in prop::collection::vec((1i32..6, 50i64..1500, 32i64..1500, any::<bool>(), any::<bool>()), 1..8),
    ) {
        let mut h = H::new();
        for (i, (cpu, mem, ssd)) in nodes.iter().enumerate() {
            h.node(&format!("n{i}"), *cpu, *mem, &[("storage", if *ssd { "ssd" } else { "hdd" })]);
        }
        for (j, (count, cpu, mem, batch, want_ssd)) in jobs.iter().enumerate() {
            let kind = if *batch { JobType::Batch } else { JobType::Service };
            let cons = if *want_ssd { vec![c("${attr.storage}", "=", "ssd")] } else { vec![] };
            let eval = h.job(&format!("job{j}"), kind, *count, *cpu, *mem, cons);
            let plan = h.schedule(&eval);
            for a in &plan.placed {
                let node = h.st.node(&mut WatchSet::new(), &a.node_id).unwrap();
                if *want_ssd {
                    prop_assert_eq!(node.attributes.get("storage").map(String::as_str), Some("ssd"));
                }
            }
        }
        for (i, (cpu, mem, _)) in nodes.iter().enumerate() {
            let id = format!("n{i}");
            let (mut used_cpu, mut used_mem) = (0, 0);
            for r in h.st.allocs_by_node(&mut WatchSet::new(), &id) {
                if let Some(ar) = &r.alloc.allocated_resources {
                    for t in ar.tasks.values() {
                        used_cpu += t.cpu.cpu_shares;
                        used_mem += t.memory.memory_mb;
                    }
                }
            }
            prop_assert!(used_cpu <= *cpu, "node {} cpu {} > {}", id, used_cpu, cpu);
            prop_assert!(used_mem <= *mem, "node {} memory {} > {}", id, used_mem, mem);
        }
    }
}

#[test]
fn a_spread_balances_allocations_across_attribute_values() {
    let mut h = H::new();
    // Four nodes in rack a, one in rack b: bin-packing alone would fill rack a.
    for i in 0..4 {
        h.node(&format!("a{i}"), 8000, 8192, &[("rack", "a")]);
    }
    h.node("b0", 8000, 8192, &[("rack", "b")]);
    let mut job = H::job_spec("web", JobType::Service, 4, 100, 64, vec![]);
    job.task_groups[0].spreads = vec![Spread {
        attribute: "${attr.rack}".into(),
        weight: 100,
        spread_target: vec![],
    }];
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    let on_b = plan.placed.iter().filter(|a| a.node_id == "b0").count();
    assert_eq!(on_b, 2, "an even spread puts half on rack b");
    let scored = plan.placed[1].metrics.as_ref().unwrap();
    assert!(scored
        .score_meta_data
        .iter()
        .any(|m| m.scores.contains_key("allocation-spread")));
}

#[test]
fn an_affinity_prefers_matching_nodes() {
    let mut h = H::new();
    h.node("plain", 8000, 8192, &[]);
    h.node("ssd", 8000, 8192, &[("disk", "ssd")]);
    let mut job = H::job_spec("db", JobType::Service, 1, 100, 64, vec![]);
    job.affinities = vec![Affinity {
        l_target: "${attr.disk}".into(),
        r_target: "ssd".into(),
        operand: "=".into(),
        weight: 100,
    }];
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed[0].node_id, "ssd");
}
