//! `Command::StateRestore`: a saved snapshot replaces the state at one
//! index on every server (Nomad's operator snapshot restore).

mod common;

use common::*;
use drover_api::EvalStatus;
use drover_state::command::{Command, StateRestore};
use drover_state::{ApplyError, EventRetention, State, WatchKey, WatchSet};

fn restore(snapshot: Vec<u8>) -> Command {
    Command::StateRestore(StateRestore { snapshot, now: T0 })
}

fn job_ids(st: &State) -> Vec<String> {
    st.jobs(
        &mut WatchSet::new(),
        drover_state::NamespaceSel::All,
        "",
        None,
        false,
    )
    .map(|j| j.id.clone())
    .collect()
}

#[test]
fn a_restore_replaces_the_tables_and_every_read_reports_its_index() {
    let mut h = Harness::new();
    let web = job("default", "web", &[("g", 1)]);
    h.ok(register(&web, Some(eval("e1", &web, EvalStatus::Pending))));
    let saved = h.state.snapshot().unwrap();
    let db = job("default", "db", &[("g", 1)]);
    h.ok(register(&db, Some(eval("e2", &db, EvalStatus::Pending))));
    let events_before = h.state.events().len();
    assert_eq!(job_ids(&h.state), ["db", "web"]);

    let applied = h.ok(restore(saved));
    assert!(applied.everything);
    assert_eq!(job_ids(&h.state), ["web"]);
    // Every read, of what is there and of what went, reports the restore's
    // index, so a blocking query parked before it wakes and reads again.
    let db_key = WatchKey::job("default", "db");
    let web_key = WatchKey::job("default", "web");
    assert_eq!(h.state.index_of(&db_key), applied.index);
    assert_eq!(h.state.index_of(&web_key), applied.index);
    // The event log is this cluster's history: kept, nothing added.
    assert_eq!(h.state.events().len(), events_before);

    // A snapshot taken after the restore keeps that floor.
    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(back.index_of(&db_key), applied.index);
    assert_eq!(back, h.state);

    // Writes go on from the restored state.
    h.ok(register(&db, None));
    assert_eq!(job_ids(&h.state), ["db", "web"]);
}

#[test]
fn a_snapshot_that_does_not_decode_changes_nothing() {
    let mut h = Harness::new();
    let web = job("default", "web", &[("g", 1)]);
    h.ok(register(&web, None));
    let before = h.state.snapshot().unwrap();
    let applied = h.apply(restore(b"not a snapshot".to_vec()));
    assert!(
        matches!(&applied.result, Err(ApplyError::Invalid(m)) if m.contains("does not restore")),
        "{:?}",
        applied.result
    );
    assert!(!applied.everything);
    assert_eq!(job_ids(&h.state), ["web"]);
    assert_eq!(h.state.restored_at(), 0);
    // Only the applied index moved.
    let mut after = h.state.clone();
    let again = State::restore(&before, EventRetention::default()).unwrap();
    after.advance_to(0);
    assert_eq!(
        after.index_of(&WatchKey::job("default", "web")),
        again.index_of(&WatchKey::job("default", "web"))
    );
}

#[test]
fn a_restore_survives_the_log_encoding() {
    let mut h = Harness::new();
    let saved = h.state.snapshot().unwrap();
    let size = saved.len();
    let cmd = restore(saved);
    let bytes = rmp_serde::to_vec_named(&cmd).unwrap();
    // A binary, not an array of integers: the snapshot's own size plus a
    // few bytes of framing.
    assert!(bytes.len() < size + 64, "{} bytes for {size}", bytes.len());
    let back: Command = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, cmd);
    h.ok(back);
}
