//! Feasibility checks against Nomad's behaviour: each case builds one node
//! and one job from small edits of a ready linux/docker node and a one-task
//! docker job, then runs them through `check`.

use std::collections::BTreeMap;

use drover_api::{
    AllocMetric, Allocation, Constraint, DriverInfo, Job, Node, NodeStatus, SchedulingEligibility,
    Task, TaskGroup,
};
use drover_scheduler::feasible::{check_constraint, distinct_ok, node_is_feasible};
use proptest::prelude::*;

fn node() -> Node {
    Node {
        id: "n1".into(),
        name: "node-1".into(),
        datacenter: "dc1".into(),
        node_class: String::new(),
        node_pool: "default".into(),
        status: NodeStatus::Ready,
        scheduling_eligibility: SchedulingEligibility::Eligible,
        attributes: BTreeMap::from([
            ("kernel.name".into(), "linux".into()),
            ("cpu.numcores".into(), "8".into()),
            ("nomad.version".into(), "1.6.2".into()),
            ("os.version".into(), "22.04".into()),
            ("tags".into(), "a, b,c".into()),
        ]),
        meta: BTreeMap::from([("rack".into(), "r1".into())]),
        drivers: BTreeMap::from([(
            "docker".into(),
            DriverInfo {
                detected: true,
                healthy: true,
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

fn job() -> Job {
    Job {
        id: "web".into(),
        datacenters: vec!["dc1".into()],
        node_pool: "default".into(),
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count: 1,
            tasks: vec![Task {
                name: "t".into(),
                driver: "docker".into(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn con(l: &str, op: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        operand: op.into(),
        r_target: r.into(),
    }
}

/// Runs `node_is_feasible` on the edited node and job; `want_reason` is the
/// single `ConstraintFiltered` key expected when the node is filtered.
#[track_caller]
fn check(edit: impl FnOnce(&mut Node, &mut Job), want: bool, want_reason: Option<&str>) {
    let (mut n, mut j) = (node(), job());
    edit(&mut n, &mut j);
    let mut metric = AllocMetric::default();
    let tg = j.task_groups[0].clone();
    let got = node_is_feasible(&n, &j, &tg, &mut metric);
    assert_eq!(got, want, "feasibility");
    assert_eq!(metric.nodes_evaluated, 1);
    assert_eq!(metric.nodes_filtered, i64::from(!want));
    let reasons: Vec<&str> = metric
        .constraint_filtered
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        reasons,
        want_reason.into_iter().collect::<Vec<_>>(),
        "reasons"
    );
}

/// One job-level constraint on the default node.
#[track_caller]
fn check_con(l: &str, op: &str, r: &str, want: bool) {
    let c = con(l, op, r);
    let reason = format!("{l} {op} {r}");
    check(
        |_, j| j.constraints.push(c),
        want,
        (!want).then_some(reason.as_str()),
    );
}

#[test]
fn plain_node_is_feasible() {
    check(|_, _| {}, true, None);
}

#[test]
fn equality_operands() {
    check_con("${attr.kernel.name}", "=", "linux", true);
    check_con("${attr.kernel.name}", "==", "linux", true);
    check_con("${attr.kernel.name}", "is", "windows", false);
    check_con("${attr.kernel.name}", "!=", "windows", true);
    check_con("${attr.kernel.name}", "not", "linux", false);
}

#[test]
fn missing_attribute_fails_everything_but_not_equal_and_is_not_set() {
    check_con("${attr.nope}", "=", "x", false);
    check_con("${attr.nope}", "<", "x", false);
    check_con("${attr.nope}", "regexp", ".*", false);
    check_con("${attr.nope}", "version", ">= 0", false);
    check_con("${attr.nope}", "set_contains", "a", false);
    check_con("${attr.nope}", "is_set", "", false);
    check_con("${attr.nope}", "is_not_set", "", true);
    // Nomad compares the empty string a missing target resolves to.
    check_con("${attr.nope}", "!=", "x", true);
}

#[test]
fn is_set_on_present_attribute() {
    check_con("${attr.kernel.name}", "is_set", "", true);
    check_con("${meta.rack}", "is_not_set", "", false);
}

#[test]
fn numeric_ordering_when_both_parse() {
    check_con("${attr.cpu.numcores}", ">", "10", false);
    check_con("${attr.cpu.numcores}", "<", "10", true);
    check_con("${attr.cpu.numcores}", ">=", "8", true);
    check_con("${attr.cpu.numcores}", "<=", "7.5", false);
    check_con("${attr.os.version}", ">", "9.10", true);
}

#[test]
fn lexical_ordering_otherwise() {
    // "8" > "10x" lexically although 8 < 10.
    check_con("${attr.cpu.numcores}", ">", "10x", true);
    check_con("${attr.kernel.name}", "<", "mac", true);
    check_con("${attr.kernel.name}", ">=", "linux", true);
}

#[test]
fn version_ranges() {
    check_con("${attr.nomad.version}", "version", ">= 1.2, < 2.0", true);
    check_con("${attr.nomad.version}", "version", ">= 1.7", false);
    check_con("${attr.nomad.version}", "version", "~> 1.6", true);
    check_con("${attr.nomad.version}", "version", "~> 1.5.0", false);
    check_con("${attr.nomad.version}", "version", "= 1.6.2", true);
    check_con("${attr.nomad.version}", "version", "1.6.2", true);
    check_con("${attr.nomad.version}", "version", "!= 1.6.2", false);
    check_con("${attr.nomad.version}", "version", "not a version", false);
    check_con("${attr.kernel.name}", "version", ">= 1", false);
}

#[test]
fn prerelease_versions() {
    let with_version = |v: &'static str, op: &'static str, r: &'static str, want: bool| {
        let c = con("${attr.v}", op, r);
        let reason = format!("${{attr.v}} {op} {r}");
        check(
            move |n, j| {
                n.attributes.insert("v".into(), v.into());
                j.constraints.push(c);
            },
            want,
            (!want).then_some(reason.as_str()),
        );
    };
    with_version("1.2.0-beta1", "semver", "< 1.2.0", true);
    with_version("1.2.0-beta1", "semver", ">= 1.1", true);
    with_version("1.2.0-beta1", "version", ">= 1.1", false);
    with_version("1.2.0-beta2", "version", ">= 1.2.0-beta1", true);
    with_version("v1.2.3+ent", "semver", "= 1.2.3", true);
}

#[test]
fn regexp_operand() {
    check_con("${attr.kernel.name}", "regexp", "^lin", true);
    check_con("${attr.kernel.name}", "regexp", "nux", true);
    check_con("${attr.kernel.name}", "regexp", "^win", false);
    check_con("${attr.kernel.name}", "regexp", "([", false);
}

#[test]
fn set_operands() {
    check_con("${attr.tags}", "set_contains", "a,c", true);
    check_con("${attr.tags}", "set_contains_all", "b, c", true);
    check_con("${attr.tags}", "set_contains", "a,d", false);
    check_con("${attr.tags}", "set_contains_any", "d, c", true);
    check_con("${attr.tags}", "set_contains_any", "d,e", false);
}

#[test]
fn unknown_operand_is_infeasible() {
    check_con("${attr.kernel.name}", "~=", "linux", false);
}

#[test]
fn node_targets_resolve() {
    check_con("${node.unique.id}", "=", "n1", true);
    check_con("${node.unique.name}", "=", "node-1", true);
    check_con("${node.datacenter}", "=", "dc1", true);
    check_con("${node.pool}", "=", "default", true);
    check_con("${node.class}", "=", "", true);
    check_con("${meta.rack}", "=", "r1", true);
    check_con("${node.region}", "is_not_set", "", true);
    check_con("linux", "=", "${attr.kernel.name}", true);
}

#[test]
fn constraint_levels_job_group_task() {
    let bad = || con("${attr.kernel.name}", "=", "windows");
    let reason = Some("${attr.kernel.name} = windows");
    check(|_, j| j.constraints.push(bad()), false, reason);
    check(
        |_, j| j.task_groups[0].constraints.push(bad()),
        false,
        reason,
    );
    check(
        |_, j| j.task_groups[0].tasks[0].constraints.push(bad()),
        false,
        reason,
    );
}

#[test]
fn first_failing_constraint_is_the_reason() {
    check(
        |_, j| {
            j.constraints.push(con("${attr.kernel.name}", "=", "linux"));
            j.task_groups[0]
                .constraints
                .push(con("${meta.rack}", "=", "r2"));
            j.task_groups[0].tasks[0]
                .constraints
                .push(con("${meta.rack}", "=", "r3"));
        },
        false,
        Some("${meta.rack} = r2"),
    );
}

#[test]
fn distinct_constraints_pass_the_constraint_checker() {
    check_con("", "distinct_hosts", "true", true);
    check_con("${meta.rack}", "distinct_property", "1", true);
}

#[test]
fn status_and_eligibility() {
    check(|n, _| n.status = NodeStatus::Down, false, None);
    check(|n, _| n.status = NodeStatus::Initializing, false, None);
    check(|n, _| n.status = NodeStatus::Disconnected, false, None);
    check(
        |n, _| n.scheduling_eligibility = SchedulingEligibility::Ineligible,
        false,
        None,
    );
}

#[test]
fn datacenters_and_globs() {
    check(|n, _| n.datacenter = "dc2".into(), false, None);
    check(
        |_, j| j.datacenters = vec!["dc2".into(), "dc1".into()],
        true,
        None,
    );
    check(|_, j| j.datacenters = vec!["*".into()], true, None);
    check(|_, j| j.datacenters = vec!["dc*".into()], true, None);
    check(|_, j| j.datacenters = vec!["eu-*".into()], false, None);
    check(|_, j| j.datacenters = vec!["d*1".into()], true, None);
    check(|_, j| j.datacenters = vec![], true, None);
}

#[test]
fn node_pools() {
    check(|_, j| j.node_pool = "gpu".into(), false, None);
    check(|_, j| j.node_pool = "all".into(), true, None);
    check(|_, j| j.node_pool = String::new(), true, None);
    check(|n, _| n.node_pool = String::new(), true, None);
    check(
        |n, j| {
            n.node_pool = "gpu".into();
            j.node_pool = "gpu".into();
        },
        true,
        None,
    );
}

#[test]
fn drivers() {
    let reason = Some("missing drivers");
    check(|n, _| n.drivers.clear(), false, reason);
    check(
        |n, _| {
            n.drivers
                .get_mut("docker")
                .into_iter()
                .for_each(|d| d.healthy = false)
        },
        false,
        reason,
    );
    check(
        |n, _| {
            n.drivers
                .get_mut("docker")
                .into_iter()
                .for_each(|d| d.detected = false)
        },
        false,
        reason,
    );
    check(
        |_, j| j.task_groups[0].tasks[0].driver = "exec".into(),
        false,
        reason,
    );
}

#[test]
fn driver_attribute_fallback() {
    check(
        |n, _| {
            n.drivers.clear();
            n.attributes.insert("driver.docker".into(), "1".into());
        },
        true,
        None,
    );
    check(
        |n, _| {
            n.drivers.clear();
            n.attributes.insert("driver.docker".into(), "yes".into());
        },
        false,
        Some("missing drivers"),
    );
}

#[test]
fn job_constraints_are_checked_before_drivers() {
    check(
        |n, j| {
            n.drivers.clear();
            j.constraints
                .push(con("${attr.kernel.name}", "=", "darwin"));
        },
        false,
        Some("${attr.kernel.name} = darwin"),
    );
    check(
        |n, j| {
            n.drivers.clear();
            j.task_groups[0]
                .constraints
                .push(con("${attr.kernel.name}", "=", "darwin"));
        },
        false,
        Some("missing drivers"),
    );
}

#[test]
fn metric_accumulates_across_nodes_and_counts_classes() {
    let j = job();
    let tg = &j.task_groups[0];
    let mut metric = AllocMetric::default();
    let mut bad = node();
    bad.node_class = "large".into();
    bad.drivers.clear();
    assert!(node_is_feasible(&node(), &j, tg, &mut metric));
    assert!(!node_is_feasible(&bad, &j, tg, &mut metric));
    assert!(!node_is_feasible(&bad, &j, tg, &mut metric));
    assert_eq!(metric.nodes_evaluated, 3);
    assert_eq!(metric.nodes_filtered, 2);
    assert_eq!(metric.class_filtered.get("large"), Some(&2));
    assert_eq!(metric.constraint_filtered.get("missing drivers"), Some(&2));
}

#[test]
fn check_constraint_directly() {
    assert!(!check_constraint("!=", None, None));
    assert!(check_constraint("is_not_set", None, Some("x")));
    assert!(!check_constraint("=", None, None));
    assert!(check_constraint("<", Some("2"), Some("10")));
    assert!(!check_constraint("<", Some("NaN"), Some("1")));
}

// ---- distinct_hosts / distinct_property ----

fn alloc(id: &str, node_id: &str, job_id: &str, tg: &str) -> Allocation {
    Allocation {
        id: id.into(),
        node_id: node_id.into(),
        job_id: job_id.into(),
        task_group: tg.into(),
        ..Default::default()
    }
}

/// Runs `distinct_ok` for node `n1` (rack r1) with nodes `n2` (rack r1) and
/// `n3` (rack r2) also known.
#[track_caller]
fn check_distinct(
    edit: impl FnOnce(&mut Job),
    allocs: &[Allocation],
    want: bool,
    want_reason: Option<&str>,
) {
    let mut j = job();
    edit(&mut j);
    let n1 = node();
    let mut n2 = node();
    n2.id = "n2".into();
    let mut n3 = node();
    n3.id = "n3".into();
    n3.meta.insert("rack".into(), "r2".into());
    let others = [n2, n3];
    let lookup = |id: &str| others.iter().find(|n| n.id == id);
    let existing: Vec<&Allocation> = allocs.iter().collect();
    let mut metric = AllocMetric::default();
    let got = distinct_ok(&n1, &j, &j.task_groups[0], &existing, &lookup, &mut metric);
    assert_eq!(got, want, "distinct_ok");
    assert_eq!(metric.nodes_evaluated, 0);
    assert_eq!(metric.nodes_filtered, i64::from(!want));
    let reasons: Vec<&str> = metric
        .constraint_filtered
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        reasons,
        want_reason.into_iter().collect::<Vec<_>>(),
        "reasons"
    );
}

#[test]
fn distinct_hosts_job_level() {
    let c = || con("", "distinct_hosts", "");
    check_distinct(|j| j.constraints.push(c()), &[], true, None);
    check_distinct(
        |j| j.constraints.push(c()),
        &[alloc("a", "n1", "web", "other-group")],
        false,
        Some("distinct_hosts"),
    );
    check_distinct(
        |j| j.constraints.push(c()),
        &[alloc("a", "n2", "web", "g")],
        true,
        None,
    );
    check_distinct(
        |j| j.constraints.push(c()),
        &[alloc("a", "n1", "api", "g")],
        true,
        None,
    );
}

#[test]
fn distinct_hosts_group_level_and_disabled() {
    let on_n1 = [alloc("a", "n1", "web", "other-group")];
    let same_tg = [alloc("a", "n1", "web", "g")];
    check_distinct(
        |j| {
            j.task_groups[0]
                .constraints
                .push(con("", "distinct_hosts", "true"))
        },
        &on_n1,
        true,
        None,
    );
    check_distinct(
        |j| {
            j.task_groups[0]
                .constraints
                .push(con("", "distinct_hosts", "true"))
        },
        &same_tg,
        false,
        Some("distinct_hosts"),
    );
    check_distinct(
        |j| j.constraints.push(con("", "distinct_hosts", "false")),
        &same_tg,
        true,
        None,
    );
    check_distinct(|_| {}, &same_tg, true, None);
}

#[test]
fn distinct_property_counts() {
    let c = |r: &str| con("${meta.rack}", "distinct_property", r);
    // n2 shares rack r1 with n1; n3 is in r2.
    check_distinct(
        |j| j.constraints.push(c("")),
        &[alloc("a", "n3", "web", "g")],
        true,
        None,
    );
    check_distinct(
        |j| j.constraints.push(c("")),
        &[alloc("a", "n2", "web", "g")],
        false,
        Some("distinct_property: ${meta.rack}=r1 used by 1 allocs"),
    );
    check_distinct(
        |j| j.constraints.push(c("2")),
        &[alloc("a", "n2", "web", "g")],
        true,
        None,
    );
    check_distinct(
        |j| j.constraints.push(c("2")),
        &[alloc("a", "n2", "web", "g"), alloc("b", "n1", "web", "x")],
        false,
        Some("distinct_property: ${meta.rack}=r1 used by 2 allocs"),
    );
    // Another job's allocations never count.
    check_distinct(
        |j| j.constraints.push(c("")),
        &[alloc("a", "n2", "api", "g")],
        true,
        None,
    );
}

#[test]
fn distinct_property_group_level_and_errors() {
    let c = |l: &str, r: &str| con(l, "distinct_property", r);
    check_distinct(
        |j| j.task_groups[0].constraints.push(c("${meta.rack}", "")),
        &[alloc("a", "n2", "web", "other")],
        true,
        None,
    );
    check_distinct(
        |j| j.task_groups[0].constraints.push(c("${meta.rack}", "")),
        &[alloc("a", "n2", "web", "g")],
        false,
        Some("distinct_property: ${meta.rack}=r1 used by 1 allocs"),
    );
    check_distinct(
        |j| j.constraints.push(c("${meta.zone}", "")),
        &[],
        false,
        Some("missing property \"${meta.zone}\""),
    );
    check_distinct(
        |j| j.constraints.push(c("${meta.rack}", "lots")),
        &[],
        false,
        Some("failed to convert RTarget \"lots\" to uint64"),
    );
    // Allocations on nodes the lookup does not know are not counted.
    check_distinct(
        |j| j.constraints.push(c("${meta.rack}", "")),
        &[alloc("a", "gone", "web", "g")],
        true,
        None,
    );
}

// ---- never panics ----

fn target() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("${attr.a}".to_string()),
        Just("${meta.b}".to_string()),
        Just("${node.unique.id}".to_string()),
        Just("${".to_string()),
        Just("${attr.".to_string()),
        "[ -~]{0,12}",
        "[0-9v.,<>=~! -]{0,16}",
    ]
}

fn operand() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("=".to_string()),
        Just("!=".to_string()),
        Just("<".to_string()),
        Just(">=".to_string()),
        Just("regexp".to_string()),
        Just("version".to_string()),
        Just("semver".to_string()),
        Just("set_contains".to_string()),
        Just("set_contains_any".to_string()),
        Just("is_set".to_string()),
        Just("is_not_set".to_string()),
        Just("distinct_hosts".to_string()),
        Just("distinct_property".to_string()),
        "\\PC{0,6}",
    ]
}

fn constraint() -> impl Strategy<Value = Constraint> {
    (target(), operand(), target()).prop_map(|(l, op, r)| con(&l, &op, &r))
}

proptest! {
    #[test]
    fn random_constraints_and_nodes_never_panic(
        cons in prop::collection::vec(constraint(), 0..5),
        a in "\\PC{0,12}",
        b in "[0-9.v,-]{0,12}",
        dcs in prop::collection::vec("[a-z*]{0,5}", 0..3),
        dc in "[a-z*]{0,5}",
        pool in "[a-z]{0,4}",
        driver in "[a-z]{0,4}",
    ) {
        let mut n = node();
        n.attributes.insert("a".into(), a);
        n.meta.insert("b".into(), b);
        n.datacenter = dc;
        let mut j = job();
        j.datacenters = dcs;
        j.node_pool = pool;
        j.task_groups[0].tasks[0].driver = driver;
        j.constraints = cons.clone();
        j.task_groups[0].constraints = cons;
        let tg = j.task_groups[0].clone();
        let mut metric = AllocMetric::default();
        let ok = node_is_feasible(&n, &j, &tg, &mut metric);
        prop_assert_eq!(metric.nodes_filtered, i64::from(!ok));
        let allocs = [alloc("x", "n1", "web", "g"), alloc("y", "n2", "web", "g")];
        let existing: Vec<&Allocation> = allocs.iter().collect();
        let lookup = |id: &str| (id == "n1").then_some(&n);
        let _ = distinct_ok(&n, &j, &tg, &existing, &lookup, &mut metric);
    }
}
