//! Alloc and task runners, after Nomad's
//! `client/allocrunner` and `client/allocrunner/taskrunner`.
//!
//! One [`AllocRunner`] per allocation builds the allocation directory and
//! runs one [`task::TaskRunner`] per task of the group; each waits for its
//! `lifecycle` stage to open ([`lifecycle`]) before it starts. A task
//! runner drives the task state machine `pending` → `running` → `dead`,
//! records Nomad's task events (the latest 10), and applies the restart
//! policy ([`restarts`]). The alloc runner derives the allocation's client
//! status from the task states, kills the siblings of a failed task (and all
//! tasks when a leader finishes), stops everything when the servers ask, and
//! reports each change as an [`AllocClientUpdateEntry`] on the channel in
//! [`RunnerConfig::updates`].
//!
//! Persistence: every change of a task's driver handle (a start, a restart,
//! an exit) is also a change of its task state, so it is always followed by
//! an update on the channel. The agent persists handles by calling
//! [`AllocRunner::task_handles`] whenever it receives an update for the
//! allocation.

pub mod alloc;
pub mod events;
pub mod health;
pub mod lifecycle;
pub mod restarts;
pub mod task;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use drover_api::AllocClientUpdateEntry;

use crate::driver::{Driver, DriverError};

pub use alloc::AllocRunner;

/// What every alloc runner on a node shares.
pub struct RunnerConfig {
    /// `<data_dir>/alloc`; each allocation gets `<alloc_root>/<alloc_id>`.
    pub alloc_root: PathBuf,
    /// This node, for the task environment and interpolation.
    pub node: drover_api::Node,
    /// Drivers by the name tasks use in `driver`.
    pub drivers: BTreeMap<String, Arc<dyn Driver>>,
    /// Where every change of an allocation's client state goes.
    pub updates: tokio::sync::mpsc::UnboundedSender<AllocClientUpdateEntry>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    /// No task of that name in the allocation; the HTTP layer answers 400.
    #[error("unknown task name {0:?}")]
    UnknownTask(String),
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    #[error("task {0:?} not running")]
    TaskNotRunning(String),
    /// A signal or restart for every task found none running.
    #[error("no task of allocation {0} is running")]
    NoTaskRunning(String),
    #[error(transparent)]
    Driver(DriverError),
}

impl From<DriverError> for RunnerError {
    fn from(e: DriverError) -> Self {
        match e {
            DriverError::UnknownSignal(s) => RunnerError::UnknownSignal(s),
            other => RunnerError::Driver(other),
        }
    }
}

pub(crate) use crate::now_nanos;

/// A non-negative nanosecond count as a `Duration`.
pub(crate) fn nanos_to_duration(n: i64) -> Duration {
    Duration::from_nanos(u64::try_from(n).unwrap_or(0))
}

pub(crate) fn duration_to_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Formats a duration as Go's `time.Duration.String` does (`5s`, `30m0s`,
/// `1h0m0s`, `1.5s`, `250ms`, `0s`), because Nomad's event messages embed
/// Go durations.
pub fn go_duration(d: Duration) -> String {
    let nanos = d.as_nanos();
    if nanos == 0 {
        return "0s".to_string();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1u128)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", frac(nanos, scale));
    }
    let secs_total = nanos / 1_000_000_000;
    let sub = nanos % 1_000_000_000;
    let hours = secs_total / 3600;
    let mins = (secs_total % 3600) / 60;
    let secs = secs_total % 60;
    let secs_str = frac(secs * 1_000_000_000 + sub, 1_000_000_000);
    if hours > 0 {
        format!("{hours}h{mins}m{secs_str}s")
    } else if mins > 0 {
        format!("{mins}m{secs_str}s")
    } else {
        format!("{secs_str}s")
    }
}

/// `value / scale` with the fraction's trailing zeros dropped.
fn frac(value: u128, scale: u128) -> String {
    let whole = value / scale;
    let rest = value % scale;
    if rest == 0 {
        return whole.to_string();
    }
    let width = scale.to_string().len() - 1;
    let digits = format!("{rest:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}
