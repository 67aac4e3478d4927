//! The deployments table: created by plans, counted from the allocations
//! placed into them and their health, promoted, failed, marked successful
//! (which makes the job version stable), deleted with a purged job, kept in
//! snapshots and announced on the event stream (nomad/state/state_store.go).

mod common;

use common::*;
use drover_api::*;
use drover_state::command::*;
use drover_state::{ApplyError, Command, EventRetention, State, WatchKey, WatchSet};

const MIN: i64 = 60_000_000_000;

fn deployment(id: &str, job: &Job, canaries: i32) -> Deployment {
    Deployment {
        id: id.into(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_version: job.version,
        job_create_index: job.create_index,
        status: deployment_status::RUNNING.into(),
        status_description: deployment_description::RUNNING.into(),
        task_groups: SmallMap::from([(
            "web".to_string(),
            DeploymentState {
                desired_total: 2,
                desired_canaries: canaries,
                progress_deadline: 10 * MIN,
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

fn placed(id: &str, job: &Job, d: &str, canary: bool) -> Allocation {
    Allocation {
        deployment_id: d.into(),
        deployment_status: canary.then(|| AllocDeploymentStatus {
            canary: true,
            ..Default::default()
        }),
        ..alloc(id, job, "web", "n1", "e1")
    }
}

fn plan_with(job: &Job, allocs: Vec<Allocation>, d: Option<Deployment>) -> Command {
    let Command::ApplyPlanResults(mut p) = plan(job, allocs, vec![]) else {
        unreachable!()
    };
    p.deployment = d;
    Command::ApplyPlanResults(p)
}

fn health(d: &str, healthy: &[&str], unhealthy: &[&str]) -> Command {
    Command::DeploymentAllocHealth(DeploymentAllocHealth {
        deployment_id: d.into(),
        healthy: healthy.iter().map(|s| s.to_string()).collect(),
        unhealthy: unhealthy.iter().map(|s| s.to_string()).collect(),
        update: None,
        job: None,
        eval: None,
        now: T0 + 5,
    })
}

fn promote(d: &str) -> Command {
    Command::DeploymentPromote(DeploymentPromote {
        deployment_id: d.into(),
        all: true,
        groups: vec![],
        eval: None,
        now: T0 + 6,
    })
}

fn status(d: &str, status: &str, desc: &str) -> Command {
    Command::DeploymentStatusSet(DeploymentStatusSet {
        update: DeploymentStatusUpdate {
            deployment_id: d.into(),
            status: status.into(),
            status_description: desc.into(),
        },
        job: None,
        eval: None,
        now: T0 + 7,
    })
}

/// A registered service job with deployment `d1` and two allocations.
fn setup(canaries: bool) -> (Harness, Job) {
    let mut h = Harness::new();
    h.ok(node_register(&node("n1")));
    h.ok(register(&job("default", "web", &[("web", 2)]), None));
    let j = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .unwrap()
        .clone();
    let d = deployment("d1", &j, i32::from(canaries));
    h.ok(plan_with(
        &j,
        vec![
            placed("a1", &j, "d1", canaries),
            placed("a2", &j, "d1", false),
        ],
        Some(d),
    ));
    (h, j)
}

fn dep(h: &Harness, id: &str) -> Deployment {
    h.state
        .deployment(&mut WatchSet::new(), id)
        .expect("deployment stored")
        .clone()
}

#[test]
fn a_plan_creates_its_deployment_and_counts_its_placements() {
    let (h, _) = setup(true);
    let d = dep(&h, "d1");
    assert_eq!(d.create_index, 3);
    assert_eq!(d.modify_index, 3);
    let g = &d.task_groups["web"];
    assert_eq!(g.placed_allocs, 2);
    assert_eq!(g.placed_canaries, vec!["a1".to_string()]);
    // The first placement starts the progress deadline.
    assert_eq!(g.require_progress_by, Some(T0 + 1 + 10 * MIN));
    let mut ws = WatchSet::new();
    let by_job: Vec<&str> = h
        .state
        .deployments_by_job(&mut ws, "default", "web")
        .map(|d| d.id.as_str())
        .collect();
    assert_eq!(by_job, ["d1"]);
    assert_eq!(h.state.index_of(&WatchKey::Deployment("d1".into())), 3);
    assert_eq!(h.state.index_of_set(&ws), 3);
}

#[test]
fn a_later_plan_keeps_the_counters_the_allocations_own() {
    let (mut h, j) = setup(false);
    h.ok(health("d1", &["a1"], &[]));
    let mut again = deployment("d1", &j, 0);
    again.task_groups.get_mut("web").unwrap().desired_total = 3;
    h.ok(plan_with(&j, vec![], Some(again)));
    let g = &dep(&h, "d1").task_groups["web"];
    assert_eq!(
        (g.desired_total, g.placed_allocs, g.healthy_allocs),
        (3, 2, 1)
    );
}

#[test]
fn client_and_manual_health_move_the_counters_once() {
    let (mut h, _) = setup(false);
    h.ok(Command::AllocClientUpdate(AllocClientUpdate {
        updates: vec![AllocClientState {
            id: "a1".into(),
            client_status: AllocClientStatus::Running,
            client_description: String::new(),
            task_states: SmallMap::new(),
            deployment_status: Some(AllocDeploymentStatus {
                healthy: Some(true),
                timestamp: Some(T0 + 3),
                ..Default::default()
            }),
        }],
        evals: vec![],
        now: T0 + 3,
    }));
    // The same report again changes nothing.
    h.ok(client_update("a1", AllocClientStatus::Running));
    h.ok(health("d1", &[], &["a2"]));
    let g = &dep(&h, "d1").task_groups["web"];
    assert_eq!((g.healthy_allocs, g.unhealthy_allocs), (1, 1));
    // Healthy at T0+3 pushes the deadline to then plus the progress deadline.
    assert_eq!(g.require_progress_by, Some(T0 + 3 + 10 * MIN));
    let mut ws = WatchSet::new();
    let a2 = h.state.alloc(&mut ws, "a2").unwrap();
    let ds = a2.alloc.deployment_status.as_ref().unwrap();
    assert_eq!((ds.healthy, ds.timestamp), (Some(false), Some(T0 + 5)));
}

#[test]
fn health_of_an_allocation_outside_the_deployment_is_refused() {
    let (mut h, j) = setup(false);
    h.ok(plan(
        &j,
        vec![alloc("other", &j, "web", "n1", "e1")],
        vec![],
    ));
    let before = h.state.clone();
    let r = h.apply(health("d1", &["a1", "other"], &[]));
    assert_eq!(
        r.result,
        Err(ApplyError::Deployment(
            r#"alloc "other" is not part of deployment "d1""#.into()
        ))
    );
    let r = h.apply(health("d1", &["ghost"], &[]));
    assert_eq!(
        r.result,
        Err(ApplyError::Deployment(r#"unknown alloc "ghost""#.into()))
    );
    let r = h.apply(health("nope", &["a1"], &[]));
    assert_eq!(
        r.result,
        Err(ApplyError::Deployment(
            r#"Deployment ID "nope" couldn't be updated as it does not exist"#.into()
        ))
    );
    // Nothing moved (only the applied index).
    assert_eq!(
        dep(&h, "d1"),
        before
            .deployment(&mut WatchSet::new(), "d1")
            .unwrap()
            .clone()
    );
}

#[test]
fn promotion_needs_healthy_canaries_and_then_clears_the_canary_flag() {
    let (mut h, _) = setup(true);
    let r = h.apply(promote("d1"));
    assert_eq!(
        r.result,
        Err(ApplyError::Deployment(
            "1 error occurred:\n\t* Task group \"web\" has 0/1 healthy allocations\n\n".into()
        ))
    );
    assert!(!dep(&h, "d1").task_groups["web"].promoted);
    h.ok(health("d1", &["a1"], &[]));
    h.ok(promote("d1"));
    let d = dep(&h, "d1");
    assert!(d.task_groups["web"].promoted);
    assert_eq!(d.status_description, deployment_description::RUNNING);
    let mut ws = WatchSet::new();
    let a1 = h.state.alloc(&mut ws, "a1").unwrap();
    assert!(!a1.alloc.deployment_status.as_ref().unwrap().canary);
    // A plan computed before the promotion cannot undo it.
    let j = h.state.job(&mut ws, "default", "web").unwrap().clone();
    let r = h.apply(plan_with(&j, vec![], Some(deployment("d1", &j, 1))));
    assert_eq!(
        r.result,
        Err(ApplyError::Deployment(
            "deployment promotion cannot be undone".into()
        ))
    );
}

#[test]
fn terminal_deployments_refuse_changes_and_success_marks_the_job_stable() {
    let (mut h, _) = setup(false);
    let job_before = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .unwrap()
        .clone();
    assert!(!job_before.stable);
    h.ok(status(
        "d1",
        deployment_status::SUCCESSFUL,
        deployment_description::SUCCESSFUL,
    ));
    let job = h
        .state
        .job(&mut WatchSet::new(), "default", "web")
        .unwrap()
        .clone();
    assert!(job.stable);
    assert_eq!(job.version, job_before.version);
    assert_eq!(job.job_modify_index, job_before.job_modify_index);
    assert!(job.modify_index > job_before.modify_index);
    let versions = h.state.job_versions(&mut WatchSet::new(), "default", "web");
    assert!(versions[0].stable);
    let r = h.apply(status(
        "d1",
        deployment_status::PAUSED,
        deployment_description::PAUSED,
    ));
    assert_eq!(
        r.result,
        Err(ApplyError::Deployment(
            r#"Deployment "d1" has terminal status "successful":"#.into()
        ))
    );
    assert!(h.apply(promote("d1")).result.is_err());
}

#[test]
fn pausing_and_resuming_restarts_the_progress_deadline() {
    let (mut h, _) = setup(false);
    h.ok(status(
        "d1",
        deployment_status::PAUSED,
        deployment_description::PAUSED,
    ));
    let d = dep(&h, "d1");
    assert_eq!(d.status, "paused");
    assert_eq!(
        d.task_groups["web"].require_progress_by,
        Some(T0 + 7 + 10 * MIN)
    );
}

#[test]
fn deployment_events_carry_the_job_as_filter_key() {
    let (mut h, _) = setup(false);
    let from = h.index + 1;
    h.ok(status(
        "d1",
        deployment_status::FAILED,
        deployment_description::FAILED_BY_USER,
    ));
    let batch = h.state.events().read_from(from).unwrap().next().unwrap();
    let ev = batch
        .events
        .iter()
        .find(|e| e.topic() == Topic::Deployment)
        .expect("a deployment event");
    assert_eq!(ev.event_type(), "DeploymentStatusUpdate");
    assert_eq!(ev.key(), "d1");
    assert_eq!(ev.filter_keys().collect::<Vec<_>>(), ["web"]);
    assert!(ev.matches_key("web"));
    let EventPayload::Deployment(d) = ev.payload().unwrap() else {
        panic!("not a deployment payload")
    };
    assert_eq!(d.status, "failed");
}

#[test]
fn snapshots_keep_deployments_and_a_purge_deletes_them() {
    let (mut h, _) = setup(true);
    let bytes = h.state.snapshot().unwrap();
    let restored = State::restore(&bytes, EventRetention::default()).unwrap();
    assert_eq!(
        restored.deployment(&mut WatchSet::new(), "d1"),
        h.state.deployment(&mut WatchSet::new(), "d1")
    );
    h.ok(Command::JobDeregister(JobDeregister {
        namespace: "default".into(),
        job_id: "web".into(),
        purge: true,
        no_shutdown_delay: false,
        eval: None,
        now: T0 + 9,
    }));
    assert!(h.state.deployment(&mut WatchSet::new(), "d1").is_none());
    assert_eq!(
        h.state
            .deployments(&mut WatchSet::new(), None, false)
            .count(),
        0
    );
}
