//! `Command::SchedulerConfigSet`: the scheduler configuration is one row,
//! written whole, with Nomad's check-and-set; snapshots keep it and an
//! operator restore replaces it with the snapshot's.

mod common;

use common::*;
use drover_api::{PreemptionConfig, SchedulerConfiguration};
use drover_state::command::{Command, SchedulerConfigSet, SetCondition, StateRestore};
use drover_state::{ApplyError, EventRetention, State};

fn set(algorithm: &str, condition: SetCondition) -> Command {
    Command::SchedulerConfigSet(SchedulerConfigSet {
        config: SchedulerConfiguration {
            scheduler_algorithm: algorithm.into(),
            // Indexes the writer sends are not trusted.
            create_index: 999,
            modify_index: 999,
            ..SchedulerConfiguration::default()
        },
        condition,
        now: T0,
    })
}

fn stored(h: &Harness) -> (String, u64, u64) {
    let c = h
        .state
        .scheduler_config()
        .expect("a configuration is stored");
    (
        c.scheduler_algorithm.clone(),
        c.create_index,
        c.modify_index,
    )
}

#[test]
fn writes_keep_the_create_index_and_stamp_the_modify_index() {
    let mut h = Harness::new();
    assert!(h.state.scheduler_config().is_none());
    h.ok(set("binpack", SetCondition::Always));
    assert_eq!(stored(&h), ("binpack".into(), 1, 1));
    let applied = h.ok(set("spread", SetCondition::Always));
    assert_eq!(stored(&h), ("spread".into(), 1, 2));
    assert!(applied.touched.is_empty() && applied.events == 0);
}

#[test]
fn check_and_set_writes_only_over_the_index_it_names() {
    let mut h = Harness::new();
    // Nothing stored: no index matches, as Nomad's SchedulerCASConfig.
    let refused = h.apply(set("spread", SetCondition::ModifyIndex(0))).result;
    assert_eq!(
        refused,
        Err(ApplyError::SchedulerConfigCondition {
            condition: SetCondition::ModifyIndex(0),
            stored: None
        })
    );
    assert!(h.state.scheduler_config().is_none());
    h.ok(set("binpack", SetCondition::Always)); // index 2
    assert!(h
        .apply(set("spread", SetCondition::ModifyIndex(1)))
        .result
        .is_err());
    assert_eq!(stored(&h), ("binpack".into(), 2, 2));
    h.ok(set("spread", SetCondition::ModifyIndex(2)));
    assert_eq!(stored(&h), ("spread".into(), 2, 4));
}

#[test]
fn the_default_is_written_only_when_none_is_stored() {
    let mut h = Harness::new();
    h.ok(set("spread", SetCondition::Always));
    let refused = h.apply(set("binpack", SetCondition::Absent)).result;
    assert!(
        matches!(
            refused,
            Err(ApplyError::SchedulerConfigCondition {
                stored: Some(1),
                ..
            })
        ),
        "{refused:?}"
    );
    assert_eq!(stored(&h).0, "spread");

    let mut fresh = Harness::new();
    fresh.ok(set("binpack", SetCondition::Absent));
    assert_eq!(stored(&fresh), ("binpack".into(), 1, 1));
}

#[test]
fn snapshots_keep_it_and_a_restore_replaces_it() {
    let mut h = Harness::new();
    let before = h.state.snapshot().unwrap();
    let config = SchedulerConfiguration {
        scheduler_algorithm: "spread".into(),
        preemption_config: PreemptionConfig {
            batch_scheduler_enabled: true,
            ..PreemptionConfig::default()
        },
        reject_job_registration: true,
        pause_eval_broker: true,
        memory_oversubscription_enabled: true,
        ..SchedulerConfiguration::default()
    };
    h.ok(Command::SchedulerConfigSet(SchedulerConfigSet {
        config: config.clone(),
        condition: SetCondition::Always,
        now: T0,
    }));
    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(back, h.state);
    let kept = back.scheduler_config().unwrap();
    assert_eq!(
        kept,
        &SchedulerConfiguration {
            create_index: 1,
            modify_index: 1,
            ..config
        }
    );
    // The snapshot's configuration (here: none yet) replaces the current
    // one, as Nomad's restore replaces its scheduler_config table.
    h.ok(Command::StateRestore(StateRestore {
        snapshot: before,
        now: T0,
    }));
    assert!(h.state.scheduler_config().is_none());
}
