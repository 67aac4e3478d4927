//! Deployment health of one allocation, as Nomad's client decides it with
//! `health_check = "task_states"` (client/allochealth/tracker.go and the
//! alloc runner's health hook).
//!
//! Only an allocation that belongs to a deployment is watched, and only
//! when its group's update strategy does not ask for `manual` health
//! (then an operator sets it with `/v1/deployment/allocation-health`).
//! Drover has no service checks, so `checks` (Nomad's default) is judged
//! on task states too, as Nomad does for a group without checks.
//!
//! - Healthy: every watched task has been `running` for
//!   `min_healthy_time` without a break; a task leaving `running` restarts
//!   the clock.
//! - Unhealthy: a task failed, or `healthy_deadline` passed first.
//!
//! The verdict is final for the deployment; an in-place update that moves
//! the allocation to a new deployment starts a new watch.

use std::time::{Duration, Instant};

use drover_api::{AllocDeploymentStatus, Allocation};

/// Nomad's default update strategy values (`structs.DefaultUpdateStrategy`),
/// used when a group has none or leaves a duration at zero.
const DEFAULT_MIN_HEALTHY_TIME: Duration = Duration::from_secs(10);
const DEFAULT_HEALTHY_DEADLINE: Duration = Duration::from_secs(5 * 60);

/// The watch of one allocation in one deployment.
#[derive(Debug, Clone)]
pub struct Health {
    deployment_id: String,
    canary: bool,
    min_healthy_time: Duration,
    /// After this, a still-undecided allocation is unhealthy.
    deadline: Instant,
    /// When every watched task will have been running long enough; set
    /// while they all run.
    healthy_at: Option<Instant>,
    verdict: Option<AllocDeploymentStatus>,
}

/// What the watched tasks look like right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observed {
    /// A task (ephemeral or not) failed.
    pub any_failed: bool,
    /// There are watched tasks and every one is running.
    pub all_running: bool,
}

impl Health {
    /// The watch for `alloc`, or `None` when nothing is to be decided: no
    /// deployment, manual health, or a verdict the servers already hold.
    /// The server has already merged a job-level `update` block into
    /// each group, so only the group's is read.
    pub fn watch(alloc: &Allocation, now: Instant) -> Option<Health> {
        if alloc.deployment_id.is_empty() {
            return None;
        }
        let update = alloc
            .job
            .as_deref()
            .and_then(|j| j.task_group(&alloc.task_group))
            .and_then(|tg| tg.update.clone())
            .unwrap_or_default();
        if update.health_check == "manual" {
            return None;
        }
        let known = alloc.deployment_status.clone().unwrap_or_default();
        let verdict = known.healthy.is_some().then(|| known.clone());
        Some(Health {
            deployment_id: alloc.deployment_id.clone(),
            canary: known.canary,
            min_healthy_time: or_default(update.min_healthy_time, DEFAULT_MIN_HEALTHY_TIME, true),
            deadline: now + or_default(update.healthy_deadline, DEFAULT_HEALTHY_DEADLINE, false),
            healthy_at: None,
            verdict,
        })
    }

    pub fn deployment_id(&self) -> &str {
        &self.deployment_id
    }

    /// The status to report: `None` until decided.
    pub fn verdict(&self) -> Option<&AllocDeploymentStatus> {
        self.verdict.as_ref()
    }

    /// When [`Health::observe`] must run again even if no task changes.
    pub fn wake_at(&self) -> Option<Instant> {
        if self.verdict.is_some() {
            return None;
        }
        Some(match self.healthy_at {
            Some(h) => h.min(self.deadline),
            None => self.deadline,
        })
    }

    /// Folds in the task states at `now`; `stamp` is the wall-clock time
    /// (unix ns) recorded with a verdict. Returns true when this call
    /// decided.
    pub fn observe(&mut self, seen: Observed, now: Instant, stamp: i64) -> bool {
        if self.verdict.is_some() {
            return false;
        }
        let healthy = if seen.any_failed {
            Some(false)
        } else if seen.all_running {
            let at = *self.healthy_at.get_or_insert(now + self.min_healthy_time);
            if now >= at {
                Some(true)
            } else if now >= self.deadline {
                Some(false)
            } else {
                None
            }
        } else {
            self.healthy_at = None;
            (now >= self.deadline).then_some(false)
        };
        let Some(healthy) = healthy else { return false };
        self.verdict = Some(AllocDeploymentStatus {
            healthy: Some(healthy),
            timestamp: Some(stamp),
            canary: self.canary,
            modify_index: 0,
        });
        true
    }
}

/// A zero duration takes Nomad's default; `min_healthy_time` may be zero
/// on purpose only when the group set it, which cannot be told from the
/// wire, so zero there means zero.
fn or_default(nanos: i64, default: Duration, zero_ok: bool) -> Duration {
    match nanos {
        n if n > 0 => Duration::from_nanos(n as u64),
        0 if zero_ok => Duration::ZERO,
        _ => default,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{Job, TaskGroup, UpdateStrategy};

    fn alloc(update: Option<UpdateStrategy>, deployment: &str) -> Allocation {
        let job = Job {
            task_groups: vec![TaskGroup {
                name: "web".into(),
                update,
                ..TaskGroup::default()
            }],
            ..Job::default()
        };
        Allocation {
            task_group: "web".into(),
            deployment_id: deployment.into(),
            job: Some(job.into()),
            ..Allocation::default()
        }
    }

    fn strategy(min_healthy_s: i64, deadline_s: i64, check: &str) -> Option<UpdateStrategy> {
        Some(UpdateStrategy {
            min_healthy_time: min_healthy_s * 1_000_000_000,
            healthy_deadline: deadline_s * 1_000_000_000,
            health_check: check.into(),
            ..UpdateStrategy::default()
        })
    }

    const RUNNING: Observed = Observed {
        any_failed: false,
        all_running: true,
    };
    const STARTING: Observed = Observed {
        any_failed: false,
        all_running: false,
    };
    const FAILED: Observed = Observed {
        any_failed: true,
        all_running: false,
    };

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn only_deployment_allocs_without_manual_health_are_watched() {
        let t = Instant::now();
        assert!(Health::watch(&alloc(strategy(1, 5, "task_states"), ""), t).is_none());
        assert!(Health::watch(&alloc(strategy(1, 5, "manual"), "d1"), t).is_none());
        assert!(Health::watch(&alloc(strategy(1, 5, "checks"), "d1"), t).is_some());
        // No update block at all: Nomad's defaults apply.
        let h = Health::watch(&alloc(None, "d1"), t).expect("watched");
        assert_eq!(h.wake_at(), Some(t + DEFAULT_HEALTHY_DEADLINE));
    }

    #[test]
    fn healthy_after_min_healthy_time_of_unbroken_running() {
        let t = Instant::now();
        let mut h = Health::watch(&alloc(strategy(2, 60, ""), "d1"), t).expect("watched");
        assert!(!h.observe(STARTING, t, 1));
        assert!(!h.observe(RUNNING, t + secs(1), 2));
        assert_eq!(h.wake_at(), Some(t + secs(3)));
        // A restart in between starts the clock again.
        assert!(!h.observe(STARTING, t + secs(2), 3));
        assert!(!h.observe(RUNNING, t + secs(3), 4));
        assert!(!h.observe(RUNNING, t + secs(4), 5));
        assert!(h.observe(RUNNING, t + secs(5), 6));
        let v = h.verdict().expect("decided");
        assert_eq!((v.healthy, v.timestamp), (Some(true), Some(6)));
        // Decided once: a later failure does not change it.
        assert!(!h.observe(FAILED, t + secs(6), 7));
        assert_eq!(h.verdict().and_then(|v| v.healthy), Some(true));
        assert_eq!(h.wake_at(), None);
    }

    #[test]
    fn unhealthy_on_failure_or_at_the_deadline() {
        let t = Instant::now();
        let mut h = Health::watch(&alloc(strategy(1, 10, ""), "d1"), t).expect("watched");
        assert!(h.observe(FAILED, t, 1));
        assert_eq!(h.verdict().and_then(|v| v.healthy), Some(false));

        let mut h = Health::watch(&alloc(strategy(1, 10, ""), "d1"), t).expect("watched");
        assert!(!h.observe(STARTING, t + secs(9), 1));
        assert!(h.observe(STARTING, t + secs(10), 2));
        assert_eq!(h.verdict().and_then(|v| v.healthy), Some(false));

        // Running, but not long enough before the deadline.
        let mut h = Health::watch(&alloc(strategy(5, 10, ""), "d1"), t).expect("watched");
        assert!(!h.observe(RUNNING, t + secs(8), 1));
        assert_eq!(h.wake_at(), Some(t + secs(10)));
        assert!(h.observe(RUNNING, t + secs(10), 2));
        assert_eq!(h.verdict().and_then(|v| v.healthy), Some(false));
    }

    #[test]
    fn canary_flag_and_known_verdicts_are_kept() {
        let t = Instant::now();
        let mut a = alloc(strategy(0, 10, ""), "d1");
        a.deployment_status = Some(AllocDeploymentStatus {
            canary: true,
            ..AllocDeploymentStatus::default()
        });
        let mut h = Health::watch(&a, t).expect("watched");
        assert!(h.observe(RUNNING, t, 9));
        assert!(h.verdict().is_some_and(|v| v.canary));

        a.deployment_status = Some(AllocDeploymentStatus {
            healthy: Some(true),
            ..AllocDeploymentStatus::default()
        });
        let h = Health::watch(&a, t).expect("watched");
        assert_eq!(h.verdict().and_then(|v| v.healthy), Some(true));
    }
}
