//! When a failed allocation is replaced, and with what history: the
//! arithmetic of a group's `reschedule` policy (Nomad nomad/structs/structs.go
//! `Allocation.NextDelay`, `NextRescheduleTime`, `RescheduleEligible`, and
//! scheduler/generic_sched.go `updateRescheduleTracker`). Pure functions of
//! the allocation, the policy and a time.

use drover_api::{
    AllocClientStatus, AllocDesiredStatus, Allocation, Nanos, RescheduleEvent, ReschedulePolicy,
    RescheduleTracker,
};

/// Unlimited policies keep only this many past events (Nomad
/// `maxPastRescheduleEvents`), so a crash loop cannot grow the tracker.
pub const MAX_PAST_EVENTS: usize = 5;

/// A failure due within this window is rescheduled now rather than through a
/// follow-up eval (Nomad `rescheduleWindowSize`, one second).
pub const WINDOW: Nanos = 1_000_000_000;

/// Follow-up evals for failures due within this span of each other are
/// shared (Nomad `batchedFailedAllocWindowSize`, five seconds).
pub const BATCH_WINDOW: Nanos = 5_000_000_000;

/// What the scheduler does with one failed allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Place a replacement in this plan.
    Now,
    /// Replace it at this time (unix ns), through a follow-up eval.
    Later(i64),
    /// Its policy is spent (or it has none): it stays failed and keeps its
    /// slot, so the group runs short, as in Nomad.
    Never,
}

/// When the allocation last changed on the client: the latest task finish,
/// else its modify time (Nomad `LastEventTime`).
pub fn last_event_time(a: &Allocation) -> i64 {
    a.task_states
        .iter()
        .filter_map(|(_, s)| s.finished_at)
        .max()
        .unwrap_or(a.modify_time)
}

/// The delay before the next replacement: constant, doubled, or the sum of
/// the last two (fibonacci), capped at `MaxDelay`; after the cap, a failure
/// that comes long after the last reschedule starts the series over.
pub fn next_delay(a: &Allocation, policy: &ReschedulePolicy) -> Nanos {
    let events = a
        .reschedule_tracker
        .as_ref()
        .map(|t| t.events.as_slice())
        .unwrap_or_default();
    let Some(last) = events.last() else {
        return policy.delay;
    };
    let delay = match policy.delay_function.as_str() {
        "exponential" => last.delay.saturating_mul(2),
        "fibonacci" => match events.len() {
            0 | 1 => policy.delay,
            n => {
                let (older, newer) = (events[n - 2].delay, events[n - 1].delay);
                if older == policy.max_delay && newer == policy.delay {
                    newer
                } else {
                    older.saturating_add(newer)
                }
            }
        },
        _ => return policy.delay,
    };
    if policy.max_delay > 0 && delay > policy.max_delay {
        let since_last = last_event_time(a).saturating_sub(last.reschedule_time);
        if since_last > policy.max_delay {
            return policy.delay;
        }
        return policy.max_delay;
    }
    delay
}

/// Reschedules counted against `Attempts`: those within `Interval` of the
/// failure.
fn attempted(a: &Allocation, policy: &ReschedulePolicy, fail_time: i64) -> usize {
    a.reschedule_tracker.as_ref().map_or(0, |t| {
        t.events
            .iter()
            .filter(|e| fail_time.saturating_sub(e.reschedule_time) < policy.interval)
            .count()
    })
}

/// When the allocation may be replaced, and whether it may be at all.
/// `None` when it is not a failed allocation the servers still want.
pub fn next_reschedule_time(a: &Allocation, policy: &ReschedulePolicy) -> Option<(i64, bool)> {
    if a.desired_status != AllocDesiredStatus::Run || a.client_status != AllocClientStatus::Failed {
        return None;
    }
    let fail_time = last_event_time(a);
    if fail_time == 0 {
        return None;
    }
    let delay = next_delay(a, policy);
    let at = fail_time.saturating_add(delay);
    let has_events = a
        .reschedule_tracker
        .as_ref()
        .is_some_and(|t| !t.events.is_empty());
    let eligible = if policy.unlimited {
        true
    } else if policy.attempts <= 0 {
        false
    } else if !has_events {
        true
    } else {
        let limit = usize::try_from(policy.attempts).unwrap_or(0);
        attempted(a, policy, fail_time) < limit && delay < policy.interval
    };
    Some((at, eligible))
}

/// Decide for one failed allocation (Nomad reconcile_util.go
/// `updateByReschedulable`): a forced reschedule, the eval the allocation
/// waits for, or a due time within [`WINDOW`] replaces it now.
pub fn decide(
    a: &Allocation,
    policy: Option<&ReschedulePolicy>,
    eval_id: &str,
    now: i64,
) -> Decision {
    if a.desired_transition.force_reschedule == Some(true) {
        return Decision::Now;
    }
    let Some(policy) = policy else {
        return Decision::Never;
    };
    match next_reschedule_time(a, policy) {
        Some((at, true)) => {
            if a.followup_eval_id == eval_id || at.saturating_sub(now) <= WINDOW {
                Decision::Now
            } else {
                Decision::Later(at)
            }
        }
        _ => Decision::Never,
    }
}

/// The tracker a replacement of `prev` carries: the earlier events still
/// inside the interval (the last [`MAX_PAST_EVENTS`] when unlimited), plus
/// this reschedule.
pub fn tracker_for(
    prev: &Allocation,
    policy: Option<&ReschedulePolicy>,
    now: i64,
) -> RescheduleTracker {
    let past = prev
        .reschedule_tracker
        .as_ref()
        .map(|t| t.events.as_slice())
        .unwrap_or_default();
    let mut events: Vec<RescheduleEvent> = match policy {
        Some(p) if p.attempts > 0 => past
            .iter()
            .filter(|e| p.interval > 0 && now.saturating_sub(e.reschedule_time) <= p.interval)
            .cloned()
            .collect(),
        _ => past[past.len().saturating_sub(MAX_PAST_EVENTS)..].to_vec(),
    };
    events.push(RescheduleEvent {
        reschedule_time: now,
        prev_alloc_id: prev.id.clone(),
        prev_node_id: prev.node_id.clone(),
        delay: policy.map_or(0, |p| next_delay(prev, p)),
    });
    RescheduleTracker { events }
}

/// Nodes a replacement should avoid: where the allocation failed and where
/// its predecessors ran (Nomad `getSelectOptions` penalty nodes).
pub fn penalty_nodes(prev: &Allocation) -> Vec<String> {
    let mut nodes = Vec::new();
    if prev.client_status == AllocClientStatus::Failed {
        nodes.push(prev.node_id.clone());
    }
    if let Some(t) = &prev.reschedule_tracker {
        nodes.extend(t.events.iter().map(|e| e.prev_node_id.clone()));
    }
    nodes.sort();
    nodes.dedup();
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{SmallMap, TaskState};

    const S: Nanos = 1_000_000_000;

    fn failed_at(t: i64, events: &[(i64, Nanos)]) -> Allocation {
        let mut states = SmallMap::default();
        states.insert(
            "web".to_string(),
            TaskState {
                finished_at: Some(t),
                failed: true,
                ..Default::default()
            },
        );
        Allocation {
            id: "a".into(),
            node_id: "n1".into(),
            client_status: AllocClientStatus::Failed,
            task_states: states,
            reschedule_tracker: (!events.is_empty()).then(|| RescheduleTracker {
                events: events
                    .iter()
                    .map(|&(at, delay)| RescheduleEvent {
                        reschedule_time: at,
                        prev_alloc_id: "p".into(),
                        prev_node_id: "n0".into(),
                        delay,
                    })
                    .collect(),
            }),
            ..Default::default()
        }
    }

    fn policy(function: &str, attempts: i32, unlimited: bool) -> ReschedulePolicy {
        ReschedulePolicy {
            attempts,
            interval: 3600 * S,
            delay: 5 * S,
            delay_function: function.into(),
            max_delay: 60 * S,
            unlimited,
        }
    }

    #[test]
    fn delays_follow_the_delay_function_up_to_max_delay() {
        let p = policy("exponential", 0, true);
        assert_eq!(next_delay(&failed_at(100 * S, &[]), &p), 5 * S);
        assert_eq!(
            next_delay(&failed_at(100 * S, &[(90 * S, 5 * S)]), &p),
            10 * S
        );
        assert_eq!(
            next_delay(&failed_at(100 * S, &[(90 * S, 40 * S)]), &p),
            60 * S
        );
        let f = policy("fibonacci", 0, true);
        let a = failed_at(100 * S, &[(80 * S, 5 * S), (90 * S, 10 * S)]);
        assert_eq!(next_delay(&a, &f), 15 * S);
        let c = policy("constant", 0, true);
        assert_eq!(next_delay(&a, &c), 5 * S);
    }

    #[test]
    fn capped_delay_resets_after_a_long_healthy_run() {
        // Nomad `NextDelay`: past the cap, a failure more than MaxDelay after
        // the last reschedule starts again from Delay.
        let p = policy("exponential", 0, true);
        let a = failed_at(1000 * S, &[(10 * S, 40 * S)]);
        assert_eq!(next_delay(&a, &p), 5 * S);
    }

    #[test]
    fn attempts_within_the_interval_are_counted() {
        let p = policy("constant", 2, false);
        let now = 4000 * S;
        assert_eq!(
            next_reschedule_time(&failed_at(now, &[]), &p),
            Some((now + 5 * S, true))
        );
        let one = failed_at(now, &[(now - 10 * S, 5 * S)]);
        assert_eq!(next_reschedule_time(&one, &p).map(|x| x.1), Some(true));
        let two = failed_at(now, &[(now - 20 * S, 5 * S), (now - 10 * S, 5 * S)]);
        assert_eq!(next_reschedule_time(&two, &p).map(|x| x.1), Some(false));
        // Outside the interval they no longer count.
        let old = failed_at(now, &[(now - 3700 * S, 5 * S), (now - 10 * S, 5 * S)]);
        assert_eq!(next_reschedule_time(&old, &p).map(|x| x.1), Some(true));
    }

    #[test]
    fn decisions() {
        let p = policy("constant", 1, false);
        let a = failed_at(100 * S, &[]);
        assert_eq!(decide(&a, Some(&p), "e", 100 * S), Decision::Later(105 * S));
        assert_eq!(decide(&a, Some(&p), "e", 104 * S + 1), Decision::Now);
        let mut waiting = a.clone();
        waiting.followup_eval_id = "e".into();
        assert_eq!(decide(&waiting, Some(&p), "e", 100 * S), Decision::Now);
        assert_eq!(decide(&a, None, "e", 200 * S), Decision::Never);
        let spent = failed_at(100 * S, &[(99 * S, 5 * S)]);
        assert_eq!(decide(&spent, Some(&p), "e", 200 * S), Decision::Never);
        let mut forced = spent.clone();
        forced.desired_transition.force_reschedule = Some(true);
        assert_eq!(decide(&forced, Some(&p), "e", 200 * S), Decision::Now);
        let mut running = a.clone();
        running.client_status = AllocClientStatus::Running;
        assert_eq!(decide(&running, Some(&p), "e", 200 * S), Decision::Never);
    }

    #[test]
    fn tracker_keeps_recent_events_and_appends_this_one() {
        let p = policy("constant", 3, false);
        let prev = failed_at(100 * S, &[(1, 5 * S), (90 * S, 5 * S)]);
        let t = tracker_for(&prev, Some(&p), 3650 * S);
        let times: Vec<i64> = t.events.iter().map(|e| e.reschedule_time).collect();
        assert_eq!(times, vec![90 * S, 3650 * S]);
        assert_eq!(t.events[1].prev_alloc_id, "a");
        assert_eq!(t.events[1].prev_node_id, "n1");
        let unlimited = policy("constant", 0, true);
        let long: Vec<(i64, Nanos)> = (0..8).map(|i| (i * S, 5 * S)).collect();
        let t = tracker_for(&failed_at(100 * S, &long), Some(&unlimited), 200 * S);
        assert_eq!(t.events.len(), MAX_PAST_EVENTS + 1);
        assert_eq!(penalty_nodes(&failed_at(1, &[(0, 0)])), vec!["n0", "n1"]);
    }
}
