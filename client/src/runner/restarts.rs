//! The restart policy, as Nomad's `restarts.RestartTracker` applies it.
//!
//! Pure: the caller records what happened (an exit, a start error, a kill,
//! a user restart) and asks [`RestartTracker::decide`] with the current
//! time. Failures are counted per interval: the count resets when `now` is
//! past the interval's start plus `interval`. Within `attempts` the task
//! restarts after `delay` plus Nomad's jitter (a uniform extra of up to 25%
//! of `delay`; none when `delay` is 0). Past `attempts`, mode `fail` stops
//! the task for good and mode `delay` waits until the interval ends.
//! A zero exit of a batch or sysbatch task is a success and never restarts;
//! any exit of a service or system task counts (Nomad's `onSuccess`).
//! A user-requested restart restarts at once and is not counted.

use std::time::{Duration, Instant};

use drover_api::{JobType, RestartPolicy};

use super::nanos_to_duration;
use crate::driver::ExitResult;

pub const REASON_NO_RESTARTS_ALLOWED: &str = "Policy allows no restarts";
pub const REASON_UNRECOVERABLE: &str = "Error was unrecoverable";
pub const REASON_WITHIN_POLICY: &str = "Restart within policy";
pub const REASON_DELAY: &str = "Exceeded allowed attempts, applying a delay";
pub const REASON_SUCCESS: &str = "Restart unnecessary as task terminated successfully";

/// Nomad's jitter fraction of `delay`.
const JITTER: f64 = 0.25;

/// What to do after the task stopped running.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start again after the delay (`Restarting`).
    Restart { delay: Duration, reason: String },
    /// Give up and fail the task (`Not Restarting`).
    NotRestarting { reason: String },
    /// A successful batch exit: dead, not failed, no event.
    Terminated,
    /// The task was killed on purpose: emit `Killed`, never restart.
    Killed,
}

/// The policy in effect for a task: the task's own, else the group's, else
/// Nomad's default for the job type.
pub fn effective_policy(
    task: Option<&RestartPolicy>,
    group: Option<&RestartPolicy>,
    job_type: JobType,
) -> RestartPolicy {
    if let Some(p) = task.or(group) {
        return p.clone();
    }
    const SEC: i64 = 1_000_000_000;
    match job_type {
        JobType::Batch | JobType::Sysbatch => RestartPolicy {
            attempts: 3,
            interval: 24 * 3600 * SEC,
            delay: 15 * SEC,
            mode: "fail".to_string(),
            render_templates: false,
        },
        JobType::Service | JobType::System => RestartPolicy {
            attempts: 2,
            interval: 30 * 60 * SEC,
            delay: 15 * SEC,
            mode: "fail".to_string(),
            render_templates: false,
        },
    }
}

#[derive(Debug, Clone)]
pub struct RestartTracker {
    policy: RestartPolicy,
    /// Whether a successful exit restarts too (service and system jobs).
    on_success: bool,
    interval_start: Instant,
    count: i32,
    exit: Option<ExitResult>,
    /// `Some(recoverable)` after a start error.
    start_error: Option<bool>,
    killed: bool,
    restart_triggered: bool,
    rng: u64,
}

impl RestartTracker {
    pub fn new(policy: RestartPolicy, job_type: JobType, now: Instant) -> RestartTracker {
        let seed = super::now_nanos().unsigned_abs() ^ (u64::from(std::process::id()) << 32);
        RestartTracker {
            policy,
            on_success: !matches!(job_type, JobType::Batch | JobType::Sysbatch),
            interval_start: now,
            count: 0,
            exit: None,
            start_error: None,
            killed: false,
            restart_triggered: false,
            rng: seed | 1,
        }
    }

    /// A new policy from an in-place update of the job (Nomad's
    /// `SetPolicy`); the attempts counted so far stay.
    pub fn set_policy(&mut self, policy: RestartPolicy) {
        self.policy = policy;
    }

    pub fn set_exit(&mut self, exit: ExitResult) {
        self.exit = Some(exit);
    }

    pub fn set_start_error(&mut self, recoverable: bool) {
        self.start_error = Some(recoverable);
    }

    pub fn set_killed(&mut self) {
        self.killed = true;
    }

    pub fn set_restart_triggered(&mut self) {
        self.restart_triggered = true;
    }

    pub fn killed(&self) -> bool {
        self.killed
    }

    /// Decides from what was recorded since the last decision, then forgets
    /// it (except `killed`, which is final).
    pub fn decide(&mut self, now: Instant) -> Decision {
        let exit = self.exit.take();
        let start_error = self.start_error.take();
        let triggered = std::mem::take(&mut self.restart_triggered);
        if self.killed {
            return Decision::Killed;
        }
        if triggered {
            return Decision::Restart {
                delay: Duration::ZERO,
                reason: String::new(),
            };
        }
        let success = exit.as_ref().is_some_and(ExitResult::successful);
        if self.policy.attempts <= 0 {
            if start_error.is_none() && success && !self.on_success {
                return Decision::Terminated;
            }
            return Decision::NotRestarting {
                reason: REASON_NO_RESTARTS_ALLOWED.to_string(),
            };
        }

        let interval = nanos_to_duration(self.policy.interval);
        let end = self.interval_start + interval;
        if now > end {
            self.count = 0;
            self.interval_start = now;
        }
        self.count += 1;

        match start_error {
            Some(false) => {
                return Decision::NotRestarting {
                    reason: REASON_UNRECOVERABLE.to_string(),
                }
            }
            Some(true) => {}
            None if success && !self.on_success => return Decision::Terminated,
            None => {}
        }

        if self.count > self.policy.attempts {
            if self.policy.mode == "delay" {
                let end = self.interval_start + interval;
                return Decision::Restart {
                    delay: end.saturating_duration_since(now),
                    reason: REASON_DELAY.to_string(),
                };
            }
            return Decision::NotRestarting {
                reason: format!(
                    "Exceeded allowed attempts {} in interval {} and mode is {:?}",
                    self.policy.attempts,
                    super::go_duration(interval),
                    self.policy.mode
                ),
            };
        }
        Decision::Restart {
            delay: self.jittered_delay(),
            reason: REASON_WITHIN_POLICY.to_string(),
        }
    }

    fn jittered_delay(&mut self) -> Duration {
        let delay = nanos_to_duration(self.policy.delay);
        if delay.is_zero() {
            return delay;
        }
        // xorshift64: enough randomness to spread restarts apart.
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let unit = (self.rng >> 11) as f64 / (1u64 << 53) as f64;
        delay + delay.mul_f64(unit * JITTER)
    }
}
