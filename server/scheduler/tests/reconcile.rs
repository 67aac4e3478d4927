//! The reconciler through the service/batch scheduler: rolling updates
//! limited by `update.max_parallel`, in-place versus destructive updates,
//! rescheduling of failed allocations (now, later, never), drain
//! migrations and lost replacements (Nomad scheduler/reconcile.go).

mod sched;

use drover_api::*;
use drover_scheduler::reconcile::{DESC_MIGRATING, DESC_RESCHEDULED, DESC_UPDATING};
use drover_state::command::NodeUpdateDrain;
use drover_state::{Command, WatchSet};
use sched::{H, T0};

const S: i64 = 1_000_000_000;

fn rolling(max_parallel: i32) -> Option<UpdateStrategy> {
    Some(UpdateStrategy {
        max_parallel,
        ..Default::default()
    })
}

/// Three nodes, job `web` (3 × 100 MHz) placed, with `update` given.
fn placed_web(update: Option<UpdateStrategy>) -> H {
    let mut h = H::new();
    for i in 0..3 {
        h.node(&format!("n{i}"), 4000, 4096, &[]);
    }
    let eval = h.job("web", JobType::Service, 3, 100, 64, vec![]);
    h.schedule(&eval);
    if update.is_some() {
        let mut job = h.stored_job("web");
        job.task_groups[0].update = update;
        let eval = h.register(job);
        let plan = h.schedule(&eval);
        assert_eq!(
            plan.desired_updates["g"].in_place_update, 3,
            "update block is in place"
        );
    }
    assert_eq!(h.live_allocs("web").len(), 3);
    h
}

/// Register a new version of `web` with a changed env: a destructive change.
fn bump_env(h: &mut H, value: &str) -> Evaluation {
    let mut job = h.stored_job("web");
    job.task_groups[0].tasks[0]
        .env
        .insert("VERSION".into(), value.into());
    h.register(job)
}

fn versions(h: &H) -> Vec<u64> {
    let mut v: Vec<u64> =
        h.st.allocs_by_job(&mut WatchSet::new(), "default", "web")
            .filter(|r| !r.alloc.is_terminal())
            .map(|r| r.job_version)
            .collect();
    v.sort();
    v
}

#[test]
fn max_parallel_one_rolls_one_allocation_at_a_time() {
    let mut h = placed_web(rolling(1));
    let eval = bump_env(&mut h, "2");
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 1);
    assert_eq!(plan.stopped.len(), 1);
    assert_eq!(plan.stopped[0].desired_description, DESC_UPDATING);
    assert_eq!(plan.placed[0].previous_allocation, plan.stopped[0].id);
    assert_eq!(plan.desired_updates["g"].destructive_update, 1);
    assert_eq!(plan.desired_updates["g"].ignore, 2);
    assert_eq!(versions(&h), [1, 1, 2]);

    // Until the replacement reports healthy, nothing else moves.
    let again = h.eval_for("web", JobType::Service);
    assert!(h.schedule(&again).is_noop());
    let mut new = plan.placed[0].id.clone();
    for round in 0..2 {
        h.report(&new, AllocClientStatus::Running, Some(true), T0 + S);
        let next = h.eval_for("web", JobType::Service);
        let plan = h.schedule(&next);
        assert_eq!(plan.placed.len(), 1, "round {round}");
        assert_eq!(plan.stopped.len(), 1, "round {round}");
        new = plan.placed[0].id.clone();
    }
    assert_eq!(versions(&h), [2, 2, 2]);
    h.report(&new, AllocClientStatus::Running, Some(true), T0 + S);
    let done = h.eval_for("web", JobType::Service);
    assert!(h.schedule(&done).is_noop());
}

#[test]
fn an_unhealthy_replacement_stops_the_rollout() {
    let mut h = placed_web(rolling(2));
    let eval = bump_env(&mut h, "2");
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 2);
    h.report(
        &plan.placed[0].id,
        AllocClientStatus::Running,
        Some(true),
        T0,
    );
    h.report(
        &plan.placed[1].id,
        AllocClientStatus::Running,
        Some(false),
        T0,
    );
    let next = h.eval_for("web", JobType::Service);
    assert!(h.schedule(&next).is_noop());
    assert_eq!(versions(&h), [1, 2, 2]);
}

#[test]
fn without_an_update_block_every_allocation_is_replaced_at_once() {
    let mut h = placed_web(None);
    let eval = bump_env(&mut h, "2");
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 3);
    assert_eq!(plan.desired_updates["g"].destructive_update, 3);
    assert_eq!(versions(&h), [1, 1, 1], "all on the second version");
}

#[test]
fn a_change_no_task_sees_updates_in_place() {
    let mut h = placed_web(None);
    let before: Vec<String> = h.live_allocs("web").into_iter().map(|a| a.id).collect();
    let mut job = h.stored_job("web");
    job.task_groups[0].restart_policy = Some(RestartPolicy {
        attempts: 9,
        ..Default::default()
    });
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    assert!(plan.stopped.is_empty());
    assert_eq!(plan.desired_updates["g"].in_place_update, 3);
    let mut after: Vec<String> = plan.placed.iter().map(|a| a.id.clone()).collect();
    after.sort();
    let mut before = before;
    before.sort();
    assert_eq!(after, before, "the same allocations, updated");
    assert_eq!(versions(&h), [1, 1, 1]);
}

#[test]
fn a_resource_change_is_destructive_and_frees_the_old_room_first() {
    // One node with room for exactly one allocation: replacing it in place
    // of itself works only if the old one's room counts as free.
    let mut h = H::new();
    h.node("n0", 1000, 1024, &[]);
    let eval = h.job("web", JobType::Service, 1, 800, 64, vec![]);
    h.schedule(&eval);
    let mut job = h.stored_job("web");
    job.task_groups[0].tasks[0].resources.cpu = 900;
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    assert_eq!(plan.placed.len(), 1, "{:?}", plan.failed_tg_allocs);
    assert_eq!(plan.placed[0].node_id, "n0");
    assert_eq!(plan.stopped[0].desired_description, DESC_UPDATING);
}

fn batch_policy(attempts: i32, delay: i64) -> Option<ReschedulePolicy> {
    Some(ReschedulePolicy {
        attempts,
        interval: 3600 * S,
        delay,
        delay_function: "constant".into(),
        ..Default::default()
    })
}

#[test]
fn a_failed_allocation_is_rescheduled_later_then_replaced_elsewhere() {
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    h.node("n1", 4000, 4096, &[]);
    let mut job = H::job_spec("web", JobType::Service, 1, 100, 64, vec![]);
    job.task_groups[0].reschedule_policy = batch_policy(1, 30 * S);
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    let first = plan.placed[0].clone();
    let failed_at = T0 + 10 * S;
    h.report(&first.id, AllocClientStatus::Failed, None, failed_at);

    // Not due yet: a follow-up eval waits until the delay has passed, and
    // the failed allocation keeps its slot meanwhile.
    let eval = h.eval_for("web", JobType::Service);
    let plan = h.schedule_at(&eval, failed_at);
    assert!(plan.placed.is_empty());
    assert_eq!(plan.followup_evals.len(), 1);
    let followup = plan.followup_evals[0].clone();
    assert_eq!(followup.wait_until, Some(failed_at + 30 * S));
    assert_eq!(followup.triggered_by, "alloc-failure");
    let stored = h.st.alloc(&mut WatchSet::new(), &first.id).unwrap();
    assert_eq!(stored.alloc.followup_eval_id, followup.id);

    // The follow-up eval replaces it, away from the node it failed on.
    let plan = h.schedule_at(&followup, failed_at + 30 * S);
    assert_eq!(plan.placed.len(), 1);
    let next = &plan.placed[0];
    assert_eq!(next.previous_allocation, first.id);
    assert_ne!(next.node_id, first.node_id, "penalty on the failed node");
    let tracker = next.reschedule_tracker.as_ref().unwrap();
    assert_eq!(tracker.events.len(), 1);
    assert_eq!(tracker.events[0].prev_alloc_id, first.id);
    assert_eq!(tracker.events[0].delay, 30 * S);
    assert_eq!(plan.stopped[0].desired_description, DESC_RESCHEDULED);
    let old = h.st.alloc(&mut WatchSet::new(), &first.id).unwrap();
    assert_eq!(old.alloc.next_allocation, next.id);

    // Attempts spent: the next failure is left alone and the group runs short.
    let second_fail = failed_at + 40 * S;
    h.report(&next.id, AllocClientStatus::Failed, None, second_fail);
    let eval = h.eval_for("web", JobType::Service);
    let plan = h.schedule_at(&eval, second_fail + 3600 * S / 2);
    assert!(plan.is_noop(), "{plan:?}");
    assert_eq!(plan.desired_updates["g"].ignore, 1);
}

#[test]
fn a_failure_due_now_is_replaced_in_the_same_eval() {
    let mut h = H::new();
    h.node("n0", 4000, 4096, &[]);
    let mut job = H::job_spec("web", JobType::Service, 2, 100, 64, vec![]);
    job.task_groups[0].reschedule_policy = batch_policy(3, 0);
    let eval = h.register(job);
    let plan = h.schedule(&eval);
    h.report(&plan.placed[0].id, AllocClientStatus::Failed, None, T0);
    let eval = h.eval_for("web", JobType::Service);
    let plan = h.schedule_at(&eval, T0);
    assert_eq!(plan.placed.len(), 1);
    assert!(plan.followup_evals.is_empty());
    assert_eq!(plan.desired_updates["g"].place, 1);
    assert_eq!(h.live_allocs("web").len(), 2);
}

#[test]
fn a_draining_node_migrates_service_allocations() {
    let mut h = placed_web(None);
    let victim = h.live_allocs("web")[0].clone();
    let on_node: Vec<Allocation> = h
        .live_allocs("web")
        .into_iter()
        .filter(|a| a.node_id == victim.node_id)
        .collect();
    h.apply(Command::NodeUpdateDrain(NodeUpdateDrain {
        node_id: victim.node_id.clone(),
        drain_strategy: Some(DrainStrategy::default()),
        mark_eligible: false,
        event: None,
        meta: Default::default(),
        evals: vec![],
        now: T0,
    }));
    let eval = h.eval_for("web", JobType::Service);
    let plan = h.schedule(&eval);
    assert_eq!(plan.desired_updates["g"].migrate, on_node.len() as u64);
    assert_eq!(plan.placed.len(), on_node.len());
    for old in &on_node {
        let new = plan
            .placed
            .iter()
            .find(|a| a.previous_allocation == old.id)
            .expect("a replacement");
        assert_ne!(new.node_id, victim.node_id);
        assert_eq!(new.name, old.name, "the replacement keeps the name");
        let stop = plan.stopped.iter().find(|s| s.id == old.id).unwrap();
        assert_eq!(stop.desired_description, DESC_MIGRATING);
    }
    assert!(h
        .live_allocs("web")
        .iter()
        .all(|a| a.node_id != victim.node_id));
}
