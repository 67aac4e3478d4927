//! The deployment watcher's decisions on states built by applying real
//! commands: fail early or let an unhealthy allocation be replaced, fail
//! at the progress deadline, roll back to the latest stable version,
//! promote canaries automatically, and look only at what changed
//! (nomad/deploymentwatcher/deployment_watcher.go).

use drover_api::*;
use drover_server::deployment_watch::{decide, Decision, Watcher};
use drover_state::command::*;
use drover_state::{Command, State, WatchSet};

const T0: i64 = 1_700_000_000_000_000_000;
const SEC: i64 = 1_000_000_000;

struct H {
    st: State,
    index: u64,
}

impl H {
    #[track_caller]
    fn ok(&mut self, cmd: Command) {
        self.index += 1;
        let applied = self.st.apply(self.index, &cmd);
        assert_eq!(applied.result, Ok(()), "{cmd:?}");
    }

    fn job(&self) -> Job {
        self.st
            .job(&mut WatchSet::new(), "default", "web")
            .expect("job")
            .clone()
    }

    fn deployment(&self) -> Deployment {
        self.st
            .deployment(&mut WatchSet::new(), "d1")
            .expect("deployment")
            .clone()
    }

    fn health(&mut self, alloc: &str, healthy: bool) {
        let d = self.deployment();
        self.ok(Command::DeploymentAllocHealth(DeploymentAllocHealth {
            deployment_id: d.id,
            healthy: if healthy { vec![alloc.into()] } else { vec![] },
            unhealthy: if healthy { vec![] } else { vec![alloc.into()] },
            update: None,
            job: None,
            eval: None,
            now: T0 + 5 * SEC,
        }));
    }
}

fn job(command: &str, update: UpdateStrategy, reschedule: ReschedulePolicy) -> Job {
    Job {
        region: "global".into(),
        namespace: "default".into(),
        id: "web".into(),
        name: "web".into(),
        job_type: JobType::Service,
        priority: 50,
        datacenters: vec!["dc1".into()],
        task_groups: vec![TaskGroup {
            name: "web".into(),
            count: 2,
            update: Some(update),
            reschedule_policy: Some(reschedule),
            tasks: vec![Task {
                name: "t".into(),
                driver: "raw_exec".into(),
                config: SmallMap::from([("command".to_string(), serde_json::json!(command))]),
                ..Default::default()
            }],
            ..Default::default()
        }],
        submit_time: T0,
        ..Default::default()
    }
}

fn strategy(canary: i32, auto_revert: bool, auto_promote: bool) -> UpdateStrategy {
    UpdateStrategy {
        max_parallel: 1,
        canary,
        auto_revert,
        auto_promote,
        progress_deadline: 60 * SEC,
        ..Default::default()
    }
}

fn unlimited() -> ReschedulePolicy {
    ReschedulePolicy {
        unlimited: true,
        ..Default::default()
    }
}

fn alloc(id: &str, _job: &Job, canary: bool) -> Allocation {
    Allocation {
        id: id.into(),
        namespace: "default".into(),
        eval_id: "e1".into(),
        name: format!("web.web[{id}]"),
        node_id: "n1".into(),
        job_id: "web".into(),
        task_group: "web".into(),
        deployment_id: "d1".into(),
        deployment_status: canary.then(|| AllocDeploymentStatus {
            canary: true,
            ..Default::default()
        }),
        desired_status: AllocDesiredStatus::Run,
        client_status: AllocClientStatus::Running,
        ..Default::default()
    }
}

/// A job at version 0 (stable when `stable_v0`), then version 1 with
/// `v1`'s update strategy and a deployment `d1` of it with allocations
/// `a1` (a canary when the strategy has canaries) and `a2`.
fn setup(v1: UpdateStrategy, reschedule: ReschedulePolicy, stable_v0: bool) -> H {
    let mut h = H {
        st: State::default(),
        index: 0,
    };
    let v0 = job("sleep 1", v1.clone(), reschedule.clone());
    h.ok(Command::JobRegister(JobRegister {
        job: v0,
        eval: None,
        enforce_index: None,
        now: T0,
    }));
    if stable_v0 {
        // A successful deployment of version 0 marks it stable.
        let j = h.job();
        h.ok(plan(&j, vec![], Some(deployment("d0", &j, 0))));
        h.ok(Command::DeploymentStatusSet(DeploymentStatusSet {
            update: DeploymentStatusUpdate {
                deployment_id: "d0".into(),
                status: deployment_status::SUCCESSFUL.into(),
                status_description: deployment_description::SUCCESSFUL.into(),
            },
            job: None,
            eval: None,
            now: T0 + SEC,
        }));
        assert!(h.job().stable);
    }
    h.ok(Command::JobRegister(JobRegister {
        job: job("sleep 2", v1.clone(), reschedule),
        eval: None,
        enforce_index: None,
        now: T0 + 2 * SEC,
    }));
    let j = h.job();
    let canaries = v1.canary > 0;
    let mut d = deployment("d1", &j, v1.canary);
    if let Some(s) = d.task_groups.get_mut("web") {
        s.auto_revert = v1.auto_revert;
        s.auto_promote = v1.auto_promote;
    }
    h.ok(plan(
        &j,
        vec![alloc("a1", &j, canaries), alloc("a2", &j, false)],
        Some(d),
    ));
    h
}

fn deployment(id: &str, job: &Job, canaries: i32) -> Deployment {
    Deployment {
        id: id.into(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_create_index: job.create_index,
        status: deployment_status::RUNNING.into(),
        status_description: deployment_description::RUNNING.into(),
        task_groups: SmallMap::from([(
            "web".to_string(),
            DeploymentState {
                desired_total: 2,
                desired_canaries: canaries,
                progress_deadline: 60 * SEC,
                ..Default::default()
            },
        )]),
        ..Default::default()
    }
}

fn plan(job: &Job, placed: Vec<Allocation>, d: Option<Deployment>) -> Command {
    Command::ApplyPlanResults(ApplyPlanResults {
        deployment: d,
        deployment_updates: Vec::new(),
        namespace: job.namespace.clone(),
        job_id: job.id.clone(),
        job_version: job.version,
        placed,
        stopped: vec![],
        preempted: vec![],
        followups: vec![],
        evals: vec![],
        now: T0 + 3 * SEC,
    })
}

#[test]
fn an_unhealthy_allocation_is_replaced_while_it_may_be_rescheduled() {
    let mut h = setup(strategy(0, false, false), unlimited(), false);
    assert_eq!(decide(&h.st, &h.deployment(), T0 + 4 * SEC), None);
    h.health("a1", false);
    assert_eq!(
        decide(&h.st, &h.deployment(), T0 + 6 * SEC),
        Some(Decision::Replace(vec!["a1".into()]))
    );
}

#[test]
fn an_unhealthy_allocation_that_cannot_be_rescheduled_fails_it_at_once() {
    let no_more = ReschedulePolicy::default();
    let mut h = setup(strategy(0, false, false), no_more, false);
    h.health("a2", false);
    assert_eq!(
        decide(&h.st, &h.deployment(), T0 + 6 * SEC),
        Some(Decision::Fail {
            description: "Failed due to unhealthy allocations".into(),
            rollback: None,
        })
    );
}

#[test]
fn auto_revert_rolls_back_to_the_latest_stable_version() {
    let mut h = setup(strategy(0, true, false), ReschedulePolicy::default(), true);
    h.health("a1", false);
    let Some(Decision::Fail {
        description,
        rollback: Some(back),
    }) = decide(&h.st, &h.deployment(), T0 + 6 * SEC)
    else {
        panic!("a rollback");
    };
    assert_eq!(
        description,
        "Failed due to unhealthy allocations - rolling back to job version 0"
    );
    assert_eq!(
        back.task_groups[0].tasks[0].config.get("command"),
        Some(&serde_json::json!("sleep 1"))
    );

    // Without a stable version there is nothing to roll back to.
    let mut h = setup(strategy(0, true, false), ReschedulePolicy::default(), false);
    h.health("a1", false);
    assert_eq!(
        decide(&h.st, &h.deployment(), T0 + 6 * SEC),
        Some(Decision::Fail {
            description:
                "Failed due to unhealthy allocations - no stable job version to auto revert to"
                    .into(),
            rollback: None,
        })
    );
}

#[test]
fn the_progress_deadline_fails_a_deployment_that_is_short_of_healthy() {
    let mut h = setup(strategy(0, false, false), unlimited(), false);
    h.health("a1", true);
    let d = h.deployment();
    let cutoff = d.task_groups["web"]
        .require_progress_by
        .expect("a deadline once allocations are healthy");
    assert_eq!(decide(&h.st, &d, cutoff - 1), None);
    assert_eq!(
        decide(&h.st, &d, cutoff + 1),
        Some(Decision::Fail {
            description: "Failed due to progress deadline".into(),
            rollback: None,
        })
    );
    // Paused: no deadline counts.
    h.ok(Command::DeploymentStatusSet(DeploymentStatusSet {
        update: DeploymentStatusUpdate {
            deployment_id: "d1".into(),
            status: deployment_status::PAUSED.into(),
            status_description: deployment_description::PAUSED.into(),
        },
        job: None,
        eval: None,
        now: T0 + 7 * SEC,
    }));
    assert_eq!(decide(&h.st, &h.deployment(), cutoff + 1000 * SEC), None);
}

#[test]
fn healthy_canaries_are_promoted_only_with_auto_promote() {
    let mut h = setup(strategy(1, false, true), unlimited(), false);
    assert_eq!(decide(&h.st, &h.deployment(), T0 + 4 * SEC), None);
    h.health("a1", true);
    assert_eq!(
        decide(&h.st, &h.deployment(), T0 + 6 * SEC),
        Some(Decision::Promote)
    );

    let mut h = setup(strategy(1, false, false), unlimited(), false);
    h.health("a1", true);
    assert_eq!(decide(&h.st, &h.deployment(), T0 + 6 * SEC), None);
}

#[test]
fn the_watcher_looks_again_only_at_what_changed() {
    let mut h = setup(strategy(0, false, false), unlimited(), false);
    let mut w = Watcher::default();
    // The first look reads every deployment: nothing is due.
    assert!(w.look(&h.st, T0 + 4 * SEC).is_empty());
    assert!(w.look(&h.st, T0 + 4 * SEC).is_empty());
    h.health("a1", false);
    let due = w.look(&h.st, T0 + 6 * SEC);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, Decision::Replace(vec!["a1".into()]));
    // Nothing written since: nothing to look at.
    assert!(w.look(&h.st, T0 + 6 * SEC).is_empty());
    // A healthy allocation gives the deployment a deadline, which brings
    // it back once passed without a write.
    h.health("a2", true);
    let _ = w.look(&h.st, T0 + 7 * SEC);
    let at = w.next_deadline().expect("a deadline tracked");
    let due = w.look(&h.st, at + 1);
    assert!(
        due.iter()
            .any(|(d, dec)| d.id == "d1" && matches!(dec, Decision::Fail { .. })),
        "{due:?}"
    );
}
