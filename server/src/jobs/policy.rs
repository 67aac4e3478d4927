//! Validation of a group's restart, reschedule and update policies:
//! `RestartPolicy.Validate`, `ReschedulePolicy.Validate` (with
//! `viableAttempts`) and `UpdateStrategy.Validate` in nomad/structs/structs.go.
//!
//! Durations are user input, so every product or sum of them is computed in
//! `i128` (no overflow) and every loop Nomad runs once per attempt is
//! replaced by a bounded one: `Attempts` may be two billion.

use drover_api::{ReschedulePolicy, RestartPolicy, UpdateStrategy};

use super::duration::go_duration;
use super::validate::{field, Errors};
use super::SECOND;

/// `structs.RestartPolicyMinInterval`.
const RESTART_MIN_INTERVAL: i64 = 5 * SECOND;
/// `structs.ReschedulePolicyMinInterval`.
const RESCHEDULE_MIN_INTERVAL: i64 = 15 * SECOND;
/// `structs.ReschedulePolicyMinDelay`.
const RESCHEDULE_MIN_DELAY: i64 = 5 * SECOND;
/// `structs.RescheduleDelayFunctions`.
const DELAY_FUNCTIONS: [&str; 3] = ["constant", "exponential", "fibonacci"];

pub(super) fn validate_restart(rp: &RestartPolicy, path: &str, errs: &mut Errors) {
    if !matches!(rp.mode.as_str(), "delay" | "fail") {
        errs.add(
            field(path, "Mode"),
            format!("Unsupported restart mode: {:?}", rp.mode),
        );
    }
    // Nomad does not check this, but a negative count of restarts has no
    // meaning the client could act on.
    if rp.attempts < 0 {
        errs.add(
            field(path, "Attempts"),
            format!("Attempts can not be negative (got {})", rp.attempts),
        );
    } else if rp.attempts == 0 && rp.mode != "fail" {
        errs.add(
            field(path, "Attempts"),
            format!(
                "Restart policy {:?} with {} attempts is ambiguous",
                rp.mode, rp.attempts
            ),
        );
    }
    if rp.interval < RESTART_MIN_INTERVAL {
        errs.add(
            field(path, "Interval"),
            format!(
                "Interval can not be less than {} (got {})",
                go_duration(RESTART_MIN_INTERVAL),
                go_duration(rp.interval)
            ),
        );
    }
    if i128::from(rp.attempts) * i128::from(rp.delay) > i128::from(rp.interval) {
        errs.add(
            path,
            format!(
                "Nomad can't restart the TaskGroup {} times in an interval of {} with a delay of {}",
                rp.attempts,
                go_duration(rp.interval),
                go_duration(rp.delay)
            ),
        );
    }
}

pub(super) fn validate_reschedule(rp: &ReschedulePolicy, path: &str, errs: &mut Errors) {
    // `ReschedulePolicy.Enabled`: a policy that never reschedules has
    // nothing to get wrong.
    if rp.attempts <= 0 && !rp.unlimited {
        return;
    }
    if rp.attempts > 0 {
        if rp.interval <= 0 {
            errs.add(
                field(path, "Interval"),
                "Interval must be a non zero value if Attempts > 0",
            );
        }
        if rp.unlimited {
            errs.add(
                field(path, "Unlimited"),
                format!(
                    "Reschedule Policy with Attempts = {}, Interval = {}, and Unlimited = true is ambiguous: if Attempts > 0, Unlimited cannot also be set to true",
                    rp.attempts,
                    go_duration(rp.interval)
                ),
            );
        }
    }

    let mut delays_valid = true;
    if rp.delay < RESCHEDULE_MIN_DELAY {
        errs.add(
            field(path, "Delay"),
            format!(
                "Delay cannot be less than {} (got {})",
                go_duration(RESCHEDULE_MIN_DELAY),
                go_duration(rp.delay)
            ),
        );
        delays_valid = false;
    }
    if !DELAY_FUNCTIONS.contains(&rp.delay_function.as_str()) {
        errs.add(
            field(path, "DelayFunction"),
            format!(
                "Invalid delay function {:?}, must be one of [\"constant\" \"exponential\" \"fibonacci\"]",
                rp.delay_function
            ),
        );
        delays_valid = false;
    }
    if rp.delay_function != "constant" {
        if rp.max_delay < RESCHEDULE_MIN_DELAY {
            errs.add(
                field(path, "MaxDelay"),
                format!(
                    "Max Delay cannot be less than {} (got {})",
                    go_duration(RESCHEDULE_MIN_DELAY),
                    go_duration(rp.max_delay)
                ),
            );
            delays_valid = false;
        }
        if rp.max_delay < rp.delay {
            errs.add(
                field(path, "MaxDelay"),
                format!(
                    "Max Delay cannot be less than Delay {} (got {})",
                    go_duration(rp.delay),
                    go_duration(rp.max_delay)
                ),
            );
            delays_valid = false;
        }
    }

    if rp.unlimited {
        return;
    }
    if rp.interval < RESCHEDULE_MIN_INTERVAL {
        errs.add(
            field(path, "Interval"),
            format!(
                "Interval cannot be less than {} (got {})",
                go_duration(RESCHEDULE_MIN_INTERVAL),
                go_duration(rp.interval)
            ),
        );
    }
    // The attempts can only be cross-checked against sane delays.
    if !delays_valid {
        return;
    }
    if let Some((possible, recommended)) = unviable_attempts(rp) {
        let ceiling = if rp.delay_function == "constant" {
            String::new()
        } else {
            format!(", and delay ceiling {}", go_duration(rp.max_delay))
        };
        errs.add(
            path,
            format!(
                "Nomad can only make {possible} attempts in {} with initial delay {} and delay function {:?}{ceiling}; set the interval to at least {} to accommodate {} attempts",
                go_duration(rp.interval),
                go_duration(rp.delay),
                rp.delay_function,
                go_duration(round_to_second(recommended)),
                rp.attempts,
            ),
        );
    }
}

pub(super) fn validate_update(u: &UpdateStrategy, path: &str, errs: &mut Errors) {
    if !matches!(u.health_check.as_str(), "checks" | "task_states" | "manual") {
        errs.add(
            field(path, "HealthCheck"),
            format!("Invalid health check given: {:?}", u.health_check),
        );
    }
    if u.max_parallel < 0 {
        errs.add(
            field(path, "MaxParallel"),
            format!(
                "Max parallel can not be less than zero: {} < 0",
                u.max_parallel
            ),
        );
    }
    if u.canary < 0 {
        errs.add(
            field(path, "Canary"),
            format!("Canary count can not be less than zero: {} < 0", u.canary),
        );
    }
    if u.canary == 0 && u.auto_promote {
        errs.add(
            field(path, "AutoPromote"),
            "Auto Promote requires a Canary count greater than zero",
        );
    }
    if u.min_healthy_time < 0 {
        errs.add(
            field(path, "MinHealthyTime"),
            format!(
                "Minimum healthy time may not be less than zero: {}",
                go_duration(u.min_healthy_time)
            ),
        );
    }
    if u.healthy_deadline <= 0 {
        errs.add(
            field(path, "HealthyDeadline"),
            format!(
                "Healthy deadline must be greater than zero: {}",
                go_duration(u.healthy_deadline)
            ),
        );
    }
    if u.progress_deadline < 0 {
        errs.add(
            field(path, "ProgressDeadline"),
            format!(
                "Progress deadline must be zero or greater: {}",
                go_duration(u.progress_deadline)
            ),
        );
    }
    if u.min_healthy_time >= u.healthy_deadline {
        errs.add(
            field(path, "MinHealthyTime"),
            format!(
                "Minimum healthy time must be less than healthy deadline: {} > {}",
                go_duration(u.min_healthy_time),
                go_duration(u.healthy_deadline)
            ),
        );
    }
    if u.progress_deadline != 0 && u.healthy_deadline >= u.progress_deadline {
        errs.add(
            field(path, "HealthyDeadline"),
            format!(
                "Healthy deadline must be less than progress deadline: {} > {}",
                go_duration(u.healthy_deadline),
                go_duration(u.progress_deadline)
            ),
        );
    }
    if u.stagger <= 0 {
        errs.add(
            field(path, "Stagger"),
            format!(
                "Stagger must be greater than zero: {}",
                go_duration(u.stagger)
            ),
        );
    }
}

/// `ReschedulePolicy.viableAttempts`: `None` when all attempts fit in the
/// interval, otherwise how many do and the interval that would fit them
/// all. Only called with `delay >= 5s`, a known delay function and, for the
/// growing functions, `max_delay >= delay`.
fn unviable_attempts(rp: &ReschedulePolicy) -> Option<(i64, i64)> {
    let attempts = i128::from(rp.attempts.max(0));
    let interval = i128::from(rp.interval);
    let delay = i128::from(rp.delay);
    let max_delay = i128::from(rp.max_delay);
    let (possible, recommended) = match rp.delay_function.as_str() {
        "constant" => {
            let recommended = attempts * delay;
            if interval >= recommended {
                return None;
            }
            (interval / delay, recommended)
        }
        "exponential" => exponential_attempts(attempts, interval, delay, max_delay)?,
        "fibonacci" => fibonacci_attempts(attempts, interval, delay, max_delay)?,
        _ => return None,
    };
    let clamp = |v: i128| i64::try_from(v.max(0)).unwrap_or(i64::MAX);
    Some((clamp(possible), clamp(recommended)))
}

/// Delays double from `delay` until they reach `max_delay`; Nomad counts an
/// attempt as possible while the running figure stays under the interval
/// (the figure is the latest delay until the ceiling, then accumulates
/// `max_delay` per attempt, exactly as Nomad computes it).
fn exponential_attempts(
    attempts: i128,
    interval: i128,
    delay: i128,
    max_delay: i128,
) -> Option<(i128, i128)> {
    let mut possible = 0;
    let mut recommended = 0;
    let mut i = 0;
    // Doubling passes max_delay (<= i64::MAX) within 64 steps.
    while i < attempts && i < 64 {
        let next = delay << i;
        if next > max_delay {
            break;
        }
        recommended = next;
        if recommended < interval {
            possible += 1;
        }
        i += 1;
    }
    // Past the ceiling every attempt adds max_delay (> 0, since it is at
    // least 5s); count the k in 1..=rest with recommended + k*max < interval.
    let rest = attempts - i;
    if rest > 0 {
        let room = interval - recommended;
        let fitting = if room <= 0 {
            0
        } else {
            ((room + max_delay - 1) / max_delay - 1).min(rest)
        };
        possible += fitting;
        recommended += rest * max_delay;
    }
    (possible < attempts).then_some((possible, recommended))
}

/// Delays follow the Fibonacci sequence from `delay, delay` until one
/// exceeds `max_delay`, which is used instead; after that each delay is the
/// previous one plus `max_delay`. Nomad compares the last delay with the
/// interval, and counts the attempts whose delay does not exceed it.
fn fibonacci_attempts(
    attempts: i128,
    interval: i128,
    delay: i128,
    max_delay: i128,
) -> Option<(i128, i128)> {
    // Nomad always computes at least the first two slots.
    let len = attempts.max(2);
    let mut slots = vec![delay, delay];
    let mut ceiling_at = None;
    while (slots.len() as i128) < len {
        let n = slots.len();
        let next = slots[n - 1] + slots[n - 2];
        if next > max_delay {
            slots.push(max_delay);
            ceiling_at = Some(n);
            break;
        }
        slots.push(next);
    }
    // After the ceiling, slot c + k is slots[c] + k * max_delay.
    let slot = |i: i128| -> i128 {
        match ceiling_at {
            Some(c) if i >= c as i128 => max_delay + (i - c as i128) * max_delay,
            _ => usize::try_from(i)
                .ok()
                .and_then(|i| slots.get(i).copied())
                .unwrap_or(0),
        }
    };
    let recommended = slot(len - 1);
    if interval >= recommended {
        return None;
    }
    // The first slot that exceeds the interval; slots only grow.
    let first_over = match ceiling_at {
        Some(c) if slot(c as i128) <= interval => {
            let over = (interval - max_delay) / max_delay + 1;
            c as i128 + over
        }
        _ => slots
            .iter()
            .position(|&s| s > interval)
            .map_or(0, |p| p as i128),
    };
    Some((first_over, recommended))
}

/// Go's `Duration.Round(time.Second)`: half away from zero.
fn round_to_second(nanos: i64) -> i64 {
    let rem = nanos % SECOND;
    let down = nanos - rem;
    if rem.abs() * 2 >= SECOND {
        down.saturating_add(rem.signum() * SECOND)
    } else {
        down
    }
}
