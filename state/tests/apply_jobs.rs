//! `State::apply` for jobs, versions, summaries, job status and evaluations,
//! checked against what Nomad's state store does (nomad/state/state_store.go).

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{ApplyError, Command, Table, WatchKey, WatchSet};

fn ws() -> WatchSet {
    WatchSet::new()
}

#[test]
fn job_register_stamps_indexes_and_creates_summary_and_eval() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("api", 3), ("db", 1)]);
    let applied = h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    let st = &h.state;
    let stored = st.job(&mut ws(), "default", "web").expect("job stored");
    assert_eq!(
        (
            stored.create_index,
            stored.modify_index,
            stored.job_modify_index
        ),
        (1, 1, 1)
    );
    assert_eq!(stored.version, 0);
    // A pending eval and no allocations: pending (Nomad getJobStatus).
    assert_eq!(stored.status, JobStatus::Pending);
    let s = st
        .job_summary(&mut ws(), "default", "web")
        .expect("summary");
    assert_eq!(s.summary.keys().collect::<Vec<_>>(), ["api", "db"]);
    assert_eq!(s.summary["api"], TaskGroupSummary::default());
    let e = st.eval(&mut ws(), "e1").expect("eval stored");
    assert_eq!(
        e.job_modify_index, 1,
        "the eval acts on the version just registered"
    );
    assert_eq!((e.create_index, e.modify_index), (1, 1));
    assert_eq!(st.table_index(Table::Jobs), 1);
    assert_eq!(st.table_index(Table::Evals), 1);
    assert!(applied.touched.contains(&WatchKey::job("default", "web")));
    assert!(applied.touched.contains(&WatchKey::Table(Table::Evals)));
}

#[test]
fn job_reregister_bumps_version_keeps_create_index_and_adds_groups() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("api", 1)]);
    h.ok(register(&j, None));
    let j2 = job("default", "web", &[("api", 2), ("cache", 1)]);
    h.ok(register(&j2, None));
    let stored = h.state.job(&mut ws(), "default", "web").unwrap();
    assert_eq!(
        (
            stored.create_index,
            stored.modify_index,
            stored.job_modify_index,
            stored.version
        ),
        (1, 2, 2, 1)
    );
    let s = h.state.job_summary(&mut ws(), "default", "web").unwrap();
    assert!(s.summary.contains_key("cache"));
    let versions = h.state.job_versions(&mut ws(), "default", "web");
    assert_eq!(
        versions.iter().map(|j| j.version).collect::<Vec<_>>(),
        [1, 0],
        "newest first"
    );
}

#[test]
fn job_register_enforce_index_is_check_and_set() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("api", 1)]);
    let cas = |idx| {
        Command::JobRegister(JobRegister {
            job: j.clone(),
            eval: None,
            enforce_index: Some(idx),
            now: T0,
        })
    };
    // 0 means "must not exist".
    h.ok(cas(0));
    let rejected = h.apply(cas(0));
    assert_eq!(
        rejected.result,
        Err(ApplyError::JobModifyIndexConflict {
            job_id: "web".into(),
            expected: 0,
            actual: 1
        })
    );
    assert!(
        rejected.touched.is_empty(),
        "a rejected command changes nothing"
    );
    assert_eq!(rejected.events, 0);
    h.ok(cas(1));
    assert_eq!(h.state.job(&mut ws(), "default", "web").unwrap().version, 1);
}

#[test]
fn only_six_versions_are_tracked_but_a_running_version_is_kept() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("api", 1)]);
    h.ok(register(&j, None));
    // An allocation runs version 0.
    h.ok(plan(&j, vec![alloc("a1", &j, "api", "n1", "e1")], vec![]));
    for _ in 0..9 {
        h.ok(register(&j, None));
    }
    let tracked: Vec<u64> = h
        .state
        .job_versions(&mut ws(), "default", "web")
        .iter()
        .map(|j| j.version)
        .collect();
    assert_eq!(tracked, [9, 8, 7, 6, 5, 4]);
    let row = h.state.alloc(&mut ws(), "a1").unwrap();
    let full = h.state.alloc_with_job(row);
    assert_eq!(
        full.job.map(|j| j.version),
        Some(0),
        "version 0 is kept while a1 runs it"
    );
    assert!(
        h.state.job_version("default", "web", 1).is_none(),
        "untracked, unreferenced versions go"
    );
}

#[test]
fn a_purged_and_reregistered_job_does_not_mix_up_versions() {
    let mut h = Harness::new();
    let mut old = job("default", "web", &[("g", 1)]);
    old.meta.insert("incarnation".into(), "old".into());
    h.ok(register(&old, None));
    h.ok(plan(
        &old,
        vec![alloc("a-old", &old, "g", "n1", "e1")],
        vec![],
    ));
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    let mut new = job("default", "web", &[("g", 1)]);
    new.meta.insert("incarnation".into(), "new".into());
    h.ok(register(&new, None));
    h.ok(plan(
        &new,
        vec![alloc("a-new", &new, "g", "n1", "e2")],
        vec![],
    ));
    let meta = |id: &str| {
        let row = h.state.alloc(&mut ws(), id).unwrap();
        h.state
            .alloc_with_job(row)
            .job
            .map(|j| j.meta["incarnation"].clone())
    };
    assert_eq!(
        meta("a-old").as_deref(),
        Some("old"),
        "the old allocation keeps its own version 0"
    );
    assert_eq!(meta("a-new").as_deref(), Some("new"));
    let versions = h.state.job_versions(&mut ws(), "default", "web");
    assert_eq!(
        versions.len(),
        1,
        "only the live incarnation's versions are listed"
    );
    assert_eq!(versions[0].meta["incarnation"], "new");
    assert_eq!(
        h.state.job_version("default", "web", 0).unwrap().meta["incarnation"],
        "new"
    );
    // Collecting the old allocation unpins its version; derived indexes
    // still equal a rebuild (restore compares them).
    h.ok(Command::EvalDelete(EvalDelete {
        evals: vec![],
        allocs: vec!["a-old".into()],
        user_initiated: false,
        now: T0,
    }));
    let bytes = h.state.snapshot().unwrap();
    let restored = drover_state::State::restore(&bytes, Default::default()).unwrap();
    assert_eq!(restored, h.state);
}

#[test]
fn job_stop_is_a_new_version_and_purge_deletes_job_summary_and_versions() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("api", 1)]);
    h.ok(register(&j, None));
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: false,
        no_shutdown_delay: false,
        eval: None,
        now: T0 + 5,
    }));
    let stopped = h.state.job(&mut ws(), "default", "web").unwrap();
    assert!(stopped.stop);
    assert_eq!((stopped.version, stopped.submit_time), (1, T0 + 5));
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0 + 6,
    }));
    assert!(h.state.job(&mut ws(), "default", "web").is_none());
    assert!(h.state.job_summary(&mut ws(), "default", "web").is_none());
    assert!(h.state.job_versions(&mut ws(), "default", "web").is_empty());
    let missing = h.apply(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    assert!(matches!(missing.result, Err(ApplyError::UnknownJob { .. })));
}

#[test]
fn summary_moves_allocs_between_bins_as_nomad_does() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("api", 2)]);
    let mut e = eval("e1", &j, EvalStatus::Complete);
    e.queued_allocations.insert("api".into(), 2);
    h.ok(register(&j, Some(e)));
    let tg = |h: &Harness| {
        h.state
            .job_summary(&mut ws(), "default", "web")
            .unwrap()
            .summary["api"]
    };
    assert_eq!(tg(&h).queued, 2);
    h.ok(plan(
        &j,
        vec![
            alloc("a1", &j, "api", "n1", "e1"),
            alloc("a2", &j, "api", "n1", "e1"),
        ],
        vec![],
    ));
    assert_eq!((tg(&h).queued, tg(&h).starting), (0, 2));
    h.ok(client_update("a1", AllocClientStatus::Running));
    h.ok(client_update("a2", AllocClientStatus::Failed));
    assert_eq!((tg(&h).starting, tg(&h).running, tg(&h).failed), (0, 1, 1));
    h.ok(client_update("a1", AllocClientStatus::Complete));
    assert_eq!((tg(&h).running, tg(&h).complete), (0, 1));
}

#[test]
fn job_status_follows_allocs_and_evals() {
    let mut h = Harness::new();
    let mut j = job("default", "batch", &[("g", 1)]);
    j.job_type = JobType::Batch;
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    let status = |h: &Harness| h.state.job(&mut ws(), "default", "batch").unwrap().status;
    assert_eq!(status(&h), JobStatus::Pending);
    h.ok(plan(
        &j,
        vec![alloc("a1", &j, "g", "n1", "e1")],
        vec![eval("e1", &j, EvalStatus::Complete)],
    ));
    assert_eq!(
        status(&h),
        JobStatus::Running,
        "a live allocation makes the job running"
    );
    let applied = h.ok(client_update("a1", AllocClientStatus::Complete));
    assert_eq!(status(&h), JobStatus::Dead, "everything terminal: dead");
    assert!(
        applied.touched.contains(&WatchKey::job("default", "batch")),
        "the status change touches the job"
    );
    let job = h.state.job(&mut ws(), "default", "batch").unwrap();
    assert_eq!(job.modify_index, applied.index);
    assert_eq!(
        job.job_modify_index, 1,
        "a status change is not a spec change"
    );
}

#[test]
fn system_jobs_run_until_stopped() {
    let mut h = Harness::new();
    let mut j = job("default", "sys", &[("g", 1)]);
    j.job_type = JobType::System;
    h.ok(register(&j, None));
    assert_eq!(
        h.state.job(&mut ws(), "default", "sys").unwrap().status,
        JobStatus::Running
    );
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "sys".into(),
        purge: false,
        no_shutdown_delay: false,
        eval: None,
        now: T0,
    }));
    assert_eq!(
        h.state.job(&mut ws(), "default", "sys").unwrap().status,
        JobStatus::Dead
    );
}

#[test]
fn deleting_evals_of_a_job_without_allocs_makes_it_dead() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Complete))));
    assert_eq!(
        h.state.job(&mut ws(), "default", "web").unwrap().status,
        JobStatus::Dead
    );
    let j2 = job("default", "web2", &[("g", 1)]);
    h.ok(register(&j2, Some(eval("e2", &j2, EvalStatus::Pending))));
    h.ok(Command::EvalDelete(EvalDelete {
        evals: vec!["e2".into()],
        allocs: vec![],
        user_initiated: false,
        now: T0,
    }));
    assert_eq!(
        h.state.job(&mut ws(), "default", "web2").unwrap().status,
        JobStatus::Dead
    );
}

#[test]
fn a_successful_eval_cancels_the_jobs_blocked_evals() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("blocked", &j, EvalStatus::Blocked))));
    let mut done = eval("e2", &j, EvalStatus::Complete);
    done.modify_time = T0 + 9;
    h.ok(Command::EvalUpdate(EvalUpdate {
        evals: vec![done],
        now: T0,
    }));
    let b = h.state.eval(&mut ws(), "blocked").unwrap();
    assert_eq!(b.status, EvalStatus::Canceled);
    assert_eq!(b.status_description, "evaluation \"e2\" successful");
    assert_eq!((b.modify_index, b.modify_time), (2, T0 + 9));
}

#[test]
fn child_jobs_count_in_their_parents_summary() {
    let mut h = Harness::new();
    let mut parent = job("default", "cron", &[("g", 1)]);
    parent.periodic = Some(PeriodicConfig {
        spec: "*/5 * * * *".into(),
        ..Default::default()
    });
    h.ok(register(&parent, None));
    assert_eq!(
        h.state.job(&mut ws(), "default", "cron").unwrap().status,
        JobStatus::Running
    );
    let mut child = job("default", "cron/periodic-1", &[("g", 1)]);
    child.parent_id = "cron".into();
    child.job_type = JobType::Batch;
    h.ok(register(
        &child,
        Some(eval("ce", &child, EvalStatus::Pending)),
    ));
    let children = |h: &Harness| {
        h.state
            .job_summary(&mut ws(), "default", "cron")
            .unwrap()
            .children
            .unwrap()
    };
    assert_eq!(
        children(&h),
        JobChildrenSummary {
            pending: 1,
            running: 0,
            dead: 0
        }
    );
    h.ok(plan(
        &child,
        vec![alloc("c1", &child, "g", "n1", "ce")],
        vec![eval("ce", &child, EvalStatus::Complete)],
    ));
    assert_eq!(
        children(&h),
        JobChildrenSummary {
            pending: 0,
            running: 1,
            dead: 0
        }
    );
    h.ok(client_update("c1", AllocClientStatus::Complete));
    assert_eq!(
        children(&h),
        JobChildrenSummary {
            pending: 0,
            running: 0,
            dead: 1
        }
    );
}

/// Nomad's `handleJobDeregister` with `NoShutdownDelay`: the job's
/// allocations get the desired transition in the stop's own entry.
#[test]
fn a_stop_without_shutdown_delay_marks_the_jobs_allocations() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 2)]);
    h.ok(register(&j, None));
    h.ok(plan(
        &j,
        vec![
            alloc("a1", &j, "g", "n1", "e1"),
            alloc("a2", &j, "g", "n1", "e1"),
        ],
        vec![],
    ));
    let applied = h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: false,
        no_shutdown_delay: true,
        eval: None,
        now: T0,
    }));
    for id in ["a1", "a2"] {
        let row = h.state.alloc(&mut ws(), id).unwrap();
        assert_eq!(row.alloc.desired_transition.no_shutdown_delay, Some(true));
        assert_eq!(row.alloc.modify_index, applied.index);
    }
    assert!(h.state.job(&mut ws(), "default", "web").unwrap().stop);
}

/// Nomad's `DeleteEval` with `userInitiated`: refused while the eval
/// broker runs, applied once the scheduler configuration pauses it.
#[test]
fn an_operators_eval_delete_needs_the_broker_paused() {
    let mut h = Harness::new();
    let j = job("default", "web", &[("g", 1)]);
    h.ok(register(&j, Some(eval("e1", &j, EvalStatus::Pending))));
    let delete = || {
        Command::EvalDelete(EvalDelete {
            evals: vec!["e1".into()],
            allocs: vec![],
            user_initiated: true,
            now: T0,
        })
    };
    let refused = h.apply(delete());
    assert_eq!(refused.result, Err(ApplyError::EvalBrokerEnabled));
    assert!(h.state.eval(&mut ws(), "e1").is_some());
    h.ok(Command::SchedulerConfigSet(SchedulerConfigSet {
        config: SchedulerConfiguration {
            pause_eval_broker: true,
            ..SchedulerConfiguration::default()
        },
        condition: SetCondition::Always,
        now: T0,
    }));
    h.ok(delete());
    assert!(h.state.eval(&mut ws(), "e1").is_none());
}
