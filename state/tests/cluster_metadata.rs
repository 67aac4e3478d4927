//! `Command::ClusterMetadata`: the cluster's ID is written once, kept by
//! snapshots and by an operator restore, and never replaced.

mod common;

use common::*;
use drover_state::command::{ClusterMetadata, Command, StateRestore};
use drover_state::{ApplyError, EventRetention, State};

fn meta(id: &str) -> Command {
    Command::ClusterMetadata(ClusterMetadata {
        cluster_id: id.into(),
        create_time: T0,
    })
}

#[test]
fn the_first_cluster_id_stays() {
    let mut h = Harness::new();
    assert_eq!(h.state.cluster(), None);
    h.ok(meta("a"));
    // The same ID again (a second leader that had not applied the first
    // write yet) changes nothing; another is refused.
    h.ok(meta("a"));
    let refused = h.apply(meta("b")).result;
    assert!(
        matches!(&refused, Err(ApplyError::Invalid(m)) if m.contains("already a")),
        "{refused:?}"
    );
    assert!(h.apply(Command::Batch(vec![meta("b")])).batch[0].is_err());
    assert_eq!(h.state.cluster().map(|c| c.cluster_id.as_str()), Some("a"));
}

#[test]
fn an_empty_cluster_id_is_refused() {
    let mut h = Harness::new();
    assert!(h.apply(meta("")).result.is_err());
    assert_eq!(h.state.cluster(), None);
}

#[test]
fn snapshots_and_restores_keep_the_cluster_id() {
    let mut h = Harness::new();
    let other = State::default().snapshot().unwrap();
    h.ok(meta("a"));
    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(back, h.state);
    assert_eq!(back.cluster().map(|c| c.cluster_id.as_str()), Some("a"));
    // A snapshot saved by another cluster (or before the ID) replaces the
    // tables, not this cluster's ID.
    h.ok(Command::StateRestore(StateRestore {
        snapshot: other,
        now: T0,
    }));
    assert_eq!(h.state.cluster().map(|c| c.cluster_id.as_str()), Some("a"));
}
