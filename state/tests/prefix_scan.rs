//! Prefix reads walk only their key range; this checks them against a
//! plain filter over everything, with page tokens anywhere (inside, below
//! or above the range) and in both directions.

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::pagination::SortKey;
use drover_state::{Command, NamespaceSel, State, WatchSet};
use proptest::prelude::*;

/// Short strings over a tiny alphabet, plus the characters at the edges of
/// the successor computation, so prefixes, tokens and keys collide often.
fn word() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec!['a', 'b', 'c', '\u{D7FF}', '\u{E000}', char::MAX]),
        0..4,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn expected(
    mut keys: Vec<String>,
    prefix: &str,
    token: Option<&str>,
    reverse: bool,
) -> Vec<String> {
    keys.sort();
    keys.dedup();
    let mut out: Vec<String> = keys
        .into_iter()
        .filter(|k| k.starts_with(prefix))
        .filter(|k| match token {
            Some(t) if reverse => k.as_str() <= t,
            Some(t) => k.as_str() >= t,
            None => true,
        })
        .collect();
    if reverse {
        out.reverse();
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn node_prefix_scan_equals_a_filtered_walk(
        ids in prop::collection::vec(word().prop_filter("node IDs are non-empty", |w| !w.is_empty()), 0..20),
        prefix in word(),
        token in prop::option::of(word()),
        reverse in any::<bool>(),
    ) {
        let mut st = State::default();
        for (i, id) in ids.iter().enumerate() {
            st.apply(i as u64 + 1, &node_register(&node(id)));
        }
        let start = token.clone().map(SortKey::Id);
        let got: Vec<String> = st.nodes(&mut WatchSet::new(), &prefix, start.as_ref(), reverse).map(|n| n.id.clone()).collect();
        prop_assert_eq!(got, expected(ids, &prefix, token.as_deref(), reverse));
    }

    #[test]
    fn job_prefix_scan_in_one_namespace_equals_a_filtered_walk(
        jobs in prop::collection::vec((prop::sample::select(vec!["a", "ab", "b"]), word().prop_filter("job IDs are non-empty", |w| !w.is_empty())), 0..20),
        ns in prop::sample::select(vec!["a", "ab", "b", "c"]),
        prefix in word(),
        token in prop::option::of((prop::sample::select(vec!["a", "ab", "b", "c"]), word())),
        reverse in any::<bool>(),
    ) {
        let mut st = State::default();
        let namespaces = ["a", "ab", "b"].map(|n| Namespace { name: n.into(), ..Namespace::default() });
        st.apply(1, &Command::NamespaceUpsert(NamespaceUpsert { namespaces: namespaces.to_vec(), now: T0 }));
        for (i, (n, id)) in jobs.iter().enumerate() {
            let cmd = Command::JobRegister(JobRegister { job: job(n, id, &[("g", 1)]), eval: None, enforce_index: None, now: T0 });
            st.apply(i as u64 + 2, &cmd);
        }
        let start = token.clone().map(|(n, i)| SortKey::NamespaceId(n.to_string(), i));
        let got: Vec<(String, String)> = st
            .jobs(&mut WatchSet::new(), NamespaceSel::One(ns), &prefix, start.as_ref(), reverse)
            .map(|j| (j.namespace.clone(), j.id.clone()))
            .collect();
        let mut want: Vec<(String, String)> = jobs.iter().map(|(n, i)| (n.to_string(), i.clone())).collect();
        want.sort();
        want.dedup();
        want.retain(|(n, i)| n == ns && i.starts_with(&prefix));
        if let Some((tn, ti)) = &token {
            let t = (tn.to_string(), ti.clone());
            want.retain(|k| if reverse { *k <= t } else { *k >= t });
        }
        if reverse {
            want.reverse();
        }
        prop_assert_eq!(got, want);
    }
}

#[test]
fn allocation_and_eval_prefixes_stop_at_the_end_of_their_range() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 5)]);
    h.ok(register(&j, Some(eval("e-1", &j, EvalStatus::Pending))));
    h.ok(Command::EvalUpdate(EvalUpdate {
        evals: vec![
            eval("e-2", &j, EvalStatus::Pending),
            eval("f-1", &j, EvalStatus::Pending),
        ],
        now: T0,
    }));
    let ids = ["ab1", "ab2", "ac1", "b1", "aa9"];
    h.ok(plan(
        &j,
        ids.iter()
            .map(|id| alloc(id, &j, "g", "n1", "e-1"))
            .collect(),
        vec![],
    ));
    let allocs = |prefix: &str, reverse: bool| -> Vec<String> {
        h.state
            .allocs_by_prefix(&mut WatchSet::new(), prefix, None, reverse)
            .map(|r| r.alloc.id.clone())
            .collect()
    };
    assert_eq!(allocs("ab", false), ["ab1", "ab2"]);
    assert_eq!(allocs("ab", true), ["ab2", "ab1"]);
    assert_eq!(allocs("a", false), ["aa9", "ab1", "ab2", "ac1"]);
    assert_eq!(allocs("", true), ["b1", "ac1", "ab2", "ab1", "aa9"]);
    assert!(allocs("z", false).is_empty());
    let evals: Vec<String> = h
        .state
        .evals_by_prefix(&mut WatchSet::new(), "e-", None, false)
        .map(|e| e.id.clone())
        .collect();
    assert_eq!(evals, ["e-1", "e-2"]);
}
