//! Affinity and spread scores against hand-computed values from Nomad's
//! formulas: `NodeAffinityIterator.Next` (scheduler/feasible/rank.go) and
//! `SpreadIterator.Next` / `evenSpreadScoreBoost` / `computeSpreadInfo`
//! (scheduler/feasible/spread.go).
//!
//! Nodes are named `<dc>-<rack>` (`dc1-r1`) and carry those values as
//! `${node.datacenter}` and `${meta.rack}`; a rack of `-` means no rack.

use std::collections::BTreeMap;

use drover_api::{
    Affinity, AllocDesiredStatus, Allocation, Job, Node, Spread, SpreadTarget, Task, TaskGroup,
};
use drover_scheduler::affinity::{affinity_score, SpreadScorer, ALLOCATION_SPREAD, NODE_AFFINITY};

const EPS: f64 = 1e-9;

#[track_caller]
fn close(got: f64, want: f64) {
    assert!((got - want).abs() < EPS, "got {got}, want {want}");
}

/// A ready node `<dc>-<rack>` with a linux kernel and nomad 1.6.2.
fn node(name: &str) -> Node {
    let (dc, rack) = name.split_once('-').unwrap_or((name, "-"));
    let mut meta = BTreeMap::new();
    if rack != "-" {
        meta.insert("rack".to_owned(), rack.to_owned());
    }
    Node {
        id: name.into(),
        name: name.into(),
        datacenter: dc.into(),
        node_class: "large".into(),
        attributes: BTreeMap::from([
            ("kernel.name".into(), "linux".into()),
            ("nomad.version".into(), "1.6.2".into()),
            ("cpu.numcores".into(), "8".into()),
            ("tags".into(), "ssd,gpu".into()),
        ]),
        meta,
        ..Default::default()
    }
}

fn affinity(l: &str, op: &str, r: &str, weight: i32) -> Affinity {
    Affinity {
        l_target: l.into(),
        r_target: r.into(),
        operand: op.into(),
        weight,
    }
}

fn spread(attribute: &str, weight: i32, targets: &[(&str, u32)]) -> Spread {
    Spread {
        attribute: attribute.into(),
        weight,
        spread_target: targets
            .iter()
            .map(|(v, p)| SpreadTarget {
                value: (*v).into(),
                percent: *p,
            })
            .collect(),
    }
}

/// Job "web" with group "g" of `count`, spreads at job and group level.
fn job(count: i32, job_spreads: Vec<Spread>, tg_spreads: Vec<Spread>) -> Job {
    Job {
        id: "web".into(),
        spreads: job_spreads,
        task_groups: vec![TaskGroup {
            name: "g".into(),
            count,
            spreads: tg_spreads,
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

fn alloc(node: &str) -> Allocation {
    Allocation {
        id: format!("a-{node}"),
        job_id: "web".into(),
        task_group: "g".into(),
        node_id: node.into(),
        ..Default::default()
    }
}

/// A scorer for the job's only group, with one allocation on each of
/// `placed` (node names, repeated for several).
fn scorer(job: &Job, placed: &[&str]) -> Option<SpreadScorer> {
    let allocs: Vec<Allocation> = placed.iter().map(|n| alloc(n)).collect();
    scorer_with(job, &allocs)
}

fn scorer_with(job: &Job, allocs: &[Allocation]) -> Option<SpreadScorer> {
    let nodes: Vec<Node> = allocs.iter().map(|a| node(&a.node_id)).collect();
    let refs: Vec<&Allocation> = allocs.iter().collect();
    let node_of = |id: &str| nodes.iter().find(|n| n.id == id);
    SpreadScorer::new(job, &job.task_groups[0], &refs, &node_of)
}

#[track_caller]
fn spread_score(s: &SpreadScorer, node_name: &str) -> f64 {
    s.score(&node(node_name))
}

// ---- NodeAffinityIterator ----

#[test]
fn score_names_are_nomads() {
    assert_eq!(NODE_AFFINITY, "node-affinity");
    assert_eq!(ALLOCATION_SPREAD, "allocation-spread");
}

#[test]
fn node_affinity_none_without_affinities() {
    let j = job(1, vec![], vec![]);
    assert_eq!(affinity_score(&node("dc1-r1"), &j, &j.task_groups[0]), None);
}

#[test]
fn node_affinity_iterator_sums_job_group_and_task_weights() {
    // matched weights / sum of |weights|, sum = 50 + 30 + 20 = 100.
    let mut j = job(1, vec![], vec![]);
    j.affinities = vec![affinity("${node.datacenter}", "=", "dc1", 50)];
    j.task_groups[0].affinities = vec![affinity("${meta.rack}", "=", "r1", -30)];
    j.task_groups[0].tasks[0].affinities = vec![affinity("${attr.kernel.name}", "=", "linux", 20)];
    let tg = &j.task_groups[0];
    close(affinity_score(&node("dc1-r1"), &j, tg).unwrap(), 0.4); // (50-30+20)/100
    close(affinity_score(&node("dc2-r1"), &j, tg).unwrap(), -0.1); // (-30+20)/100
    close(affinity_score(&node("dc2-r2"), &j, tg).unwrap(), 0.2); // 20/100
    close(affinity_score(&node("dc1-r2"), &j, tg).unwrap(), 0.7); // (50+20)/100
}

#[test]
fn node_affinity_iterator_uses_constraint_operators() {
    #[track_caller]
    fn one(a: Affinity, node_name: &str, want: f64) {
        let mut j = job(1, vec![], vec![]);
        j.task_groups[0].affinities = vec![a];
        let got = affinity_score(&node(node_name), &j, &j.task_groups[0]);
        close(got.unwrap(), want);
    }
    one(
        affinity("${node.datacenter}", "!=", "dc1", 40),
        "dc2-r1",
        1.0,
    );
    one(
        affinity("${node.datacenter}", "!=", "dc1", 40),
        "dc1-r1",
        0.0,
    );
    one(
        affinity("${attr.cpu.numcores}", "<", "16", 10),
        "dc1-r1",
        1.0,
    );
    one(
        affinity("${attr.cpu.numcores}", ">", "16", 10),
        "dc1-r1",
        0.0,
    );
    one(
        affinity("${meta.rack}", "regexp", "^r[12]$", 10),
        "dc1-r2",
        1.0,
    );
    one(
        affinity("${meta.rack}", "regexp", "^r[12]$", 10),
        "dc1-r3",
        0.0,
    );
    one(
        affinity("${attr.nomad.version}", "version", ">= 1.5", 10),
        "dc1-r1",
        1.0,
    );
    one(
        affinity("${attr.nomad.version}", "version", "< 1.5", 10),
        "dc1-r1",
        0.0,
    );
    one(
        affinity("${attr.tags}", "set_contains_any", "nvme,gpu", 10),
        "dc1-r1",
        1.0,
    );
    one(
        affinity("${attr.tags}", "set_contains_all", "ssd,nvme", 10),
        "dc1-r1",
        0.0,
    );
    one(
        affinity("${node.unique.id}", "=", "dc1-r1", 10),
        "dc1-r1",
        1.0,
    );
    one(affinity("${node.class}", "=", "large", 10), "dc1-r1", 1.0);
    // A negative affinity that matches scores -1; a missing attribute
    // never equals anything.
    one(affinity("${meta.rack}", "=", "r1", -70), "dc1-r1", -1.0);
    one(affinity("${meta.rack}", "=", "r1", -70), "dc1--", 0.0);
    one(affinity("${meta.rack}", "is_set", "", 10), "dc1--", 0.0);
}

#[test]
fn node_affinity_all_zero_weights_is_none_not_nan() {
    let mut j = job(1, vec![], vec![]);
    j.affinities = vec![affinity("${node.datacenter}", "=", "dc1", 0)];
    assert_eq!(affinity_score(&node("dc1-r1"), &j, &j.task_groups[0]), None);
}

// ---- SpreadIterator with targets: (desired - (used + 1)) / desired * weight share ----

#[test]
fn spread_none_without_spreads() {
    assert!(scorer(&job(3, vec![], vec![]), &[]).is_none());
}

#[test]
fn spread_iterator_target_boost() {
    // computeSpreadInfo: count 10, dc1 70% -> 7, dc2 30% -> 3; targets sum
    // to 100%, so there is no implicit `*` share.
    let j = job(
        10,
        vec![spread(
            "${node.datacenter}",
            100,
            &[("dc1", 70), ("dc2", 30)],
        )],
        vec![],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 6.0 / 7.0); // (7 - 1) / 7
    close(spread_score(&s, "dc2-r1"), 2.0 / 3.0); // (3 - 1) / 3
    close(spread_score(&s, "dc3-r1"), -1.0); // no desired count

    let placed = [
        "dc1-r1", "dc1-r2", "dc1-r1", "dc1-r3", "dc1-r1", "dc1-r2", "dc1-r1",
    ];
    let s = scorer(&j, &placed).unwrap();
    close(spread_score(&s, "dc1-r9"), -1.0 / 7.0); // (7 - 8) / 7
    close(spread_score(&s, "dc2-r1"), 2.0 / 3.0);
}

#[test]
fn spread_iterator_add_updates_counts() {
    let j = job(
        4,
        vec![spread(
            "${node.datacenter}",
            50,
            &[("dc1", 50), ("dc2", 50)],
        )],
        vec![],
    );
    let mut s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.5); // (2 - 1) / 2
    s.add(&node("dc1-r1"));
    close(spread_score(&s, "dc1-r1"), 0.0); // (2 - 2) / 2
    close(spread_score(&s, "dc2-r1"), 0.5);
    s.add(&node("dc1-r2"));
    close(spread_score(&s, "dc1-r1"), -0.5); // (2 - 3) / 2
}

#[test]
fn spread_iterator_implicit_target_takes_the_rest() {
    // count 10, dc1 50% -> 5, the other 5 shared by every other value as `*`.
    let j = job(
        10,
        vec![spread("${node.datacenter}", 100, &[("dc1", 50)])],
        vec![],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc3-r1"), 0.8); // (5 - 1) / 5
                                            // dc2 and dc3 fill the same `*` bucket: 3 used.
    let s = scorer(&j, &["dc2-r1", "dc2-r2", "dc3-r1", "dc1-r1"]).unwrap();
    close(spread_score(&s, "dc4-r1"), 0.2); // (5 - 4) / 5
    close(spread_score(&s, "dc1-r1"), 0.6); // (5 - 2) / 5
}

#[test]
fn spread_iterator_weights_are_shares_of_the_sum() {
    // Group spread (60) and job spread (40): shares 0.6 and 0.4.
    // count 4: dc1 2, dc2 2; r1 4 (100%, no implicit).
    let j = job(
        4,
        vec![spread("${meta.rack}", 40, &[("r1", 100)])],
        vec![spread(
            "${node.datacenter}",
            60,
            &[("dc1", 50), ("dc2", 50)],
        )],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.6); // (2-1)/2*0.6 + (4-1)/4*0.4 = 0.3 + 0.3
    close(spread_score(&s, "dc1-r2"), -0.7); // 0.3 - 1 (r2 has no desired count)
    close(spread_score(&s, "dc1--"), -0.7); // 0.3 - 1 (no rack at all)
    let s = scorer(&j, &["dc1-r1", "dc1-r1"]).unwrap();
    close(spread_score(&s, "dc2-r1"), 0.4); // (2-1)/2*0.6 + (4-3)/4*0.4 = 0.3 + 0.1
}

#[test]
fn spread_iterator_missing_attribute_is_minus_one_per_block() {
    // Nomad subtracts 1 per failing block; the sum (-2) is clamped to -1.
    let j = job(
        2,
        vec![
            spread("${meta.rack}", 50, &[]),
            spread("${meta.zone}", 50, &[]),
        ],
        vec![],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1--"), -1.0);
    close(spread_score(&s, "dc1-r1"), -1.0); // 0 (even, nothing placed) - 1
}

#[test]
fn spread_iterator_zero_percent_target_scores_lowest_boost() {
    // Weights 1 and 99 over 100; count 10. dc: dc1 100%, dc2 0%.
    // rack: r1 50% -> 5, r2 50% -> 5.
    let j = job(
        10,
        vec![
            spread("${node.datacenter}", 1, &[("dc1", 100), ("dc2", 0)]),
            spread("${meta.rack}", 99, &[("r1", 50), ("r2", 50)]),
        ],
        vec![],
    );
    let placed = ["dc1-r1"; 10];
    let s = scorer(&j, &placed).unwrap();
    // Fresh: the lowest boost is Nomad's initial -1.
    close(spread_score(&s, "dc2-r2"), -1.0 + 0.8 * 0.99); // -1 + (5-1)/5*0.99
                                                          // dc1-r1: (10-11)/10*0.01 + (5-11)/5*0.99 = -0.001 - 1.188, clamped.
    close(spread_score(&s, "dc1-r1"), -1.0);
    // That lowered the lowest boost to -1.188, which the 0% value now gets.
    close(spread_score(&s, "dc2-r2"), -1.188 + 0.8 * 0.99);
}

#[test]
fn spread_iterator_counts_only_live_allocs_of_the_group() {
    let j = job(
        4,
        vec![spread(
            "${node.datacenter}",
            50,
            &[("dc1", 50), ("dc2", 50)],
        )],
        vec![],
    );
    let other_group = Allocation {
        task_group: "other".into(),
        ..alloc("dc1-r1")
    };
    let other_job = Allocation {
        job_id: "api".into(),
        ..alloc("dc1-r1")
    };
    let stopped = Allocation {
        desired_status: AllocDesiredStatus::Stop,
        ..alloc("dc1-r1")
    };
    let s = scorer_with(&j, &[other_group, other_job, stopped, alloc("dc1-r1")]).unwrap();
    close(spread_score(&s, "dc1-r2"), 0.0); // (2 - 2) / 2: one counted
}

#[test]
fn spread_iterator_unknown_node_is_not_counted() {
    let j = job(
        2,
        vec![spread("${node.datacenter}", 50, &[("dc1", 100)])],
        vec![],
    );
    let allocs = [alloc("dc1-r1")];
    let refs: Vec<&Allocation> = allocs.iter().collect();
    let s = SpreadScorer::new(&j, &j.task_groups[0], &refs, &|_| None).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.5); // (2 - 1) / 2
}

#[test]
fn spread_attributes_resolve_like_constraints() {
    let j = job(
        2,
        vec![spread("${attr.kernel.name}", 50, &[("linux", 50)])],
        vec![],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.0); // (1 - 1) / 1
    let j = job(
        2,
        vec![spread("${node.unique.id}", 50, &[("dc1-r1", 50)])],
        vec![],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.0); // (1 - 1) / 1
    close(spread_score(&s, "dc2-r1"), 0.0); // `*` gets the other 1
    let j = job(
        4,
        vec![spread("${node.class}", 50, &[("large", 100)])],
        vec![],
    );
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.75); // (4 - 1) / 4
    let j = job(4, vec![spread("${node.nope}", 50, &[("x", 100)])], vec![]);
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), -1.0); // unresolvable
}

// ---- evenSpreadScoreBoost: no targets ----

#[test]
fn even_spread_score_boost_nothing_placed_is_zero() {
    let j = job(3, vec![], vec![spread("${node.datacenter}", 50, &[])]);
    let s = scorer(&j, &[]).unwrap();
    close(spread_score(&s, "dc1-r1"), 0.0);
}

#[test]
fn even_spread_score_boost_cases() {
    let j = job(6, vec![], vec![spread("${node.datacenter}", 50, &[])]);
    // {dc1: 1}: dc1 is min == max -> -1; dc2 has 0 != min -> (1-0)/1.
    let s = scorer(&j, &["dc1-r1"]).unwrap();
    close(spread_score(&s, "dc1-r1"), -1.0);
    close(spread_score(&s, "dc2-r1"), 1.0);
    // {dc1: 2, dc2: 1}: dc1 -> (1-2)/1; dc2 is min < max -> (2-1)/1.
    let s = scorer(&j, &["dc1-r1", "dc1-r2", "dc2-r1"]).unwrap();
    close(spread_score(&s, "dc1-r1"), -1.0);
    close(spread_score(&s, "dc2-r1"), 1.0);
    close(spread_score(&s, "dc3-r1"), 1.0);
    // {dc1: 3, dc2: 2}: dc1 -> (2-3)/2; dc2 -> (3-2)/2; dc3 -> (2-0)/2, clamped.
    let s = scorer(&j, &["dc1-r1", "dc1-r1", "dc1-r1", "dc2-r1", "dc2-r1"]).unwrap();
    close(spread_score(&s, "dc1-r1"), -0.5);
    close(spread_score(&s, "dc2-r1"), 0.5);
    close(spread_score(&s, "dc3-r1"), 1.0);
    // {dc1: 1, dc2: 3}: dc2 -> (1-3)/1 = -2 and dc1 -> (3-1)/1 = 2, clamped.
    let s = scorer(&j, &["dc1-r1", "dc2-r1", "dc2-r1", "dc2-r1"]).unwrap();
    close(spread_score(&s, "dc2-r1"), -1.0);
    close(spread_score(&s, "dc1-r1"), 1.0);
    // Missing attribute: -1.
    let j = job(6, vec![], vec![spread("${meta.rack}", 50, &[])]);
    let s = scorer(&j, &["dc1-r1"]).unwrap();
    close(spread_score(&s, "dc1--"), -1.0);
}

#[test]
fn even_spread_score_boost_is_not_weighted() {
    // As in Nomad, only target spreads are scaled by weight / sum.
    // count 4; even dc spread (10) + rack target r1 100% (90): shares .1/.9.
    // {dc1: 3, dc2: 2}, all on r1 (5 used).
    let j = job(
        4,
        vec![spread("${node.datacenter}", 10, &[])],
        vec![spread("${meta.rack}", 90, &[("r1", 100)])],
    );
    let s = scorer(&j, &["dc1-r1", "dc1-r1", "dc1-r1", "dc2-r1", "dc2-r1"]).unwrap();
    // even: (3-2)/2 = 0.5 unscaled; target: (4-6)/4*0.9 = -0.45.
    close(spread_score(&s, "dc2-r1"), 0.05);
}

#[test]
fn even_spread_add_moves_the_minimum() {
    let j = job(4, vec![], vec![spread("${node.datacenter}", 50, &[])]);
    let mut s = scorer(&j, &[]).unwrap();
    s.add(&node("dc1-r1"));
    close(spread_score(&s, "dc2-r1"), 1.0);
    s.add(&node("dc2-r1"));
    close(spread_score(&s, "dc1-r1"), -1.0); // {1, 1}: even
    s.add(&node("dc1--"));
    close(spread_score(&s, "dc2-r1"), 1.0); // {2, 1}: (2-1)/1
    close(spread_score(&s, "dc1-r1"), -1.0); // (1-2)/1
}
