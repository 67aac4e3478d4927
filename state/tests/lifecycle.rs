//! The job lifecycle's commands: a version's stability, scaling events and
//! registers that keep their source.

mod common;

use common::*;
use drover_api::{JobSubmission, ScalingEvent, JOB_TRACKED_SCALING_EVENTS};
use drover_state::command::{Command, JobRegister, JobStability, JobSubmit, ScalingEventRegister};
use drover_state::{EventRetention, State, WatchKey, WatchSet, TRACKED_JOB_VERSIONS};

fn stability(version: u64, stable: bool) -> Command {
    Command::JobStability(JobStability {
        namespace: "default".into(),
        job_id: "web".into(),
        version,
        stable,
        now: T0,
    })
}

fn submit(job: &drover_api::Job, source: &str) -> Command {
    Command::JobSubmit(JobSubmit {
        register: JobRegister {
            job: job.clone(),
            eval: None,
            enforce_index: None,
            now: T0,
        },
        submission: JobSubmission {
            source: source.into(),
            format: "hcl2".into(),
            ..Default::default()
        },
    })
}

fn scaling(group: &str, message: &str, register: Option<JobRegister>) -> Command {
    Command::ScalingEventRegister(ScalingEventRegister {
        namespace: "default".into(),
        job_id: "web".into(),
        task_group: group.into(),
        event: ScalingEvent {
            time: T0,
            message: message.into(),
            ..Default::default()
        },
        register,
        now: T0,
    })
}

fn versions(st: &State) -> Vec<(u64, bool)> {
    st.job_versions(&mut WatchSet::new(), "default", "web")
        .iter()
        .map(|j| (j.version, j.stable))
        .collect()
}

#[test]
fn stability_marks_the_version_and_the_current_job_without_a_new_version() {
    let mut h = Harness::new();
    let mut web = job("default", "web", &[("g", 1)]);
    h.ok(register(&web, None));
    web.task_groups[0].count = 2;
    h.ok(register(&web, None));
    let before = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .cloned()
        .unwrap();

    // An old version: only its row changes.
    let applied = h.ok(stability(0, true));
    assert_eq!(versions(&h.state), [(1, false), (0, true)]);
    let job = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .cloned()
        .unwrap();
    assert_eq!(job, before);
    assert!(applied
        .touched
        .contains(&WatchKey::job_versions("default", "web")));

    // The current version: the job too, same version and JobModifyIndex.
    // No event, as in Nomad.
    let applied = h.ok(stability(1, true));
    assert_eq!(applied.events, 0);
    let job = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .cloned()
        .unwrap();
    assert!(job.stable);
    assert_eq!(job.version, 1);
    assert_eq!(job.job_modify_index, before.job_modify_index);
    assert_eq!(job.modify_index, applied.index);
    assert_eq!(versions(&h.state), [(1, true), (0, true)]);

    // The flag it already has: nothing changes.
    let applied = h.ok(stability(1, true));
    assert!(applied.touched.is_empty());

    // A version that does not exist is refused.
    let refused = h.apply(stability(7, true));
    assert!(refused.result.is_err());
    assert!(refused.touched.is_empty());

    // A snapshot keeps it.
    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(back, h.state);
}

#[test]
fn scaling_events_are_kept_newest_first_and_bounded_per_group() {
    let mut h = Harness::new();
    let web = job("default", "web", &[("g", 1), ("h", 1)]);
    h.ok(register(&web, None));
    for i in 0..JOB_TRACKED_SCALING_EVENTS + 5 {
        h.ok(scaling("g", &format!("m{i}"), None));
    }
    let last = h.ok(scaling("h", "only", None));
    let events = h
        .state
        .job_scaling_events(&mut WatchSet::new(), "default", "web");
    assert_eq!(events["g"].len(), JOB_TRACKED_SCALING_EVENTS);
    assert_eq!(
        events["g"][0].message,
        format!("m{}", JOB_TRACKED_SCALING_EVENTS + 4)
    );
    assert_eq!(events["h"].len(), 1);
    assert_eq!(events["h"][0].create_index, last.index);
    assert_eq!(
        h.state
            .index_of(&WatchKey::job_scaling_events("default", "web")),
        last.index
    );
    // Events alone never make a job version.
    assert_eq!(versions(&h.state), [(0, false)]);

    // A count change registers the job in the same entry.
    let mut scaled = web.clone();
    scaled.task_groups[0].count = 3;
    let reg = JobRegister {
        job: scaled,
        eval: None,
        enforce_index: None,
        now: T0,
    };
    h.ok(scaling("g", "up", Some(reg.clone())));
    let job = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .cloned()
        .unwrap();
    assert_eq!((job.version, job.task_groups[0].count), (1, 3));

    // A refused register records no event.
    let stale = JobRegister {
        enforce_index: Some(1),
        ..reg
    };
    let before = h
        .state
        .job_scaling_events(&mut WatchSet::new(), "default", "web");
    assert!(h
        .apply(scaling("g", "refused", Some(stale)))
        .result
        .is_err());
    assert_eq!(
        h.state
            .job_scaling_events(&mut WatchSet::new(), "default", "web"),
        before
    );
    // An unknown group is refused.
    assert!(h.apply(scaling("nope", "x", None)).result.is_err());

    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(back, h.state);

    // A purge takes them with the job.
    h.ok(Command::JobDeregister(
        drover_state::command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: true,
            no_shutdown_delay: false,
            eval: None,
            now: T0,
        },
    ));
    assert!(h
        .state
        .job_scaling_events(&mut WatchSet::new(), "default", "web")
        .is_empty());
}

#[test]
fn submissions_live_and_go_with_their_versions() {
    let mut h = Harness::new();
    let mut web = job("default", "web", &[("g", 1)]);
    let first = h.ok(submit(&web, "v0"));
    let sub = h
        .state
        .job_submission(&mut WatchSet::new(), "default", "web", 0)
        .cloned()
        .unwrap();
    assert_eq!(
        (
            sub.source.as_str(),
            sub.version,
            sub.job_modify_index,
            sub.job_id.as_str()
        ),
        ("v0", 0, first.index, "web")
    );
    // A register without a source keeps none for its version.
    web.task_groups[0].count = 2;
    h.ok(register(&web, None));
    assert!(h
        .state
        .job_submission(&mut WatchSet::new(), "default", "web", 1)
        .is_none());

    // Versions beyond the tracked ones are dropped with their sources.
    for n in 3..(TRACKED_JOB_VERSIONS as i32 + 4) {
        web.task_groups[0].count = n;
        h.ok(submit(&web, &format!("count {n}")));
    }
    assert!(h
        .state
        .job_submission(&mut WatchSet::new(), "default", "web", 0)
        .is_none());
    assert_eq!(h.state.job_submission_count(), TRACKED_JOB_VERSIONS);

    let back = State::restore(&h.state.snapshot().unwrap(), EventRetention::default()).unwrap();
    assert_eq!(back, h.state);

    h.ok(Command::JobDeregister(
        drover_state::command::JobDeregister {
            namespace: "default".into(),
            job_id: "web".into(),
            purge: true,
            no_shutdown_delay: false,
            eval: None,
            now: T0,
        },
    ));
    assert_eq!(h.state.job_submission_count(), 0);
}
