//! The system and sysbatch schedulers against real states built by applying
//! commands: which nodes get an allocation, what happens to allocations when
//! nodes go down, drain or stop matching, stopped jobs, sysbatch runs that
//! finished, nodes without room; and a proptest that a plan covers exactly
//! the feasible nodes and that planning again changes nothing.

use std::collections::{BTreeMap, BTreeSet};

use drover_api::*;
use drover_scheduler::compute_job;
use drover_scheduler::generic::{Plan, DESC_LOST, DESC_SCALED_DOWN, DESC_STOPPED_JOB};
use drover_state::command::{
    AllocClientState, AllocClientUpdate, JobDeregister, NodeDeregister, NodeRegister,
    NodeUpdateDrain, NodeUpdateEligibility, NodeUpdateStatus,
};
use drover_state::{Command, WatchSet};
use proptest::prelude::*;

mod sched;
use sched::{H, T0};

/// A node as a test wants it; `Default` is a big, ready, eligible `dc1`
/// linux node with `raw_exec`.
#[derive(Clone)]
struct N {
    id: String,
    status: NodeStatus,
    eligible: bool,
    draining: bool,
    dc: String,
    pool: String,
    attrs: Vec<(String, String)>,
    meta: Vec<(String, String)>,
    raw_exec: bool,
    cpu: i64,
}

fn n(id: &str) -> N {
    N {
        id: id.into(),
        status: NodeStatus::Ready,
        eligible: true,
        draining: false,
        dc: "dc1".into(),
        pool: "default".into(),
        attrs: vec![("kernel.name".into(), "linux".into())],
        meta: vec![],
        raw_exec: true,
        cpu: 8000,
    }
}

fn c(l: &str, op: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        operand: op.into(),
        r_target: r.into(),
    }
}

fn group(name: &str, cpu: i64) -> TaskGroup {
    TaskGroup {
        name: name.into(),
        count: 1,
        ephemeral_disk: Some(EphemeralDisk {
            size_mb: 10,
            ..Default::default()
        }),
        tasks: vec![Task {
            name: "t".into(),
            driver: "raw_exec".into(),
            resources: Resources {
                cpu,
                memory_mb: 64,
                ..Default::default()
            },
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn job(id: &str, kind: JobType, constraints: Vec<Constraint>) -> Job {
    Job {
        namespace: "default".into(),
        id: id.into(),
        name: id.into(),
        job_type: kind,
        priority: 50,
        datacenters: vec!["dc1".into()],
        node_pool: "default".into(),
        constraints,
        task_groups: vec![group("g", 100)],
        ..Default::default()
    }
}

/// What these tests need beyond the shared harness: nodes built from a
/// spec (class, datacenter, pool, status, drain), bulk client reports,
/// node loss, and the live (node, group) pairs.
trait SystemHarness {
    fn add_node(&mut self, spec: N);
    fn add_nodes(&mut self, specs: impl IntoIterator<Item = N>);
    fn set_client_status(&mut self, ids: &[&str], status: AllocClientStatus);
    fn node_down(&mut self, id: &str);
    fn live(&self, job: &str) -> BTreeSet<(String, String)>;
}

impl SystemHarness for H {
    fn add_node(&mut self, spec: N) {
        let kv = |v: &[(String, String)]| v.iter().cloned().collect::<BTreeMap<_, _>>();
        let mut drivers = BTreeMap::new();
        if spec.raw_exec {
            drivers.insert(
                "raw_exec".to_string(),
                DriverInfo {
                    detected: true,
                    healthy: true,
                    ..Default::default()
                },
            );
        }
        let node = Node {
            id: spec.id.clone(),
            name: spec.id.clone(),
            datacenter: spec.dc,
            node_pool: spec.pool,
            status: spec.status,
            scheduling_eligibility: if spec.eligible {
                SchedulingEligibility::Eligible
            } else {
                SchedulingEligibility::Ineligible
            },
            drain_strategy: spec.draining.then(DrainStrategy::default),
            attributes: kv(&spec.attrs),
            meta: kv(&spec.meta),
            drivers,
            node_resources: NodeResources {
                cpu: NodeCpuResources {
                    cpu_shares: spec.cpu,
                    ..Default::default()
                },
                memory: NodeMemoryResources { memory_mb: 8192 },
                disk: NodeDiskResources { disk_mb: 100_000 },
                ..Default::default()
            },
            ..Default::default()
        };
        self.apply(Command::NodeRegister(NodeRegister {
            node,
            evals: vec![],
            now: T0,
        }));
    }

    fn add_nodes(&mut self, specs: impl IntoIterator<Item = N>) {
        for s in specs {
            self.add_node(s);
        }
    }

    fn set_client_status(&mut self, ids: &[&str], status: AllocClientStatus) {
        let updates = ids
            .iter()
            .map(|id| AllocClientState {
                id: id.to_string(),
                client_status: status,
                client_description: String::new(),
                task_states: Default::default(),
                deployment_status: None,
            })
            .collect();
        self.apply(Command::AllocClientUpdate(AllocClientUpdate {
            updates,
            evals: vec![],
            now: T0,
        }));
    }

    fn node_down(&mut self, id: &str) {
        self.apply(Command::NodeUpdateStatus(NodeUpdateStatus {
            node_id: id.into(),
            status: NodeStatus::Down,
            event: None,
            evals: vec![],
            now: T0,
        }));
    }

    /// (node, group) of every allocation that should be running.
    fn live(&self, job: &str) -> BTreeSet<(String, String)> {
        self.st
            .allocs_by_job(&mut WatchSet::new(), "default", job)
            .filter(|r| !r.alloc.is_terminal())
            .map(|r| (r.alloc.node_id.clone(), r.alloc.task_group.clone()))
            .collect()
    }
}

fn placed_nodes(plan: &Plan) -> Vec<&str> {
    plan.placed.iter().map(|a| a.node_id.as_str()).collect()
}

fn live_set(pairs: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    pairs
        .iter()
        .map(|(n, g)| (n.to_string(), g.to_string()))
        .collect()
}

fn updates(plan: &Plan, tg: &str) -> (u64, u64, u64) {
    let d = plan.desired_updates.get(tg).cloned().unwrap_or_default();
    (d.place, d.stop, d.ignore)
}

#[test]
fn places_one_per_feasible_node_only() {
    let mut h = H::new();
    h.add_nodes([
        n("a"),
        n("b"),
        N {
            eligible: false,
            ..n("ineligible")
        },
        N {
            draining: true,
            ..n("draining")
        },
        N {
            status: NodeStatus::Down,
            ..n("down")
        },
        N {
            status: NodeStatus::Initializing,
            ..n("init")
        },
        N {
            dc: "dc2".into(),
            ..n("dc2")
        },
        N {
            pool: "gpu".into(),
            ..n("gpu-pool")
        },
        N {
            raw_exec: false,
            ..n("nodriver")
        },
        N {
            attrs: vec![("kernel.name".into(), "darwin".into())],
            ..n("darwin")
        },
    ]);
    let eval = h.register(job(
        "sys",
        JobType::System,
        vec![c("${attr.kernel.name}", "=", "linux")],
    ));
    let plan = h.schedule(&eval);
    assert_eq!(placed_nodes(&plan), ["a", "b"]);
    for a in &plan.placed {
        assert_eq!(a.name, "sys.g[0]");
        assert_eq!(
            (a.eval_id.as_str(), a.task_group.as_str()),
            (eval.id.as_str(), "g")
        );
        let m = a.metrics.as_ref().expect("placement metric");
        assert_eq!(m.nodes_evaluated, 1);
        // Ready nodes in the job's datacenters and pool, before constraints.
        assert_eq!(m.nodes_in_pool, 4);
        assert_eq!(m.nodes_available.get("dc1"), Some(&4));
        assert_eq!(m.score_meta_data.len(), 1);
        assert_eq!(
            a.allocated_resources.as_ref().expect("resources").tasks["t"]
                .cpu
                .cpu_shares,
            100
        );
    }
    assert!(
        plan.failed_tg_allocs.is_empty(),
        "filtered nodes are not failures"
    );
    assert_eq!(plan.queued.get("g"), Some(&0));
    assert_eq!(updates(&plan, "g"), (2, 0, 0));
    assert_eq!(h.live("sys"), live_set(&[("a", "g"), ("b", "g")]));

    let again = h.schedule(&eval);
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(updates(&again, "g"), (0, 0, 2));
}

#[test]
fn every_group_gets_its_own_allocation_per_node() {
    let mut h = H::new();
    h.add_nodes([n("a"), n("b")]);
    let mut j = job("sys", JobType::System, vec![]);
    j.task_groups.push(group("h", 100));
    let eval = h.register(j);
    let plan = h.schedule(&eval);
    let mut names: Vec<(&str, &str)> = plan
        .placed
        .iter()
        .map(|a| (a.node_id.as_str(), a.name.as_str()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            ("a", "sys.g[0]"),
            ("a", "sys.h[0]"),
            ("b", "sys.g[0]"),
            ("b", "sys.h[0]")
        ]
    );
    assert!(h.schedule(&eval).is_noop());
}

#[test]
fn a_new_node_gets_an_allocation_on_the_next_evaluation() {
    let mut h = H::new();
    h.add_node(n("a"));
    let eval = h.register(job("sys", JobType::System, vec![]));
    assert_eq!(placed_nodes(&h.schedule(&eval)), ["a"]);
    h.add_node(n("b"));
    let plan = h.schedule(&eval);
    assert_eq!(placed_nodes(&plan), ["b"]);
    assert_eq!(updates(&plan, "g"), (1, 0, 1));
}

#[test]
fn allocations_on_down_or_gone_nodes_are_lost_and_not_replaced() {
    let mut h = H::new();
    h.add_nodes([n("a"), n("b"), n("c")]);
    let eval = h.register(job("sys", JobType::System, vec![]));
    h.schedule(&eval);
    h.node_down("a");
    h.apply(Command::NodeDeregister(NodeDeregister {
        node_ids: vec!["b".into()],
        now: T0,
    }));
    let plan = h.schedule(&eval);
    assert!(
        plan.placed.is_empty(),
        "a system alloc never moves: {:?}",
        placed_nodes(&plan)
    );
    assert_eq!(plan.stopped.len(), 2);
    for s in &plan.stopped {
        assert_eq!(
            (s.desired_description.as_str(), s.client_status),
            (DESC_LOST, Some(AllocClientStatus::Lost))
        );
    }
    assert_eq!(updates(&plan, "g"), (0, 2, 1));
    assert_eq!(h.live("sys"), live_set(&[("c", "g")]));
    assert!(h.schedule(&eval).is_noop());
}

#[test]
fn ineligible_and_draining_nodes_keep_their_allocations() {
    let mut h = H::new();
    h.add_nodes([n("a"), n("b")]);
    let eval = h.register(job("sys", JobType::System, vec![]));
    h.schedule(&eval);
    h.apply(Command::NodeUpdateEligibility(NodeUpdateEligibility {
        node_id: "a".into(),
        eligibility: SchedulingEligibility::Ineligible,
        event: None,
        evals: vec![],
        now: T0,
    }));
    h.apply(Command::NodeUpdateDrain(NodeUpdateDrain {
        node_id: "b".into(),
        drain_strategy: Some(DrainStrategy::default()),
        mark_eligible: false,
        event: None,
        meta: BTreeMap::new(),
        evals: vec![],
        now: T0,
    }));
    let plan = h.schedule(&eval);
    assert!(plan.is_noop(), "{plan:?}");
    assert_eq!(updates(&plan, "g"), (0, 0, 2));
}

#[test]
fn nodes_that_stop_matching_the_job_lose_their_allocations() {
    let mut h = H::new();
    h.add_nodes([
        n("a"),
        N {
            attrs: vec![("kernel.name".into(), "darwin".into())],
            ..n("darwin")
        },
        N {
            dc: "dc2".into(),
            ..n("dc2")
        },
    ]);
    let mut j = job("sys", JobType::System, vec![]);
    j.datacenters = vec!["dc*".into()];
    let eval = h.register(j);
    assert_eq!(h.schedule(&eval).placed.len(), 3);
    // The job narrows: linux only, dc1 only.
    let eval = h.register(job(
        "sys",
        JobType::System,
        vec![c("${attr.kernel.name}", "=", "linux")],
    ));
    let plan = h.schedule(&eval);
    assert!(plan.placed.is_empty());
    assert_eq!(plan.stopped.len(), 2);
    assert!(plan
        .stopped
        .iter()
        .all(|s| s.desired_description == DESC_SCALED_DOWN && s.client_status.is_none()));
    assert_eq!(updates(&plan, "g"), (0, 2, 1));
    assert_eq!(h.live("sys"), live_set(&[("a", "g")]));
}

#[test]
fn groups_the_job_no_longer_has_are_stopped() {
    let mut h = H::new();
    h.add_nodes([n("a"), n("b")]);
    let mut j = job("sys", JobType::System, vec![]);
    j.task_groups.push(group("old", 100));
    let eval = h.register(j);
    assert_eq!(h.schedule(&eval).placed.len(), 4);
    let eval = h.register(job("sys", JobType::System, vec![]));
    let plan = h.schedule(&eval);
    assert_eq!(plan.stopped.len(), 2);
    assert_eq!(updates(&plan, "old"), (0, 2, 0));
    assert_eq!(h.live("sys"), live_set(&[("a", "g"), ("b", "g")]));
}

#[test]
fn a_stopped_or_missing_job_stops_everything() {
    let mut h = H::new();
    h.add_nodes([n("a"), n("b")]);
    let eval = h.register(job("sys", JobType::System, vec![]));
    h.schedule(&eval);
    // With no job at all, the eval's type picks the system scheduler.
    let plan = compute_job(
        &h.st,
        &eval,
        None,
        &mut || unreachable!("nothing to place"),
        T0,
    );
    assert_eq!(plan.stopped.len(), 2);
    h.apply(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "sys".into(),
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
    assert!(h.live("sys").is_empty());
    assert!(h.schedule(&eval).is_noop());
}

#[test]
fn sysbatch_runs_once_per_node() {
    let mut h = H::new();
    h.add_nodes([n("a"), n("b"), n("c")]);
    let eval = h.register(job("once", JobType::Sysbatch, vec![]));
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 3);
    let id = |node: &str| {
        plan.placed
            .iter()
            .find(|a| a.node_id == node)
            .map(|a| a.id.clone())
            .expect("placed")
    };
    let (a, b) = (id("a"), id("b"));
    h.set_client_status(&[&a], AllocClientStatus::Complete);
    // Choice (as Nomad): a failed run is not retried by the scheduler either.
    h.set_client_status(&[&b], AllocClientStatus::Failed);
    let again = h.schedule(&eval);
    assert!(again.is_noop(), "{again:?}");
    assert_eq!(updates(&again, "g"), (0, 0, 3));
    // A new node still gets its run.
    h.add_node(n("d"));
    assert_eq!(placed_nodes(&h.schedule(&eval)), ["d"]);
    // A new job version runs again where the old one finished.
    let mut j = job("once", JobType::Sysbatch, vec![]);
    j.task_groups[0].tasks[0].resources.cpu = 150;
    let eval = h.register(j);
    assert_eq!(placed_nodes(&h.schedule(&eval)), ["a", "b"]);
}

#[test]
fn a_node_without_room_is_a_failed_placement_with_a_blocked_eval() {
    let mut h = H::new();
    h.add_nodes([
        n("big"),
        N {
            cpu: 50,
            ..n("small1")
        },
        N {
            cpu: 50,
            ..n("small2")
        },
        N {
            attrs: vec![],
            ..n("filtered")
        },
    ]);
    let eval = h.register(job(
        "sys",
        JobType::System,
        vec![c("${attr.kernel.name}", "=", "linux")],
    ));
    let plan = h.schedule(&eval);
    assert_eq!(placed_nodes(&plan), ["big"]);
    let m = &plan.failed_tg_allocs["g"];
    assert_eq!(m.coalesced_failures, 1, "two failures, one metric");
    assert_eq!((m.nodes_evaluated, m.nodes_exhausted), (1, 1));
    assert_eq!(m.dimension_exhausted.get("cpu"), Some(&1));
    assert_eq!(m.nodes_in_pool, 4);
    assert_eq!(plan.queued["g"], 2);
    assert_eq!(updates(&plan, "g"), (3, 0, 0));
    let stored =
        h.st.eval(&mut WatchSet::new(), &eval.id)
            .expect("eval")
            .clone();
    assert_eq!(stored.queued_allocations["g"], 2);
    let blocked =
        h.st.eval(&mut WatchSet::new(), &stored.blocked_eval)
            .expect("blocked eval");
    assert_eq!(blocked.status, EvalStatus::Blocked);
}

#[test]
fn a_group_filtered_everywhere_reports_why() {
    let mut h = H::new();
    h.add_nodes([
        n("a"),
        n("b"),
        N {
            raw_exec: false,
            ..n("c")
        },
    ]);
    let eval = h.register(job(
        "sys",
        JobType::System,
        vec![c("${attr.kernel.name}", "=", "plan9")],
    ));
    let plan = h.schedule(&eval);
    assert!(plan.placed.is_empty());
    let m = &plan.failed_tg_allocs["g"];
    assert_eq!((m.nodes_evaluated, m.nodes_filtered), (3, 3));
    assert_eq!(
        m.constraint_filtered.get("${attr.kernel.name} = plan9"),
        Some(&3)
    );
    assert_eq!(plan.queued["g"], 0, "filtered nodes are not queued");
}

/// Node status in the proptest: 0 ready, 1 down, 2 initializing.
fn status_of(k: u8) -> NodeStatus {
    match k {
        0 => NodeStatus::Ready,
        1 => NodeStatus::Down,
        _ => NodeStatus::Initializing,
    }
}

/// The proptest's constraints, and an independent model of each.
fn constraint_of(k: u8, v: u8) -> (Option<Constraint>, impl Fn(&str, Option<&str>) -> bool) {
    let want = format!("r{v}");
    let cons = match k {
        0 => None,
        1 => Some(c("${attr.rack}", "=", &want)),
        2 => Some(c("${attr.rack}", "!=", &want)),
        _ => Some(c("${meta.tier}", "is_set", "")),
    };
    let model = move |rack: &str, tier: Option<&str>| match k {
        0 => true,
        1 => rack == want,
        2 => rack != want,
        _ => tier.is_some(),
    };
    (cons, model)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn a_plan_covers_exactly_the_feasible_nodes(
        nodes in prop::collection::vec((0u8..3, any::<bool>(), 0u8..3, 0u8..3, any::<bool>()), 0..12),
        two_groups in any::<bool>(),
        kind in 0u8..2,
        cons_kind in 0u8..4,
        cons_value in 0u8..3,
    ) {
        let mut h = H::new();
        let (cons, model) = constraint_of(cons_kind, cons_value);
        let mut feasible = BTreeSet::new();
        for (i, (status, eligible, dc, rack, tier)) in nodes.iter().enumerate() {
            let id = format!("n{i:02}");
            let rack = format!("r{rack}");
            let tier_value = tier.then_some("web");
            if *status == 0 && *eligible && *dc < 2 && model(&rack, tier_value) {
                feasible.insert(id.clone());
            }
            h.add_node(N {
                status: status_of(*status),
                eligible: *eligible,
                dc: format!("dc{dc}"),
                attrs: vec![("rack".into(), rack)],
                meta: tier_value.map(|t| ("tier".to_string(), t.to_string())).into_iter().collect(),
                ..n(&id)
            });
        }
        let kind = if kind == 0 { JobType::System } else { JobType::Sysbatch };
        let mut j = job("sys", kind, cons.into_iter().collect());
        j.datacenters = vec!["dc0".into(), "dc1".into()];
        if two_groups {
            j.task_groups.push(group("h", 100));
        }
        let groups: Vec<String> = j.task_groups.iter().map(|g| g.name.clone()).collect();
        let constraints = j.constraints.clone();
        let eval = h.register(j);
        let plan = h.schedule(&eval);

        let want: BTreeSet<(String, String)> = feasible
            .iter()
            .flat_map(|n| groups.iter().map(move |g| (n.clone(), g.clone())))
            .collect();
        let got: Vec<(String, String)> =
            plan.placed.iter().map(|a| (a.node_id.clone(), a.task_group.clone())).collect();
        prop_assert_eq!(got.len(), want.len(), "one per node per group");
        prop_assert_eq!(got.into_iter().collect::<BTreeSet<_>>(), want.clone());
        prop_assert_eq!(h.live("sys"), want);
        prop_assert!(plan.failed_tg_allocs.values().all(|m| m.nodes_exhausted == 0));
        for a in &plan.placed {
            let node = h.st.node(&mut WatchSet::new(), &a.node_id).expect("node exists");
            for cons in &constraints {
                let l = drover_scheduler::feasible::resolve_target(&cons.l_target, node);
                let r = drover_scheduler::feasible::resolve_target(&cons.r_target, node);
                prop_assert!(
                    drover_scheduler::feasible::check_constraint(&cons.operand, l.as_deref(), r.as_deref()),
                    "{} violates {:?}", a.node_id, cons
                );
            }
        }
        let again = h.schedule(&eval);
        prop_assert!(again.is_noop(), "second plan: {:?}", again);
    }
}
