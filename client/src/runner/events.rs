//! Task events with Nomad's type strings, typed fields, `Details` keys and
//! display messages (Nomad's `structs.TaskEvent` setters and
//! `PopulateEventDisplayMessage`).

use std::time::Duration;

use drover_api::TaskEvent;

use super::{duration_to_nanos, go_duration, now_nanos};

pub const RECEIVED: &str = "Received";
pub const TASK_SETUP: &str = "Task Setup";
pub const SETUP_FAILURE: &str = "Setup Failure";
pub const DRIVER_FAILURE: &str = "Driver Failure";
pub const STARTED: &str = "Started";
pub const TERMINATED: &str = "Terminated";
pub const KILLING: &str = "Killing";
pub const KILLED: &str = "Killed";
pub const RESTARTING: &str = "Restarting";
pub const NOT_RESTARTING: &str = "Not Restarting";
pub const RESTART_SIGNAL: &str = "Restart Signaled";
pub const SIGNALING: &str = "Signaling";
pub const SIBLING_FAILED: &str = "Sibling Task Failed";
pub const LEADER_DEAD: &str = "Leader Task Dead";
pub const MAIN_DEAD: &str = "Main Tasks Dead";
pub const WAITING_SHUTDOWN_DELAY: &str = "Waiting for shutdown delay";
/// Drover's own event before `Terminated` when the kernel killed the task
/// for memory, naming the limit (hashicorp/nomad#12735 asks for that).
pub const OOM_KILLED: &str = "OOM Killed";

/// The message of the `Task Setup` event the task directory step emits.
pub const BUILDING_TASK_DIR: &str = "Building Task Directory";

/// The restart reason of a user-requested restart.
pub const USER_RESTART_REASON: &str = "User requested restart";

/// Nomad keeps this many events per task, dropping the oldest.
pub const MAX_EVENTS: usize = 10;

/// A bare event of `event_type`, stamped now.
pub fn new(event_type: &str) -> TaskEvent {
    TaskEvent {
        event_type: event_type.to_string(),
        time: now_nanos(),
        ..TaskEvent::default()
    }
}

pub fn task_setup(message: &str) -> TaskEvent {
    TaskEvent {
        message: message.to_string(),
        ..new(TASK_SETUP)
    }
}

pub fn setup_failure(error: &str) -> TaskEvent {
    let mut ev = new(SETUP_FAILURE);
    ev.setup_error = error.to_string();
    ev.details
        .insert("setup_error".to_string(), error.to_string());
    fails_task(ev)
}

pub fn driver_failure(error: &str) -> TaskEvent {
    let mut ev = new(DRIVER_FAILURE);
    ev.driver_error = error.to_string();
    ev.details
        .insert("driver_error".to_string(), error.to_string());
    ev
}

/// `Terminated`: exit code (0 when unknown), signal number, OOM flag and
/// the driver's message about the exit, if any.
pub fn terminated(
    exit_code: i64,
    signal: i64,
    oom_killed: bool,
    message: Option<&str>,
) -> TaskEvent {
    let mut ev = new(TERMINATED);
    ev.exit_code = exit_code;
    ev.signal = signal;
    ev.details
        .insert("exit_code".to_string(), exit_code.to_string());
    ev.details.insert("signal".to_string(), signal.to_string());
    ev.details
        .insert("oom_killed".to_string(), oom_killed.to_string());
    if let Some(m) = message.filter(|m| !m.is_empty()) {
        ev.message = m.to_string();
        ev.details.insert("exit_message".to_string(), m.to_string());
    }
    ev
}

/// `Main Tasks Dead`: the sidecars are killed because every main task
/// has finished.
pub fn main_dead() -> TaskEvent {
    new(MAIN_DEAD)
}

/// `OOM Killed`, with the memory limit the task hit (MiB).
pub fn oom_killed(limit_mb: u64) -> TaskEvent {
    let mut ev = new(OOM_KILLED);
    ev.message = format!("Task exceeded its memory limit of {limit_mb} MiB and was killed");
    ev.details
        .insert("memory_limit_mb".to_string(), limit_mb.to_string());
    ev
}

/// `Waiting for shutdown delay`, before a kill (Nomad's handleKill).
pub fn waiting_shutdown_delay(delay: Duration) -> TaskEvent {
    let mut ev = new(WAITING_SHUTDOWN_DELAY);
    ev.message = format!(
        "Waiting for shutdown_delay of {} before killing the task.",
        go_duration(delay)
    );
    ev
}

pub fn killing(kill_timeout: Duration) -> TaskEvent {
    let mut ev = new(KILLING);
    ev.kill_timeout = duration_to_nanos(kill_timeout);
    ev.details
        .insert("kill_timeout".to_string(), go_duration(kill_timeout));
    ev
}

pub fn killed(kill_error: Option<&str>) -> TaskEvent {
    let mut ev = new(KILLED);
    if let Some(e) = kill_error {
        ev.kill_error = e.to_string();
        ev.details.insert("kill_error".to_string(), e.to_string());
    }
    ev
}

pub fn restarting(delay: Duration, reason: &str) -> TaskEvent {
    let mut ev = new(RESTARTING);
    ev.start_delay = duration_to_nanos(delay);
    ev.details
        .insert("start_delay".to_string(), ev.start_delay.to_string());
    with_restart_reason(ev, reason)
}

pub fn not_restarting(reason: &str) -> TaskEvent {
    fails_task(with_restart_reason(new(NOT_RESTARTING), reason))
}

pub fn restart_signaled(reason: &str) -> TaskEvent {
    with_restart_reason(new(RESTART_SIGNAL), reason)
}

pub fn signaling(signal: &str, reason: &str) -> TaskEvent {
    let mut ev = new(SIGNALING);
    ev.task_signal = signal.to_string();
    ev.task_signal_reason = reason.to_string();
    ev.details
        .insert("task_signal".to_string(), signal.to_string());
    if !reason.is_empty() {
        ev.details
            .insert("task_signal_reason".to_string(), reason.to_string());
    }
    ev
}

pub fn sibling_failed(sibling: &str) -> TaskEvent {
    let mut ev = new(SIBLING_FAILED);
    ev.failed_sibling = sibling.to_string();
    ev.details
        .insert("failed_sibling".to_string(), sibling.to_string());
    ev
}

fn with_restart_reason(mut ev: TaskEvent, reason: &str) -> TaskEvent {
    if !reason.is_empty() {
        ev.restart_reason = reason.to_string();
        ev.details
            .insert("restart_reason".to_string(), reason.to_string());
    }
    ev
}

fn fails_task(mut ev: TaskEvent) -> TaskEvent {
    ev.fails_task = true;
    ev.details
        .insert("fails_task".to_string(), "true".to_string());
    ev
}

/// Fills `display_message` from the typed fields, as Nomad does before
/// appending an event. An event that already has one keeps it.
pub fn populate_display_message(ev: &mut TaskEvent) {
    if !ev.display_message.is_empty() {
        return;
    }
    let or = |s: &str, default: &str| {
        if s.is_empty() {
            default.to_string()
        } else {
            s.to_string()
        }
    };
    ev.display_message = match ev.event_type.as_str() {
        TASK_SETUP => ev.message.clone(),
        STARTED => "Task started by client".to_string(),
        RECEIVED => "Task received by client".to_string(),
        SETUP_FAILURE => or(&ev.setup_error, "Task setup failed"),
        DRIVER_FAILURE => or(&ev.driver_error, "Failed to start task"),
        KILLING => {
            if !ev.kill_reason.is_empty() {
                ev.kill_reason.clone()
            } else if ev.kill_timeout != 0 {
                let t = super::nanos_to_duration(ev.kill_timeout);
                format!(
                    "Sent interrupt. Waiting {} before force killing",
                    go_duration(t)
                )
            } else {
                "Sent interrupt".to_string()
            }
        }
        KILLED => or(&ev.kill_error, "Task successfully killed"),
        TERMINATED => {
            let mut parts = vec![format!("Exit Code: {}", ev.exit_code)];
            if ev.signal != 0 {
                parts.push(format!("Signal: {}", ev.signal));
            }
            if !ev.message.is_empty() {
                parts.push(format!("Exit Message: {:?}", ev.message));
            }
            parts.join(", ")
        }
        RESTARTING => {
            let delay = super::nanos_to_duration(ev.start_delay);
            let when = format!("Task restarting in {}", go_duration(delay));
            if !ev.restart_reason.is_empty()
                && ev.restart_reason != super::restarts::REASON_WITHIN_POLICY
            {
                format!("{} - {when}", ev.restart_reason)
            } else {
                when
            }
        }
        NOT_RESTARTING => or(&ev.restart_reason, "Task exceeded restart policy"),
        SIBLING_FAILED => {
            if ev.failed_sibling.is_empty() {
                "Task's sibling failed".to_string()
            } else {
                format!("Task's sibling {:?} failed", ev.failed_sibling)
            }
        }
        SIGNALING => match (ev.task_signal.is_empty(), ev.task_signal_reason.is_empty()) {
            (true, true) => "Task being sent a signal".to_string(),
            (true, false) => ev.task_signal_reason.clone(),
            (false, true) => format!("Task being sent signal {}", ev.task_signal),
            (false, false) => format!(
                "Task being sent signal {}: {}",
                ev.task_signal, ev.task_signal_reason
            ),
        },
        RESTART_SIGNAL => or(&ev.restart_reason, "Task signaled to restart"),
        LEADER_DEAD => "Leader Task in Group dead".to_string(),
        MAIN_DEAD => "Main tasks in the group died".to_string(),
        _ => ev.message.clone(),
    };
}
