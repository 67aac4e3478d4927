//! The periodic launch table (Nomad's `periodic_launch`, kept by
//! nomad/fsm.go `applyUpsertJob`): a new periodic job records its submit
//! time, each periodic child its launch, forward only; a purge forgets it;
//! snapshots carry it.

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{Command, EventRetention, State};

fn periodic(id: &str) -> Job {
    let mut j = job("default", id, &[("g", 1)]);
    j.job_type = JobType::Batch;
    j.periodic = Some(PeriodicConfig {
        spec: "* * * * * * *".into(),
        ..Default::default()
    });
    j
}

fn child(parent: &str, secs: i64) -> Job {
    let mut c = job("default", &format!("{parent}/periodic-{secs}"), &[("g", 1)]);
    c.parent_id = parent.into();
    c
}

fn launch(h: &Harness, id: &str) -> Option<i64> {
    h.state.periodic_launch("default", id).map(|l| l.launch)
}

#[test]
fn launches_are_recorded_from_child_ids() {
    let mut h = Harness::new();
    h.ok(register(&periodic("cron"), None));
    assert_eq!(launch(&h, "cron"), Some(T0));
    // Registering the parent again keeps its record.
    let mut again = periodic("cron");
    again.meta.insert("v".into(), "2".into());
    h.ok(register(&again, None));
    assert_eq!(launch(&h, "cron"), Some(T0));

    let later = T0 / 1_000_000_000 + 10;
    h.ok(register(&child("cron", later), None));
    assert_eq!(launch(&h, "cron"), Some(later * 1_000_000_000));
    // An earlier launch (a forced one) does not move it back.
    h.ok(register(&child("cron", later - 5), None));
    assert_eq!(launch(&h, "cron"), Some(later * 1_000_000_000));
    // Not a periodic child: a plain job, a dispatched child.
    let mut other = job("default", "cron/dispatch-1-abcd0123", &[("g", 1)]);
    other.parent_id = "cron".into();
    h.ok(register(&other, None));
    assert_eq!(launch(&h, "cron"), Some(later * 1_000_000_000));
    h.ok(register(&job("default", "plain", &[("g", 1)]), None));
    assert_eq!(launch(&h, "plain"), None);
    assert_eq!(
        h.state
            .periodic_jobs()
            .iter()
            .map(|j| j.id.as_str())
            .collect::<Vec<_>>(),
        ["cron"]
    );

    // Snapshots carry the table.
    let bytes = h.state.snapshot().unwrap();
    let restored = State::restore(&bytes, EventRetention::default()).unwrap();
    assert!(restored.differences(&h.state).is_empty());
    assert_eq!(
        restored
            .periodic_launch("default", "cron")
            .map(|l| l.launch),
        Some(later * 1_000_000_000)
    );

    // A purge forgets it.
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "cron".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    assert_eq!(launch(&h, "cron"), None);
    assert!(h.state.periodic_jobs().is_empty());
}

fn periodic_ids(st: &State) -> Vec<&str> {
    st.periodic_jobs().iter().map(|j| j.id.as_str()).collect()
}

/// The dispatcher's list comes from an index of periodic jobs: it follows
/// registers that add or drop the `periodic` block, stops, purges and a
/// restore.
#[test]
fn the_periodic_list_follows_every_change_to_a_job() {
    let mut h = Harness::new();
    h.ok(register(&periodic("a"), None));
    h.ok(register(&job("default", "b", &[("g", 1)]), None));
    h.ok(register(&periodic("c"), None));
    assert_eq!(periodic_ids(&h.state), ["a", "c"]);

    // A new version without the block leaves the list; with it, it joins.
    h.ok(register(&job("default", "a", &[("g", 1)]), None));
    h.ok(register(&periodic("b"), None));
    assert_eq!(periodic_ids(&h.state), ["b", "c"]);

    // A stopped job stays indexed but is not active.
    let mut stopped = periodic("c");
    stopped.stop = true;
    h.ok(register(&stopped, None));
    assert_eq!(periodic_ids(&h.state), ["b"]);

    let bytes = h.state.snapshot().unwrap();
    let restored = State::restore(&bytes, EventRetention::default()).unwrap();
    assert_eq!(periodic_ids(&restored), ["b"]);
    assert!(restored.differences(&h.state).is_empty());

    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "b".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    assert!(periodic_ids(&h.state).is_empty());
}
