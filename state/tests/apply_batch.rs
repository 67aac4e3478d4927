//! `Command::Batch`: several commands in one log entry, applied in order at
//! its index, each with its own result.

mod common;

use common::*;
use drover_api::EvalStatus;
use drover_state::command::{Command, NodeDeregister};
use drover_state::{ApplyError, WatchSet};

#[test]
fn a_batch_applies_each_command_at_its_index_with_its_own_result() {
    let mut h = Harness::new();
    let web = job("default", "web", &[("g", 1)]);
    let db = job("default", "db", &[("g", 1)]);
    let batch = Command::Batch(vec![
        register(&web, Some(eval("e1", &web, EvalStatus::Pending))),
        Command::NodeDeregister(NodeDeregister {
            node_ids: vec!["ghost".into()],
            now: 1,
        }),
        register(&db, None),
    ]);
    let applied = h.ok(batch);
    assert_eq!(
        applied.batch,
        vec![Ok(()), Err(ApplyError::UnknownNode("ghost".into())), Ok(())]
    );
    let st = &h.state;
    let mut ws = WatchSet::new();
    for id in ["web", "db"] {
        let j = st.job(&mut ws, "default", id).expect("registered");
        assert_eq!(
            j.modify_index, applied.index,
            "{id} stamped with the entry's index"
        );
    }
    // Events of every accepted command, at the one index.
    assert_eq!(applied.events, 3, "web, its eval, db");
    assert!(st.events().len() >= 3);
}

#[test]
fn a_batch_equals_its_commands_applied_one_entry_each_but_for_indexes() {
    // The same commands, batched and not: the same jobs and evals.
    let web = job("default", "web", &[("g", 2)]);
    let cmds = vec![
        register(&web, Some(eval("e1", &web, EvalStatus::Pending))),
        register(&job("default", "db", &[("g", 1)]), None),
    ];
    let mut one = Harness::new();
    one.ok(Command::Batch(cmds.clone()));
    let mut each = Harness::new();
    for c in cmds {
        each.ok(c);
    }
    let ids = |h: &Harness| {
        let mut ws = WatchSet::new();
        let jobs: Vec<String> = h
            .state
            .jobs(&mut ws, drover_state::NamespaceSel::All, "", None, false)
            .map(|j| j.id.clone())
            .collect();
        let evals: Vec<String> = h
            .state
            .evals(&mut ws, None, false)
            .map(|e| e.id.clone())
            .collect();
        (jobs, evals)
    };
    assert_eq!(ids(&one), ids(&each));
}

#[test]
fn a_batch_inside_a_batch_is_refused_and_changes_nothing() {
    let mut h = Harness::new();
    let web = job("default", "web", &[("g", 1)]);
    let applied = h.ok(Command::Batch(vec![Command::Batch(vec![register(
        &web, None,
    )])]));
    assert!(matches!(applied.batch[..], [Err(ApplyError::Invalid(_))]));
    assert!(h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .is_none());
}
