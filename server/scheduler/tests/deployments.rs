//! Deployments through the service scheduler (Nomad
//! scheduler/reconciler/reconcile_cluster.go): one per job version of a
//! service job, rolling updates within `max_parallel` of the deployment's
//! healthy progress, canaries held until promotion, older deployments
//! cancelled, success once everything is healthy.

mod sched;

use drover_api::*;
use drover_scheduler::reconcile::DESC_SCALED_DOWN;
use drover_state::command::{DeploymentPromote, DeploymentStatusSet};
use drover_state::{Command, WatchSet};
use sched::{H, T0};

const S: i64 = 1_000_000_000;

fn update(max_parallel: i32, canary: i32) -> UpdateStrategy {
    UpdateStrategy {
        max_parallel,
        canary,
        health_check: "manual".into(),
        progress_deadline: 600 * S,
        ..Default::default()
    }
}

/// Three nodes and job `web` (count 3, rescheduled without limit) with
/// the given update block, placed; every allocation reported running and healthy.
fn web(u: Option<UpdateStrategy>) -> (H, Plan) {
    web_with(3, u)
}

fn web_sized(count: i32, u: UpdateStrategy) -> (H, Plan) {
    web_with(count, Some(u))
}

fn web_with(count: i32, u: Option<UpdateStrategy>) -> (H, Plan) {
    let mut h = H::new();
    for i in 0..3 {
        h.node(&format!("n{i}"), 4000, 4096, &[]);
    }
    let mut job = H::job_spec("web", JobType::Service, count, 100, 64, vec![]);
    job.task_groups[0].update = u;
    // Nomad's service default: failures are replaced without limit.
    job.task_groups[0].reschedule_policy = Some(ReschedulePolicy {
        unlimited: true,
        delay: 5 * S,
        delay_function: "constant".into(),
        ..Default::default()
    });
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    for a in &plan.placed {
        h.report(&a.id, AllocClientStatus::Running, Some(true), T0);
    }
    (h, plan)
}

type Plan = drover_scheduler::generic::Plan;

fn bump(h: &mut H, value: &str) -> Evaluation {
    let mut job = h.stored_job("web");
    job.task_groups[0].tasks[0]
        .env
        .insert("VERSION".into(), value.into());
    h.register(job)
}

fn deployment(h: &H, id: &str) -> Deployment {
    h.st.deployment(&mut WatchSet::new(), id)
        .cloned()
        .expect("deployment stored")
}

fn latest(h: &H) -> Deployment {
    h.st.latest_deployment_by_job(&mut WatchSet::new(), "default", "web")
        .cloned()
        .expect("a deployment")
}

fn again(h: &mut H) -> Plan {
    let eval = h.eval_for("web", JobType::Service);
    h.schedule(&eval)
}

#[test]
fn a_service_job_version_gets_one_deployment_and_batch_none() {
    let (h, plan) = web(Some(update(1, 0)));
    let d = plan.deployment.clone().expect("the first plan creates it");
    assert_eq!(d.status, deployment_status::RUNNING);
    assert_eq!(d.status_description, deployment_description::RUNNING);
    assert_eq!((d.job_version, d.job_create_index), (0, 4));
    let g = &d.task_groups["g"];
    assert_eq!((g.desired_total, g.desired_canaries), (3, 0));
    assert_eq!(g.progress_deadline, 600 * S);
    assert!(plan.placed.iter().all(|a| a.deployment_id == d.id));
    // Stored, with the placements counted and their health.
    let stored = deployment(&h, &d.id);
    assert_eq!(stored.task_groups["g"].placed_allocs, 3);
    assert_eq!(stored.task_groups["g"].healthy_allocs, 3);
    let evals: Vec<Evaluation> =
        h.st.evals_by_job(&mut WatchSet::new(), "default", "web")
            .cloned()
            .collect();
    assert!(evals.iter().any(|e| e.deployment_id == d.id));

    // Batch jobs and forced updates (max_parallel 0) have none.
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    let mut job = H::job_spec("b", JobType::Batch, 2, 100, 64, vec![]);
    job.task_groups[0].update = Some(update(1, 0));
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 2);
    assert!(plan.deployment.is_none());
    assert!(plan.placed.iter().all(|a| a.deployment_id.is_empty()));
    let (_, plan) = web(Some(update(0, 0)));
    assert!(plan.deployment.is_none());
}

#[test]
fn once_everything_is_healthy_the_deployment_succeeds_and_the_job_is_stable() {
    let (mut h, first) = web(Some(update(1, 0)));
    let id = first.deployment.unwrap().id;
    let plan = again(&mut h);
    assert!(plan.is_noop());
    assert_eq!(
        plan.deployment_updates,
        [DeploymentStatusUpdate {
            deployment_id: id.clone(),
            status: deployment_status::SUCCESSFUL.into(),
            status_description: deployment_description::SUCCESSFUL.into(),
        }]
    );
    assert_eq!(deployment(&h, &id).status, deployment_status::SUCCESSFUL);
    assert!(h.stored_job("web").stable);
    // A successful deployment is not current: nothing more to report.
    let plan = again(&mut h);
    assert!(plan.deployment_updates.is_empty() && plan.deployment.is_none());
    // A scale-up is a new version: updated in place, one more placed, and
    // deployed.
    let mut job = h.stored_job("web");
    job.task_groups[0].count = 4;
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    assert_eq!(plan.desired_updates["g"].place, 1);
    assert_eq!(plan.desired_updates["g"].in_place_update, 3);
    let d = plan.deployment.expect("a new job version deploys");
    assert_eq!(d.task_groups["g"].desired_total, 4);
}

#[test]
fn a_rolling_update_waits_for_each_batch_to_turn_healthy() {
    let (mut h, first) = web(Some(update(2, 0)));
    let old = first.deployment.unwrap().id;
    let eval = bump(&mut h, "2");
    let plan = h.schedule(&eval);
    let d = plan.deployment.clone().expect("the new version deploys");
    assert_eq!(
        plan.deployment_updates,
        [DeploymentStatusUpdate {
            deployment_id: old.clone(),
            status: deployment_status::CANCELLED.into(),
            status_description: "Cancelled due to newer version of job".into(),
        }]
    );
    assert_eq!(deployment(&h, &old).status, deployment_status::CANCELLED);
    assert_eq!(d.task_groups["g"].desired_total, 3);
    assert_eq!(plan.placed.len(), 2, "max_parallel 2");
    assert!(plan.placed.iter().all(|a| a.deployment_id == d.id));
    // Not healthy yet: nothing moves.
    assert!(again(&mut h).is_noop());
    h.report(
        &plan.placed[0].id,
        AllocClientStatus::Running,
        Some(true),
        T0 + S,
    );
    let next = again(&mut h);
    assert_eq!(next.placed.len(), 1, "one healthy frees one slot");
    h.report(
        &plan.placed[1].id,
        AllocClientStatus::Running,
        Some(true),
        T0 + S,
    );
    h.report(
        &next.placed[0].id,
        AllocClientStatus::Running,
        Some(true),
        T0 + S,
    );
    let done = again(&mut h);
    assert!(done.is_noop());
    assert_eq!(deployment(&h, &d.id).status, deployment_status::SUCCESSFUL);
    assert_eq!(deployment(&h, &d.id).task_groups["g"].healthy_allocs, 3);
}

#[test]
fn paused_and_failed_deployments_place_nothing_more() {
    for status in [deployment_status::PAUSED, deployment_status::FAILED] {
        let (mut h, _) = web(Some(update(1, 0)));
        let eval = bump(&mut h, "2");
        let plan = h.schedule(&eval);
        assert_eq!(plan.placed.len(), 1);
        let id = plan.deployment.unwrap().id;
        h.apply(Command::DeploymentStatusSet(DeploymentStatusSet {
            update: DeploymentStatusUpdate {
                deployment_id: id.clone(),
                status: status.into(),
                status_description: "by hand".into(),
            },
            job: None,
            eval: None,
            now: T0,
        }));
        h.report(
            &plan.placed[0].id,
            AllocClientStatus::Running,
            Some(true),
            T0 + S,
        );
        let next = again(&mut h);
        assert!(next.is_noop(), "{status}: {next:?}");
        assert!(next.deployment_updates.is_empty(), "{status}");
    }
}

#[test]
fn canaries_run_beside_the_old_version_until_promoted() {
    let (mut h, _) = web(Some(update(1, 1)));
    let eval = bump(&mut h, "2");
    let plan = h.schedule(&eval);
    let d = plan.deployment.clone().unwrap();
    assert_eq!(
        d.status_description,
        deployment_description::RUNNING_NEEDS_PROMOTION
    );
    assert_eq!(d.task_groups["g"].desired_canaries, 1);
    assert_eq!(plan.desired_updates["g"].canary, 1);
    assert_eq!(plan.placed.len(), 1);
    assert!(plan.stopped.is_empty(), "the old allocations keep running");
    let canary = plan.placed[0].clone();
    assert!(canary.deployment_status.as_ref().unwrap().canary);
    assert_eq!(canary.name, "web.g[0]");
    assert_eq!(h.live_allocs("web").len(), 4);
    assert_eq!(
        deployment(&h, &d.id).task_groups["g"].placed_canaries,
        std::slice::from_ref(&canary.id)
    );

    // Healthy, but not promoted: still nothing else.
    h.report(&canary.id, AllocClientStatus::Running, Some(true), T0 + S);
    let next = again(&mut h);
    assert!(next.is_noop() && next.deployment_updates.is_empty());

    h.apply(Command::DeploymentPromote(DeploymentPromote {
        deployment_id: d.id.clone(),
        all: true,
        groups: vec![],
        eval: None,
        now: T0 + 2 * S,
    }));
    // Promoted: the old web.g[0] goes, and one more rolls (max_parallel 1).
    let plan = again(&mut h);
    let stopped: Vec<&str> = plan
        .stopped
        .iter()
        .map(|s| s.desired_description.as_str())
        .collect();
    assert!(stopped.contains(&DESC_SCALED_DOWN), "{stopped:?}");
    assert_eq!(plan.placed.len(), 1);
    assert!(!plan.placed[0]
        .deployment_status
        .as_ref()
        .is_some_and(|s| s.canary));
    let mut last = plan.placed[0].id.clone();
    h.report(&last, AllocClientStatus::Running, Some(true), T0 + 3 * S);
    let plan = again(&mut h);
    assert_eq!(plan.placed.len(), 1);
    last = plan.placed[0].id.clone();
    h.report(&last, AllocClientStatus::Running, Some(true), T0 + 4 * S);
    let done = again(&mut h);
    assert!(done.is_noop());
    let live = h.live_allocs("web");
    assert_eq!(live.len(), 3);
    assert!(live.iter().any(|a| a.id == canary.id), "the canary is kept");
    assert_eq!(deployment(&h, &d.id).status, deployment_status::SUCCESSFUL);
}

#[test]
fn more_canaries_than_allocations_get_distinct_names() {
    let (mut h, _) = web_sized(1, update(1, 2));
    let eval = bump(&mut h, "2");
    let plan = h.schedule(&eval);
    let mut names: Vec<&str> = plan.placed.iter().map(|a| a.name.as_str()).collect();
    names.sort();
    assert_eq!(names, ["web.g[0]", "web.g[1]"]);
    assert!(plan
        .placed
        .iter()
        .all(|a| a.deployment_status.as_ref().is_some_and(|s| s.canary)));
}

#[test]
fn a_newer_version_stops_unpromoted_canaries() {
    let (mut h, _) = web(Some(update(1, 1)));
    let eval = bump(&mut h, "2");
    let plan = h.schedule(&eval);
    let canary = plan.placed[0].id.clone();
    let eval = bump(&mut h, "3");
    let plan = h.schedule(&eval);
    assert!(plan.stopped.iter().any(|s| s.id == canary));
    let d = latest(&h);
    assert_eq!(d.job_version, 2);
    assert_eq!(plan.placed.len(), 1, "a new canary for version 2");
    assert_eq!(h.live_allocs("web").len(), 4);
}

/// A canary that failed in a deployment that failed keeps no slot once
/// the job moves on (here to a version with the old spec again, as an
/// auto-revert registers): the group is brought back to its count.
#[test]
fn a_failed_canary_of_a_failed_deployment_keeps_no_slot() {
    let (mut h, _) = web(Some(update(1, 1)));
    let eval = bump(&mut h, "2");
    let plan = h.schedule(&eval);
    let canary = plan.placed[0].id.clone();
    let d = plan.deployment.clone().unwrap();
    h.report(&canary, AllocClientStatus::Failed, Some(false), T0 + S);
    h.apply(Command::DeploymentStatusSet(DeploymentStatusSet {
        update: DeploymentStatusUpdate {
            deployment_id: d.id.clone(),
            status: deployment_status::FAILED.into(),
            status_description: deployment_description::FAILED_ALLOCATIONS.into(),
        },
        job: None,
        eval: None,
        now: T0 + 2 * S,
    }));
    // A newer version whose first plan makes a deployment of its own.
    let eval = bump(&mut h, "3");
    let plan = h.schedule(&eval);
    assert!(
        plan.stopped.iter().any(|s| s.id == canary),
        "the failed canary is stopped: {:?}",
        plan.stopped
    );
    let plan = again(&mut h);
    assert!(plan.stopped.iter().all(|s| s.id != canary), "once");
    let live = h.live_allocs("web");
    assert!(live.iter().all(|a| a.id != canary));
}

/// In a deployment under way, a failed allocation is replaced only once
/// the deployment watcher marks it (`DesiredTransition.Reschedule`), as
/// Nomad's `updateByReschedulable` holds it.
#[test]
fn a_failure_inside_an_active_deployment_waits_for_the_watcher() {
    let (mut h, _) = web(Some(update(1, 0)));
    let eval = bump(&mut h, "2");
    let plan = h.schedule(&eval);
    let new = plan.placed[0].clone();
    h.report(&new.id, AllocClientStatus::Failed, Some(false), T0 + S);
    // Long past the policy's delay: only the deployment holds it back.
    let eval = h.eval_for("web", JobType::Service);
    let held = h.schedule_at(&eval, T0 + 3600 * S);
    assert!(
        held.placed.iter().all(|a| a.previous_allocation != new.id)
            && held.followup_evals.is_empty(),
        "not replaced before the watcher allows it: {held:?}"
    );
    h.apply(Command::AllocUpdateDesiredTransition(
        drover_state::command::AllocUpdateDesiredTransition {
            transitions: [(
                new.id.clone(),
                DesiredTransition {
                    reschedule: Some(true),
                    ..Default::default()
                },
            )]
            .into(),
            evals: vec![],
            now: T0 + 2 * S,
        },
    ));
    let eval = h.eval_for("web", JobType::Service);
    let plan = h.schedule_at(&eval, T0 + 3600 * S);
    assert!(
        plan.placed.iter().any(|a| a.previous_allocation == new.id),
        "replaced once allowed: {plan:?}"
    );
}

#[test]
fn stopping_the_job_cancels_its_deployment() {
    let (mut h, first) = web(Some(update(1, 0)));
    let id = first.deployment.unwrap().id;
    let mut job = h.stored_job("web");
    job.stop = true;
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    assert_eq!(plan.stopped.len(), 3);
    let d = deployment(&h, &id);
    assert_eq!(d.status, deployment_status::CANCELLED);
    assert_eq!(d.status_description, "Cancelled because job is stopped");
}

mod invariants {
    use super::*;
    use proptest::prelude::*;

    /// Allocations of the job the servers want running.
    fn wanted(h: &H) -> Vec<Allocation> {
        h.st.allocs_by_job(&mut WatchSet::new(), "default", "web")
            .filter(|r| r.alloc.desired_status == AllocDesiredStatus::Run)
            .filter(|r| !r.alloc.client_status.is_terminal())
            .map(|r| r.alloc.clone())
            .collect()
    }

    fn healthy_of(a: &Allocation) -> Option<bool> {
        a.deployment_status.as_ref().and_then(|s| s.healthy)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Whatever order health arrives in, a rollout never has more
        /// unhealthy-yet allocations of the new version than `max_parallel`
        /// (or the canaries it wants), never runs more than `count` plus
        /// its canaries, keeps the old version until promotion when it
        /// canaries, and ends with `count` allocations of the new version
        /// and a successful deployment.
        #[test]
        fn a_rollout_stays_within_its_limits_and_finishes(
            count in 1i32..6,
            max_parallel in 1i32..4,
            canary in 0i32..3,
            picks in prop::collection::vec(any::<prop::sample::Index>(), 0..40),
        ) {
            let (mut h, _) = web_sized(count, update(max_parallel, canary));
            let eval = bump(&mut h, "2");
            h.schedule(&eval);
            let new_version = h.stored_job("web").version;
            let limit = max_parallel.max(canary) as usize;
            let mut promoted = canary == 0;
            let mut picks = picks.into_iter();
            for round in 0..200 {
                let live = wanted(&h);
                let new: Vec<&Allocation> = live
                    .iter()
                    .filter(|a| h.st.alloc(&mut WatchSet::new(), &a.id).unwrap().job_version == new_version)
                    .collect();
                let waiting: Vec<&Allocation> =
                    new.iter().copied().filter(|a| healthy_of(a).is_none()).collect();
                prop_assert!(waiting.len() <= limit, "round {round}: {} waiting > {limit}", waiting.len());
                prop_assert!(live.len() <= (count + canary) as usize, "round {round}: {} live", live.len());
                if !promoted {
                    prop_assert!(live.len() - new.len() == count as usize, "old kept until promotion");
                }
                let d = latest(&h);
                if d.status == deployment_status::SUCCESSFUL {
                    prop_assert_eq!(new.len(), count as usize);
                    prop_assert_eq!(live.len(), count as usize);
                    return Ok(());
                }
                // Report one waiting allocation healthy (which one, the
                // picks decide), promote once the canaries are healthy,
                // then evaluate.
                if let Some(a) = picks.next().filter(|_| !waiting.is_empty()).map(|i| waiting[i.index(waiting.len())]) {
                    h.report(&a.id, AllocClientStatus::Running, Some(true), T0 + round * S);
                } else if let Some(a) = waiting.first() {
                    h.report(&a.id, AllocClientStatus::Running, Some(true), T0 + round * S);
                } else if !promoted {
                    h.apply(Command::DeploymentPromote(DeploymentPromote {
                        deployment_id: d.id.clone(),
                        all: true,
                        groups: vec![],
                        eval: None,
                        now: T0 + round * S,
                    }));
                    promoted = true;
                }
                again(&mut h);
            }
            prop_assert!(false, "the rollout did not finish: {:?}", latest(&h));
        }
    }
}
