//! Namespaces: `NamespaceUpsert` and `NamespaceDelete` as Nomad's state
//! store applies them (nomad/state/state_store.go `UpsertNamespaces`,
//! `DeleteNamespaces`), jobs only in namespaces that exist, and the table
//! in snapshots.

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{ApplyError, Command, EventRetention, State, Table, WatchKey, WatchSet};

fn upsert(names: &[&str]) -> Command {
    Command::NamespaceUpsert(NamespaceUpsert {
        namespaces: names
            .iter()
            .map(|n| Namespace {
                name: n.to_string(),
                description: format!("the {n} team"),
                ..Namespace::default()
            })
            .collect(),
        now: T0,
    })
}

fn delete(names: &[&str]) -> Command {
    Command::NamespaceDelete(NamespaceDelete {
        names: names.iter().map(|n| n.to_string()).collect(),
        now: T0,
    })
}

fn names(st: &State) -> Vec<String> {
    st.namespaces(&mut WatchSet::new(), "")
        .map(|n| n.name.clone())
        .collect()
}

#[track_caller]
fn refused(h: &mut Harness, cmd: Command, message: &str) {
    let before = h.state.clone();
    let applied = h.apply(cmd);
    assert_eq!(
        applied.result,
        Err(ApplyError::Namespace(message.to_string()))
    );
    assert!(
        h.state
            .differences(&before)
            .iter()
            .all(|d| *d == "last_index"),
        "a refused write changed {:?}",
        h.state.differences(&before)
    );
}

#[test]
fn a_fresh_state_has_the_default_namespace_at_index_1() {
    let st = State::default();
    assert_eq!(names(&st), ["default"]);
    let d = st.namespace(&mut WatchSet::new(), "default").unwrap();
    assert_eq!(d, &Namespace::default_namespace());
    assert_eq!((d.create_index, d.modify_index), (1, 1));
}

#[test]
fn upsert_stamps_indexes_and_keeps_the_create_index() {
    let mut h = Harness::new();
    let applied = h.ok(upsert(&["b", "a"]));
    assert_eq!(applied.touched, [WatchKey::Table(Table::Namespaces)]);
    assert_eq!(applied.events, 0, "Nomad has no namespace topic");
    assert_eq!(names(&h.state), ["a", "b", "default"]);
    assert_eq!(h.state.table_index(Table::Namespaces), 1);
    h.ok(upsert(&["a"]));
    let a = h.state.namespace(&mut WatchSet::new(), "a").unwrap();
    assert_eq!((a.create_index, a.modify_index), (1, 2));
    assert_eq!(a.description, "the a team");
    let prefixed: Vec<_> = h
        .state
        .namespaces(&mut WatchSet::new(), "d")
        .map(|n| n.name.clone())
        .collect();
    assert_eq!(prefixed, ["default"]);
    // The default namespace may be changed.
    h.ok(upsert(&["default"]));
    let d = h.state.namespace(&mut WatchSet::new(), "default").unwrap();
    assert_eq!((d.create_index, d.modify_index), (1, 3));
}

#[test]
fn invalid_namespaces_are_refused_whole() {
    let mut h = Harness::new();
    refused(
        &mut h,
        upsert(&["ok", "a.b"]),
        "Invalid namespace \"a.b\": invalid name \"a.b\". Must match regex ^[a-zA-Z0-9-]{1,128}$",
    );
    refused(&mut h, upsert(&[]), "must specify at least one namespace");
    let mut quota = upsert(&["q"]);
    if let Command::NamespaceUpsert(c) = &mut quota {
        c.namespaces[0].quota = "small".into();
    }
    refused(
        &mut h,
        quota,
        "Invalid namespace \"q\": namespace \"q\" using non-existent quota \"small\"",
    );
}

#[test]
fn jobs_live_only_in_namespaces_that_exist() {
    let mut h = Harness::new();
    let j = job("team", "web", &[("g", 1)]);
    refused(
        &mut h,
        register(&j, None),
        "job \"web\" is in nonexistent namespace \"team\"",
    );
    h.ok(upsert(&["team"]));
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    assert!(h.state.job(&mut WatchSet::new(), "team", "web").is_some());
    assert!(h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .is_none());
}

#[test]
fn delete_refuses_default_missing_and_namespaces_with_live_jobs() {
    let mut h = Harness::new();
    h.ok(upsert(&["team", "empty"]));
    refused(
        &mut h,
        delete(&["default"]),
        "default namespace can not be deleted",
    );
    refused(&mut h, delete(&["nope"]), "namespace not found");
    refused(
        &mut h,
        delete(&[]),
        "must specify at least one namespace to delete",
    );
    let j = job("team", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    // One refusal refuses the whole delete.
    refused(
        &mut h,
        delete(&["empty", "team"]),
        "namespace \"team\" contains at least one non-terminal job \"web\". \
         All jobs must be terminal in namespace before it can be deleted",
    );
    // A stopped job with nothing left running is dead: the namespace goes.
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "team".into(),
        job_id: "web".into(),
        purge: false,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    h.ok(Command::EvalUpdate(EvalUpdate {
        evals: vec![eval("e1", &j, EvalStatus::Complete)],
        now: T0,
    }));
    let web = h.state.job(&mut WatchSet::new(), "team", "web").unwrap();
    assert_eq!(web.status, JobStatus::Dead);
    let applied = h.ok(delete(&["empty", "team"]));
    assert_eq!(applied.touched, [WatchKey::Table(Table::Namespaces)]);
    assert_eq!(names(&h.state), ["default"]);
    assert_eq!(h.state.table_index(Table::Namespaces), h.index);
}

#[test]
fn namespaces_survive_a_snapshot_round_trip() {
    let mut h = Harness::new();
    h.ok(upsert(&["team"]));
    let j = job("team", "web", &[("g", 1)]);
    h.ok(register(&j, None));
    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert!(back.differences(&h.state).is_empty());
    assert_eq!(names(&back), ["default", "team"]);
}

/// Pages of `namespace=*` walk `team` before `team-a` and see every job
/// once: tokens compare the namespace and the ID as fields, where a
/// whole-string compare would put `team-a.x` before `team.y` (nomad#28211).
#[test]
fn pages_across_namespaces_whose_names_share_a_prefix() {
    use drover_state::pagination::{paginate, PageRequest, SortKey, TokenKind};
    use drover_state::NamespaceSel;

    let mut h = Harness::new();
    h.ok(upsert(&["team", "team-a"]));
    for (ns, id) in [("team-a", "x"), ("team", "y"), ("team", "z")] {
        h.ok(register(&job(ns, id, &[("g", 1)]), None));
    }
    for reverse in [false, true] {
        let mut req = PageRequest {
            per_page: 1,
            next_token: None,
            reverse,
        };
        let mut seen = Vec::new();
        loop {
            let start = req.start_key(TokenKind::NamespaceId).unwrap();
            let jobs = h.state.jobs(
                &mut WatchSet::new(),
                NamespaceSel::All,
                "",
                start.as_ref(),
                reverse,
            );
            let page = paginate(
                jobs,
                TokenKind::NamespaceId,
                &req,
                |j| SortKey::NamespaceId(j.namespace.clone(), j.id.clone()),
                |_| Ok::<_, ()>(true),
            )
            .unwrap();
            seen.extend(
                page.items
                    .iter()
                    .map(|j| format!("{}.{}", j.namespace, j.id)),
            );
            match page.next_token {
                Some(t) => req.next_token = Some(t),
                None => break,
            }
        }
        let mut want = vec!["team.y", "team.z", "team-a.x"];
        if reverse {
            want.reverse();
        }
        assert_eq!(seen, want, "reverse={reverse}");
    }
}
