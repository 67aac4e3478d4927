//! Resource fit and scoring (`drover_scheduler::rank`), table-driven
//! through small helpers so the API can change without touching every case.

use std::collections::BTreeSet;

use drover_api::{
    AllocMetric, AllocatedResources, Allocation, EphemeralDisk, NetworkResource, Node, Port,
    Resources, Task, TaskGroup,
};
use drover_scheduler::rank::{
    self, binpack_score, exhausted, fit, job_anti_affinity, normalize, record_score, Capacity,
    Usage,
};
use proptest::prelude::*;

fn node(cpu: i64, mem: i64, disk: i64) -> Node {
    let mut n = Node {
        id: "n1".into(),
        http_addr: "10.0.0.5:4646".into(),
        ..Node::default()
    };
    n.node_resources.cpu.cpu_shares = cpu;
    n.node_resources.memory.memory_mb = mem;
    n.node_resources.disk.disk_mb = disk;
    n
}

fn port(label: &str, value: i64) -> Port {
    Port {
        label: label.into(),
        value,
        to: 0,
        host_network: String::new(),
    }
}

/// A group of tasks `(cpu, mem)`, a disk ask, static ports and dynamic labels
/// in one group network (none if both are empty).
fn group(tasks: &[(i64, i64)], disk: Option<i64>, statics: &[i64], dynamics: &[&str]) -> TaskGroup {
    let mut tg = TaskGroup {
        name: "web".into(),
        count: 1,
        ephemeral_disk: disk.map(|size_mb| EphemeralDisk {
            size_mb,
            ..EphemeralDisk::default()
        }),
        ..TaskGroup::default()
    };
    for (i, (cpu, mem)) in tasks.iter().enumerate() {
        tg.tasks.push(Task {
            name: format!("t{i}"),
            resources: Resources {
                cpu: *cpu,
                memory_mb: *mem,
                ..Resources::default()
            },
            ..Task::default()
        });
    }
    if !statics.is_empty() || !dynamics.is_empty() {
        tg.networks.push(NetworkResource {
            reserved_ports: statics.iter().map(|p| port(&format!("s{p}"), *p)).collect(),
            dynamic_ports: dynamics.iter().map(|l| port(l, 0)).collect(),
            ..NetworkResource::default()
        });
    }
    tg
}

fn usage(cpu: i64, mem: i64, disk: i64, ports: &[u16]) -> Usage {
    Usage {
        cpu_mhz: cpu,
        memory_mb: mem,
        disk_mb: disk,
        ports: ports.iter().copied().collect(),
    }
}

fn shared_ports(ar: &AllocatedResources) -> Vec<(String, i64)> {
    let ports = ar.shared.ports.iter();
    ports.map(|p| (p.label.clone(), p.value)).collect()
}

/// Fit `tg` and compare either the assigned `(label, port)` list or the
/// exhausted dimension.
#[track_caller]
fn check_fit(n: &Node, used: &Usage, tg: &TaskGroup, want: Result<&[(&str, i64)], &str>) {
    let got = fit(n, &Capacity::of(n), used, tg);
    let got = got.as_ref().map(shared_ports).map_err(|e| *e);
    let want = want.map(|w| {
        w.iter()
            .map(|(l, v)| (l.to_string(), *v))
            .collect::<Vec<_>>()
    });
    assert_eq!(got, want);
}

#[track_caller]
fn check_reserved(spec: &str, want: &[u16]) {
    let mut n = node(1000, 1000, 1000);
    n.reserved_resources.networks.reserved_host_ports = spec.into();
    let want: BTreeSet<u16> = want.iter().copied().collect();
    assert_eq!(Capacity::of(&n).reserved_ports, want, "spec {spec:?}");
}

#[track_caller]
fn check_score(cap: (i64, i64), used: (i64, i64), want: f64) {
    let c = Capacity {
        cpu_mhz: cap.0,
        memory_mb: cap.1,
        ..Capacity::default()
    };
    let got = binpack_score(&c, &usage(used.0, used.1, 0, &[]));
    assert!(
        (got - want).abs() < 1e-12,
        "cap {cap:?} used {used:?}: got {got}, want {want}"
    );
}

fn alloc_with(ar: AllocatedResources) -> Allocation {
    Allocation {
        allocated_resources: Some(ar),
        ..Allocation::default()
    }
}

fn ranking(metric: &AllocMetric) -> Vec<(&str, f64)> {
    let meta = metric.score_meta_data.iter();
    meta.map(|m| (m.node_id.as_str(), m.norm_score)).collect()
}

// ---- Capacity ----

#[test]
fn capacity_subtracts_reservations() {
    let mut n = node(4000, 8192, 50_000);
    n.reserved_resources.cpu.cpu_shares = 500;
    n.reserved_resources.memory.memory_mb = 192;
    n.reserved_resources.disk.disk_mb = 10_000;
    let c = Capacity::of(&n);
    assert_eq!((c.cpu_mhz, c.memory_mb, c.disk_mb), (3500, 8000, 40_000));
}

#[test]
fn capacity_over_reservation_is_negative_not_overflow() {
    let mut n = node(i64::MIN, 100, 0);
    n.reserved_resources.cpu.cpu_shares = i64::MAX;
    n.reserved_resources.memory.memory_mb = 200;
    let c = Capacity::of(&n);
    assert_eq!((c.cpu_mhz, c.memory_mb), (i64::MIN, -100));
}

#[test]
fn capacity_dynamic_range_defaults() {
    let mut n = node(1, 1, 1);
    let c = Capacity::of(&n);
    assert_eq!((c.min_dynamic_port, c.max_dynamic_port), (20000, 32000));
    n.node_resources.min_dynamic_port = 25000;
    n.node_resources.max_dynamic_port = 26000;
    let c = Capacity::of(&n);
    assert_eq!((c.min_dynamic_port, c.max_dynamic_port), (25000, 26000));
    n.node_resources.min_dynamic_port = -5;
    n.node_resources.max_dynamic_port = 70000;
    let c = Capacity::of(&n);
    assert_eq!((c.min_dynamic_port, c.max_dynamic_port), (20000, 32000));
}

#[test]
fn reserved_host_ports_parse() {
    check_reserved("", &[]);
    check_reserved("22", &[22]);
    check_reserved("22,80,8000-8003", &[22, 80, 8000, 8001, 8002, 8003]);
    check_reserved(" 22 , 80 - 81 ,", &[22, 80, 81]);
    check_reserved("65535", &[65535]);
}

#[test]
fn reserved_host_ports_bad_pieces_ignored() {
    check_reserved("abc", &[]);
    check_reserved("22,abc,80", &[22, 80]);
    check_reserved("0,70000,-1,5-3,1-2-3", &[]);
    check_reserved("8000-", &[]);
    check_reserved(",,,", &[]);
    check_reserved("60000-65535", &(60000..=65535).collect::<Vec<_>>());
}

// ---- Usage ----

#[test]
fn usage_sums_allocated_resources() {
    let n = node(10_000, 10_000, 10_000);
    let c = Capacity::of(&n);
    let a = fit(
        &n,
        &c,
        &Usage::default(),
        &group(&[(100, 64), (200, 128)], Some(500), &[8080], &["http"]),
    );
    let b = fit(
        &n,
        &c,
        &Usage::default(),
        &group(&[(50, 32)], None, &[], &[]),
    );
    let (Ok(a), Ok(b)) = (a, b) else {
        panic!("fit failed")
    };
    let (a, b) = (alloc_with(a), alloc_with(b));
    assert_eq!(Usage::of(&[&a, &b]), usage(350, 224, 800, &[8080, 20000]));
}

#[test]
fn usage_of_nothing_is_zero() {
    assert_eq!(Usage::of(&[]), Usage::default());
    assert_eq!(Usage::of(&[&Allocation::default()]), Usage::default());
}

#[test]
fn usage_falls_back_to_legacy_resources() {
    let a = Allocation {
        resources: Some(Resources {
            cpu: 300,
            memory_mb: 256,
            disk_mb: 150,
            networks: vec![NetworkResource {
                reserved_ports: vec![port("a", 9000)],
                dynamic_ports: vec![port("b", 21000), port("bad", 99_999)],
                ..NetworkResource::default()
            }],
            ..Resources::default()
        }),
        ..Allocation::default()
    };
    assert_eq!(Usage::of(&[&a]), usage(300, 256, 150, &[9000, 21000]));
}

#[test]
fn usage_saturates() {
    let a = Allocation {
        resources: Some(Resources {
            cpu: i64::MAX,
            ..Resources::default()
        }),
        ..Allocation::default()
    };
    assert_eq!(Usage::of(&[&a, &a]).cpu_mhz, i64::MAX);
}

// ---- fit ----

#[test]
fn fit_success_fills_allocated_resources() {
    let n = node(1000, 1000, 1000);
    let got = fit(
        &n,
        &Capacity::of(&n),
        &Usage::default(),
        &group(&[(100, 64), (200, 128)], None, &[80], &["http"]),
    );
    let Ok(ar) = got else {
        panic!("fit failed: {got:?}")
    };
    assert_eq!(ar.tasks.len(), 2);
    assert_eq!(ar.tasks["t0"].cpu.cpu_shares, 100);
    assert_eq!(ar.tasks["t1"].memory.memory_mb, 128);
    assert_eq!(ar.shared.disk_mb, 300, "default ephemeral disk");
    assert_eq!(
        shared_ports(&ar),
        vec![("s80".to_string(), 80), ("http".to_string(), 20000)]
    );
    assert!(ar.shared.ports.iter().all(|p| p.host_ip == "10.0.0.5"));
    assert_eq!(ar.shared.networks.len(), 1);
    assert_eq!(ar.shared.networks[0].ip, "10.0.0.5");
}

#[test]
fn fit_exhausted_dimensions() {
    let n = node(1000, 1000, 1000);
    let none = Usage::default();
    check_fit(
        &n,
        &none,
        &group(&[(1000, 1000)], Some(1000), &[], &[]),
        Ok(&[]),
    );
    check_fit(
        &n,
        &none,
        &group(&[(1001, 1)], Some(1), &[], &[]),
        Err("cpu"),
    );
    check_fit(
        &n,
        &none,
        &group(&[(600, 1), (401, 1)], Some(1), &[], &[]),
        Err("cpu"),
    );
    check_fit(
        &n,
        &none,
        &group(&[(1, 1001)], Some(1), &[], &[]),
        Err("memory"),
    );
    check_fit(
        &n,
        &none,
        &group(&[(1, 1)], Some(1001), &[], &[]),
        Err("disk"),
    );
    let half = usage(500, 500, 800, &[]);
    check_fit(
        &n,
        &half,
        &group(&[(500, 500)], Some(200), &[], &[]),
        Ok(&[]),
    );
    check_fit(
        &n,
        &half,
        &group(&[(501, 1)], Some(1), &[], &[]),
        Err("cpu"),
    );
    check_fit(
        &n,
        &half,
        &group(&[(1, 501)], Some(1), &[], &[]),
        Err("memory"),
    );
    check_fit(&n, &half, &group(&[(1, 1)], None, &[], &[]), Err("disk"));
}

#[test]
fn fit_cpu_is_checked_before_memory_and_disk() {
    let n = node(10, 10, 10);
    check_fit(
        &n,
        &Usage::default(),
        &group(&[(11, 11)], Some(11), &[], &[]),
        Err("cpu"),
    );
    check_fit(
        &n,
        &Usage::default(),
        &group(&[(1, 11)], Some(11), &[], &[]),
        Err("memory"),
    );
}

#[test]
fn fit_ports_are_checked_before_resources() {
    let n = node(10, 10, 10);
    let used = usage(0, 0, 0, &[80]);
    let tg = group(&[(100, 100)], Some(100), &[80], &[]);
    check_fit(&n, &used, &tg, Err("network: reserved port collision"));
}

#[test]
fn fit_negative_asks_count_as_zero() {
    let n = node(100, 100, 100);
    let used = usage(100, 100, 100, &[]);
    check_fit(
        &n,
        &used,
        &group(&[(-50, -50)], Some(-50), &[], &[]),
        Ok(&[]),
    );
    check_fit(
        &n,
        &used,
        &group(&[(-50, 1)], Some(0), &[], &[]),
        Err("memory"),
    );
}

#[test]
fn fit_static_port_collisions() {
    let mut n = node(1000, 1000, 1000);
    n.reserved_resources.networks.reserved_host_ports = "22,8000-8010".into();
    let used = usage(0, 0, 0, &[9090]);
    let collision = Err("network: reserved port collision");
    check_fit(&n, &used, &group(&[], None, &[9090], &[]), collision);
    check_fit(&n, &used, &group(&[], None, &[22], &[]), collision);
    check_fit(&n, &used, &group(&[], None, &[8005], &[]), collision);
    check_fit(&n, &used, &group(&[], None, &[7000, 7000], &[]), collision);
    check_fit(
        &n,
        &used,
        &group(&[], None, &[8011], &[]),
        Ok(&[("s8011", 8011)]),
    );
    check_fit(
        &n,
        &used,
        &group(&[], None, &[0], &[]),
        Err("network: invalid port"),
    );
    check_fit(
        &n,
        &used,
        &group(&[], None, &[65536], &[]),
        Err("network: invalid port"),
    );
}

#[test]
fn fit_static_port_collides_with_task_network() {
    let n = node(1000, 1000, 1000);
    let mut tg = group(&[(10, 10)], None, &[8080], &[]);
    tg.tasks[0].resources.networks.push(NetworkResource {
        reserved_ports: vec![port("legacy", 8080)],
        ..NetworkResource::default()
    });
    check_fit(
        &n,
        &Usage::default(),
        &tg,
        Err("network: reserved port collision"),
    );
}

#[test]
fn fit_dynamic_ports_lowest_free_skipping_taken() {
    let mut n = node(1000, 1000, 1000);
    n.node_resources.min_dynamic_port = 30000;
    n.node_resources.max_dynamic_port = 30010;
    n.reserved_resources.networks.reserved_host_ports = "30001".into();
    let used = usage(0, 0, 0, &[30000, 30003]);
    let tg = group(&[], None, &[30002], &["a", "b", "c"]);
    let want: &[(&str, i64)] = &[("s30002", 30002), ("a", 30004), ("b", 30005), ("c", 30006)];
    check_fit(&n, &used, &tg, Ok(want));
}

#[test]
fn fit_dynamic_ports_exhausted() {
    let mut n = node(1000, 1000, 1000);
    n.node_resources.min_dynamic_port = 30000;
    n.node_resources.max_dynamic_port = 30002;
    let failed = Err("network: dynamic port selection failed");
    check_fit(
        &n,
        &Usage::default(),
        &group(&[], None, &[], &["a", "b", "c"]),
        Ok(&[("a", 30000), ("b", 30001), ("c", 30002)]),
    );
    check_fit(
        &n,
        &Usage::default(),
        &group(&[], None, &[], &["a", "b", "c", "d"]),
        failed,
    );
    check_fit(
        &n,
        &usage(0, 0, 0, &[30001]),
        &group(&[], None, &[], &["a", "b", "c"]),
        failed,
    );
    // min > max: no dynamic range at all.
    n.node_resources.min_dynamic_port = 40000;
    check_fit(
        &n,
        &Usage::default(),
        &group(&[], None, &[], &["a"]),
        failed,
    );
}

#[test]
fn fit_dynamic_port_range_top_end() {
    let mut n = node(1000, 1000, 1000);
    n.node_resources.min_dynamic_port = 65534;
    n.node_resources.max_dynamic_port = 65535;
    let tg = group(&[], None, &[], &["a", "b"]);
    check_fit(
        &n,
        &Usage::default(),
        &tg,
        Ok(&[("a", 65534), ("b", 65535)]),
    );
    let tg = group(&[], None, &[], &["a", "b", "c"]);
    check_fit(
        &n,
        &Usage::default(),
        &tg,
        Err("network: dynamic port selection failed"),
    );
}

#[test]
fn fit_resolves_to_minus_one() {
    let n = node(1000, 1000, 1000);
    let mut tg = group(&[], None, &[8080], &["http"]);
    tg.networks[0].dynamic_ports[0].to = -1;
    tg.networks[0].reserved_ports[0].to = -1;
    let Ok(ar) = fit(&n, &Capacity::of(&n), &Usage::default(), &tg) else {
        panic!("fit failed")
    };
    let to: Vec<(i64, i64)> = ar.shared.ports.iter().map(|p| (p.value, p.to)).collect();
    assert_eq!(to, vec![(8080, 8080), (20000, 20000)]);
}

#[test]
fn fit_task_network_ports_go_to_the_task() {
    let n = node(1000, 1000, 1000);
    let mut tg = group(&[(10, 10)], None, &[], &["grp"]);
    tg.tasks[0].resources.networks.push(NetworkResource {
        dynamic_ports: vec![port("legacy", 0)],
        ..NetworkResource::default()
    });
    let Ok(ar) = fit(&n, &Capacity::of(&n), &Usage::default(), &tg) else {
        panic!("fit failed")
    };
    assert_eq!(shared_ports(&ar), vec![("grp".to_string(), 20000)]);
    assert_eq!(ar.tasks["t0"].networks[0].dynamic_ports[0].value, 20001);
    let a = alloc_with(ar);
    assert_eq!(Usage::of(&[&a]).ports, BTreeSet::from([20000, 20001]));
}

#[test]
fn fit_host_ip_prefers_fingerprinted_network() {
    let mut n = node(1000, 1000, 1000);
    n.node_resources.networks.push(NetworkResource {
        ip: "192.168.1.9".into(),
        ..NetworkResource::default()
    });
    let Ok(ar) = fit(
        &n,
        &Capacity::of(&n),
        &Usage::default(),
        &group(&[], None, &[], &["a"]),
    ) else {
        panic!("fit failed")
    };
    assert_eq!(ar.shared.ports[0].host_ip, "192.168.1.9");
}

// ---- scoring ----

#[test]
fn binpack_known_values() {
    check_score((1000, 1000), (0, 0), 0.0);
    check_score((1000, 1000), (500, 500), (20.0 - 2.0 * 10f64.sqrt()) / 18.0);
    check_score((1000, 1000), (1000, 1000), 1.0);
    check_score((1000, 1000), (1000, 0), 0.5);
    check_score((1000, 1000), (3000, 3000), 1.0);
}

#[test]
fn binpack_degenerate_capacity_is_finite() {
    check_score((0, 0), (0, 0), 1.0);
    check_score((-5, 1000), (10, 0), 0.5);
    check_score((i64::MAX, i64::MAX), (i64::MAX, i64::MAX), 1.0);
    check_score((1000, 1000), (-1_000_000, -1_000_000), 0.0);
}

#[test]
fn anti_affinity_values() {
    assert_eq!(job_anti_affinity(0, 3), None);
    assert_eq!(job_anti_affinity(1, 4), Some(-0.5));
    assert_eq!(job_anti_affinity(2, 3), Some(-1.0));
    assert_eq!(job_anti_affinity(5, 3), Some(-2.0));
    assert_eq!(job_anti_affinity(1, 0), Some(-2.0));
}

#[test]
fn normalize_is_mean_of_present_scores() {
    assert_eq!(normalize(&[]), 0.0);
    assert_eq!(normalize(&[(rank::BINPACK, 0.8)]), 0.8);
    assert_eq!(
        normalize(&[(rank::BINPACK, 0.8), (rank::JOB_ANTI_AFFINITY, -0.4)]),
        0.2
    );
    assert_eq!(
        normalize(&[
            (rank::BINPACK, 0.8),
            ("bad", f64::NAN),
            ("inf", f64::INFINITY)
        ]),
        0.8
    );
}

#[test]
fn record_score_keeps_top_five() {
    let mut m = AllocMetric::default();
    for (i, s) in [0.1, 0.9, 0.5, 0.3, 0.7, 0.2, 0.8].iter().enumerate() {
        record_score(&mut m, &format!("n{i}"), &[(rank::BINPACK, *s)], *s);
    }
    assert_eq!(
        ranking(&m),
        vec![
            ("n1", 0.9),
            ("n6", 0.8),
            ("n4", 0.7),
            ("n2", 0.5),
            ("n3", 0.3)
        ]
    );
    assert_eq!(m.score_meta_data[0].scores.get(rank::BINPACK), Some(&0.9));
}

#[test]
fn record_score_ties_break_by_node_id() {
    let mut m = AllocMetric::default();
    for id in ["f", "b", "e", "a", "d", "c"] {
        record_score(&mut m, id, &[], 0.5);
    }
    assert_eq!(
        ranking(&m),
        vec![("a", 0.5), ("b", 0.5), ("c", 0.5), ("d", 0.5), ("e", 0.5)]
    );
}

#[test]
fn record_score_rescore_replaces_and_nan_sorts_last() {
    let mut m = AllocMetric::default();
    record_score(&mut m, "a", &[], 0.1);
    record_score(&mut m, "b", &[], f64::NAN);
    record_score(&mut m, "a", &[], 0.6);
    let ids: Vec<&str> = m
        .score_meta_data
        .iter()
        .map(|s| s.node_id.as_str())
        .collect();
    assert_eq!(ids, vec!["a", "b"]);
    assert_eq!(m.score_meta_data[0].norm_score, 0.6);
}

#[test]
fn exhausted_counts_dimensions() {
    let mut m = AllocMetric::default();
    exhausted(&mut m, "cpu");
    exhausted(&mut m, "memory");
    exhausted(&mut m, "cpu");
    assert_eq!(m.nodes_exhausted, 3);
    assert_eq!(m.dimension_exhausted.get("cpu"), Some(&2));
    assert_eq!(m.dimension_exhausted.get("memory"), Some(&1));
}

// ---- property: sequential fits never overcommit ----

fn arb_group() -> impl Strategy<Value = TaskGroup> {
    (
        prop::collection::vec((0i64..600, 0i64..600), 0..3),
        prop::option::of(0i64..600),
        prop::collection::vec(20_000i64..20_012, 0..3),
        0usize..4,
    )
        .prop_map(|(tasks, disk, statics, dyns)| {
            let labels: Vec<String> = (0..dyns).map(|i| format!("d{i}")).collect();
            let labels: Vec<&str> = labels.iter().map(String::as_str).collect();
            group(&tasks, disk, &statics, &labels)
        })
}

proptest! {
    #[test]
    fn sequential_fits_never_overcommit(
        cpu in 0i64..3000,
        mem in 0i64..3000,
        disk in 0i64..3000,
        min_port in 20_000i64..20_008,
        span in 0i64..8,
        reserved in "[0-9,\\-]{0,12}",
        groups in prop::collection::vec(arb_group(), 1..12),
    ) {
        let mut n = node(cpu, mem, disk);
        n.node_resources.min_dynamic_port = min_port;
        n.node_resources.max_dynamic_port = min_port + span;
        n.reserved_resources.networks.reserved_host_ports = reserved;
        let cap = Capacity::of(&n);
        let mut placed: Vec<Allocation> = Vec::new();
        let mut assigned: Vec<i64> = Vec::new();
        for tg in &groups {
            let used = Usage::of(&placed.iter().collect::<Vec<_>>());
            if let Ok(ar) = fit(&n, &cap, &used, tg) {
                assigned.extend(ar.shared.ports.iter().map(|p| p.value));
                placed.push(alloc_with(ar));
            }
        }
        let used = Usage::of(&placed.iter().collect::<Vec<_>>());
        prop_assert!(used.cpu_mhz <= cap.cpu_mhz);
        prop_assert!(used.memory_mb <= cap.memory_mb);
        prop_assert!(used.disk_mb <= cap.disk_mb);
        let unique: BTreeSet<i64> = assigned.iter().copied().collect();
        prop_assert_eq!(unique.len(), assigned.len(), "port assigned twice: {:?}", assigned);
        for p in &assigned {
            let p = u16::try_from(*p).unwrap();
            prop_assert!(!cap.reserved_ports.contains(&p));
        }
        let score = binpack_score(&cap, &used);
        prop_assert!((0.0..=1.0).contains(&score));
    }
}
