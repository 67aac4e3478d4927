//! One task's runner: starts the task on its driver, waits for it, records
//! Nomad's task events and applies the restart policy, until the task is
//! dead (Nomad's `taskrunner.TaskRunner.Run`).
//!
//! The runner is a tokio task that owns the restart tracker; everything
//! else talks to it through [`TaskRunner`]: state and handle are read under
//! a mutex, kills and restarts are commands the loop picks up while it
//! waits on the task. Signals go straight to the driver.
//!
//! Detaching: when the owner drops the `detach` sender, the loop returns at
//! once and leaves the task process running, so a later agent can
//! re-attach with [`Initial::Recover`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use drover_api::{JobType, RestartPolicy, TaskEvent, TaskState, TaskStateValue};
use tokio::sync::{mpsc, watch};

use super::events;
use super::restarts::{Decision, RestartTracker};
use super::{now_nanos, RunnerError};
use crate::driver::{
    Driver, DriverError, ExecRequest, ExecSession, ExitResult, Recovered, Signal, TaskConfig,
    TaskHandle,
};

/// Everything a task runner needs, resolved by the alloc runner.
pub struct TaskSpec {
    pub name: String,
    /// `None` when the node has no driver of the task's name.
    pub driver: Option<Arc<dyn Driver>>,
    pub driver_name: String,
    /// Built once per allocation: env and interpolated driver config.
    pub config: TaskConfig,
    /// Restart policy, kill settings and shutdown delay, which an in-place
    /// update may change later ([`TaskRunner::update`]).
    pub tuning: Tuning,
    pub job_type: JobType,
    /// The task's state so far (from the servers' copy when restoring).
    pub state: TaskState,
    /// Set when setting the task up failed before any start (alloc dir).
    pub setup_error: Option<String>,
    /// The lifecycle gate a fresh task waits on before its first start
    /// (`true` = go); see [`super::lifecycle`].
    pub gate: watch::Receiver<bool>,
}

/// How the runner begins.
pub enum Initial {
    /// A new task: `Received`, `Task Setup`, then start.
    Fresh,
    /// Re-attach to a task an earlier agent started: no `Started` event,
    /// `Restarts` unchanged. A task that died meanwhile is recorded as
    /// exited and goes through the restart policy.
    Recover(Box<TaskHandle>),
    /// Already dead before the agent restarted; nothing to run.
    Dead,
}

enum Command {
    /// Emit these events, then stop the task for good.
    Kill(Vec<TaskEvent>),
    /// Emit this event, stop the task and start it again at once.
    Restart(Box<TaskEvent>),
}

struct Shared {
    state: TaskState,
    handle: Option<TaskHandle>,
}

/// The parts of a task an in-place update of its job may change while it
/// runs (Nomad's task runner takes the new task and restart policy): read
/// when they are used, so a kill or the next restart decision sees them.
#[derive(Debug, Clone, PartialEq)]
pub struct Tuning {
    pub policy: RestartPolicy,
    pub kill_timeout: Duration,
    /// `None`: the driver's default (SIGINT for raw_exec, as Nomad).
    pub kill_signal: Option<String>,
    pub shutdown_delay: Duration,
}

struct Inner {
    name: String,
    driver: Option<Arc<dyn Driver>>,
    driver_name: String,
    config: TaskConfig,
    /// What an in-place job update may change while the task runs.
    tuning: Mutex<Tuning>,
    shared: Mutex<Shared>,
    cmds: mpsc::UnboundedSender<Command>,
    /// Told the task's name after every state or handle change.
    changed: mpsc::UnboundedSender<String>,
    /// `true` once the loop has returned (dead, or detached).
    done: watch::Sender<bool>,
}

/// A handle on one task runner; cheap to clone.
#[derive(Clone)]
pub struct TaskRunner {
    inner: Arc<Inner>,
}

impl TaskRunner {
    /// Spawns the runner loop on the current tokio runtime.
    pub fn spawn(
        spec: TaskSpec,
        initial: Initial,
        changed: mpsc::UnboundedSender<String>,
        detach: watch::Receiver<()>,
    ) -> TaskRunner {
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (done, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            name: spec.name,
            driver: spec.driver,
            driver_name: spec.driver_name,
            tuning: Mutex::new(spec.tuning.clone()),
            config: spec.config,
            shared: Mutex::new(Shared {
                state: spec.state,
                handle: None,
            }),
            cmds,
            changed,
            done,
        });
        let tracker = RestartTracker::new(spec.tuning.policy, spec.job_type, Instant::now());
        let runner = TaskRunner { inner };
        let task = runner.clone();
        let setup_error = spec.setup_error;
        let gate = spec.gate;
        tokio::spawn(async move {
            let detached = task
                .run(initial, setup_error, gate, tracker, cmd_rx, detach)
                .await;
            if !detached {
                task.inner.notify();
            }
            task.inner.done.send_replace(true);
        });
        runner
    }

    pub fn name(&self) -> &str {
        &self.inner.name
    }

    pub fn state(&self) -> TaskState {
        self.inner.lock().state.clone()
    }

    pub fn handle(&self) -> Option<TaskHandle> {
        self.inner.lock().handle.clone()
    }

    /// Whether the runner loop has returned.
    pub fn is_done(&self) -> bool {
        *self.inner.done.borrow()
    }

    /// Resolves once the runner loop has returned.
    pub async fn wait_done(&self) {
        let mut rx = self.inner.done.subscribe();
        // An error means the sender is gone, which only happens after done.
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Asks the loop to emit `events` and stop the task for good. Does
    /// nothing once the loop has returned.
    pub fn kill(&self, events: Vec<TaskEvent>) {
        if !self.is_done() {
            let _ = self.inner.cmds.send(Command::Kill(events));
        }
    }

    /// Takes what an in-place update of the job changed (restart policy,
    /// kill timeout and signal, shutdown delay); used from the next kill
    /// or restart decision on.
    pub fn update(&self, tuning: Tuning) {
        *self.inner.tuning() = tuning;
    }

    /// Kill without this task's `shutdown_delay` from now on (a stop
    /// with Nomad's `no_shutdown_delay`).
    pub fn skip_shutdown_delay(&self) {
        self.inner.tuning().shutdown_delay = Duration::ZERO;
    }

    /// The `Killing` event for this task's kill timeout.
    pub fn killing_event(&self) -> TaskEvent {
        events::killing(self.inner.tuning().kill_timeout)
    }

    /// Delivers `signal` to the running task, after a `Signaling` event.
    pub async fn signal(&self, signal: &str) -> Result<(), RunnerError> {
        let sig = Signal::parse(signal)?;
        let (driver, handle) = self.running()?;
        self.inner.emit(events::signaling(sig.name, ""));
        driver
            .signal(&handle, sig.name)
            .await
            .map_err(|e| self.named(e))
    }

    /// Restarts the running task in place (`Restart Signaled`, then the
    /// usual `Terminated`, `Restarting`, `Started`). Not counted against
    /// the restart policy; `Restarts` goes up by one.
    pub fn restart(&self) -> Result<(), RunnerError> {
        self.running()?;
        let ev = events::restart_signaled(events::USER_RESTART_REASON);
        self.inner
            .cmds
            .send(Command::Restart(Box::new(ev)))
            .map_err(|_| RunnerError::TaskNotRunning(self.inner.name.clone()))
    }

    pub async fn stats(&self) -> Result<crate::driver::TaskStats, RunnerError> {
        let (driver, handle) = self.running()?;
        driver.stats(&handle).await.map_err(|e| self.named(e))
    }

    /// Runs a command inside the running task, with the config
    /// the task was started with.
    pub async fn exec(&self, req: ExecRequest) -> Result<ExecSession, RunnerError> {
        let (driver, handle) = self.running()?;
        driver
            .exec(&handle, &self.inner.config, req)
            .await
            .map_err(|e| self.named(e))
    }

    /// What an attach (Drover extension) needs of the running task: its
    /// driver, its handle and the config it was started with.
    pub fn attach_parts(&self) -> Result<(Arc<dyn Driver>, TaskHandle, TaskConfig), RunnerError> {
        let (driver, handle) = self.running()?;
        Ok((driver, handle, self.inner.config.clone()))
    }

    /// A driver error as the runner reports it: the driver's "not
    /// running" (the process or container went away under a live handle)
    /// names this task, as every error about a task must.
    fn named(&self, e: DriverError) -> RunnerError {
        match e {
            DriverError::TaskNotRunning => RunnerError::TaskNotRunning(self.inner.name.clone()),
            other => other.into(),
        }
    }

    fn running(&self) -> Result<(Arc<dyn Driver>, TaskHandle), RunnerError> {
        let not_running = || RunnerError::TaskNotRunning(self.inner.name.clone());
        let handle = self.handle().ok_or_else(not_running)?;
        let driver = self.inner.driver.clone().ok_or_else(not_running)?;
        Ok((driver, handle))
    }

    /// The loop. Returns `true` when it stopped because of a detach.
    async fn run(
        &self,
        initial: Initial,
        setup_error: Option<String>,
        mut gate: watch::Receiver<bool>,
        mut tracker: RestartTracker,
        mut cmds: mpsc::UnboundedReceiver<Command>,
        mut detach: watch::Receiver<()>,
    ) -> bool {
        let inner = &self.inner;
        let mut recover = None;
        match initial {
            Initial::Dead => return false,
            Initial::Recover(h) => recover = Some(*h),
            Initial::Fresh => {
                if inner.lock().state.events.is_empty() {
                    inner.emit(events::new(events::RECEIVED));
                }
                if let Some(err) = setup_error {
                    inner.set_state(TaskStateValue::Dead, Some(events::setup_failure(&err)));
                    return false;
                }
                // Nomad waits for the task's start condition before its
                // prestart hooks, so `Task Setup` comes after the gate.
                tokio::select! {
                    _ = gate.wait_for(|open| *open) => {}
                    _ = detach.changed() => return true,
                    cmd = cmds.recv() => {
                        if let Some(Command::Kill(evs)) = cmd {
                            evs.into_iter().for_each(|e| inner.emit(e));
                        }
                        // Never started: dead, not failed, nothing killed.
                        inner.set_state(TaskStateValue::Dead, None);
                        return false;
                    }
                }
                inner.emit(events::task_setup(events::BUILDING_TASK_DIR));
            }
        }
        let Some(driver) = inner.driver.clone() else {
            let msg = format!(
                "driver {:?} is not available on this node",
                inner.driver_name
            );
            inner.set_state(TaskStateValue::Dead, Some(events::setup_failure(&msg)));
            return false;
        };

        loop {
            // Obtain a running task: re-attached, or started now.
            let handle = match recover.take() {
                Some(h) => match driver.recover(&h).await {
                    Ok(Recovered::Running) => {
                        inner.set_handle(Some(h.clone()));
                        inner.set_state(TaskStateValue::Running, None);
                        Some(h)
                    }
                    Ok(Recovered::Exited(exit)) => {
                        inner.emit_exit(&exit);
                        let _ = driver.destroy(&h).await;
                        tracker.set_exit(exit);
                        None
                    }
                    // Unusable handle: start the task afresh, as Nomad
                    // does after failing to recover a running task.
                    Err(_) => self.start(&*driver, &mut tracker).await,
                },
                None => {
                    if let Some(evs) = take_kill(&mut cmds) {
                        evs.into_iter().for_each(|e| inner.emit(e));
                        tracker.set_killed();
                        None
                    } else {
                        self.start(&*driver, &mut tracker).await
                    }
                }
            };

            if let Some(handle) = handle {
                let exit = tokio::select! {
                    exit = self.wait_running(&*driver, &handle, &mut tracker, &mut cmds) => exit,
                    _ = detach.changed() => return true,
                };
                inner.set_handle(None);
                inner.emit_exit(&exit);
                let _ = driver.destroy(&handle).await;
                tracker.set_exit(exit);
            }

            tracker.set_policy(inner.tuning().policy.clone());
            match tracker.decide(Instant::now()) {
                Decision::Killed => {
                    inner.set_state(TaskStateValue::Dead, Some(events::killed(None)));
                    return false;
                }
                Decision::NotRestarting { reason } => {
                    let ev = events::not_restarting(&reason);
                    inner.set_state(TaskStateValue::Dead, Some(ev));
                    return false;
                }
                Decision::Terminated => {
                    inner.set_state(TaskStateValue::Dead, None);
                    return false;
                }
                Decision::Restart { delay, reason } => {
                    let ev = events::restarting(delay, &reason);
                    inner.set_state(TaskStateValue::Pending, Some(ev));
                    let sleep = tokio::time::sleep(delay);
                    tokio::pin!(sleep);
                    loop {
                        tokio::select! {
                            _ = &mut sleep => break,
                            _ = detach.changed() => return true,
                            cmd = cmds.recv() => match cmd {
                                Some(Command::Kill(evs)) => {
                                    evs.into_iter().for_each(|e| inner.emit(e));
                                    tracker.set_killed();
                                    break;
                                }
                                // Nothing runs, so there is nothing to restart.
                                Some(Command::Restart(_)) => {}
                                None => break,
                            },
                        }
                    }
                    if tracker.killed() {
                        inner.set_state(TaskStateValue::Dead, Some(events::killed(None)));
                        return false;
                    }
                }
            }
        }
    }

    /// Starts the task; on failure records `Driver Failure` and the start
    /// error for the restart policy.
    async fn start(&self, driver: &dyn Driver, tracker: &mut RestartTracker) -> Option<TaskHandle> {
        let inner = &self.inner;
        match driver.start(&inner.config).await {
            Ok(h) => {
                inner.set_handle(Some(h.clone()));
                inner.set_state(TaskStateValue::Running, Some(events::new(events::STARTED)));
                Some(h)
            }
            Err(e) => {
                inner.emit(events::driver_failure(&e.to_string()));
                tracker.set_start_error(recoverable(&e));
                None
            }
        }
    }

    /// Waits for the task to exit, serving kill and restart commands.
    async fn wait_running(
        &self,
        driver: &dyn Driver,
        handle: &TaskHandle,
        tracker: &mut RestartTracker,
        cmds: &mut mpsc::UnboundedReceiver<Command>,
    ) -> ExitResult {
        let inner = &self.inner;
        let mut wait = driver.wait(handle);
        let Tuning {
            kill_signal,
            kill_timeout: timeout,
            ..
        } = inner.tuning().clone();
        let kill_signal = kill_signal.as_deref().unwrap_or("SIGINT");
        tokio::select! {
            exit = &mut wait => exit,
            cmd = cmds.recv() => {
                match cmd {
                    Some(Command::Kill(evs)) => {
                        evs.into_iter().for_each(|e| inner.emit(e));
                        tracker.set_killed();
                        // Nomad's handleKill: after `Killing`, the task's
                        // shutdown_delay, then the kill; an exit meanwhile
                        // ends it. Read now: a stop with `no_shutdown_delay`
                        // clears it just before the kill.
                        let shutdown_delay = inner.tuning().shutdown_delay;
                        if !shutdown_delay.is_zero() {
                            inner.emit(events::waiting_shutdown_delay(shutdown_delay));
                            tokio::select! {
                                exit = &mut wait => return exit,
                                _ = tokio::time::sleep(shutdown_delay) => {}
                            }
                        }
                    }
                    Some(Command::Restart(ev)) => {
                        inner.emit(*ev);
                        tracker.set_restart_triggered();
                    }
                    // The runner handle is gone; keep waiting.
                    None => return wait.await,
                }
                let stopped = driver.stop(handle, kill_signal, timeout).await;
                let exit = wait.await;
                if let Err(e) = stopped {
                    tracing::warn!(task = %inner.name, error = %e, "stopping task failed");
                }
                exit
            }
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn tuning(&self) -> MutexGuard<'_, Tuning> {
        self.tuning.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self) {
        let _ = self.changed.send(self.name.clone());
    }

    fn set_handle(&self, handle: Option<TaskHandle>) {
        self.lock().handle = handle;
    }

    /// `OOM Killed` (when so) and `Terminated` for an exit.
    fn emit_exit(&self, exit: &ExitResult) {
        if exit.oom_killed {
            let r = &self.config.resources;
            self.emit(events::oom_killed(r.memory_max_mb.max(r.memory_mb)));
        }
        self.emit(terminated_event(exit));
    }

    /// Appends an event as Nomad's `appendTaskEvent` does: display message,
    /// the latest [`events::MAX_EVENTS`] kept, `Failed` and `Restarts`
    /// updated from the event.
    fn emit(&self, ev: TaskEvent) {
        append_event(&mut self.lock().state, ev);
        self.notify();
    }

    /// Moves to `value` (Nomad's `UpdateState`): `StartedAt` on entering
    /// running, `FinishedAt` on the first entry into dead.
    fn set_state(&self, value: TaskStateValue, ev: Option<TaskEvent>) {
        {
            let mut sh = self.lock();
            let st = &mut sh.state;
            if let Some(ev) = ev {
                append_event(st, ev);
            }
            match value {
                TaskStateValue::Running if st.state != TaskStateValue::Running => {
                    st.started_at = Some(now_nanos());
                }
                TaskStateValue::Dead if st.finished_at.is_none() => {
                    st.finished_at = Some(now_nanos());
                }
                _ => {}
            }
            st.state = value;
        }
        self.notify();
    }
}

/// Appends `ev` to `st`, keeping the latest 10 events.
pub fn append_event(st: &mut TaskState, mut ev: TaskEvent) {
    events::populate_display_message(&mut ev);
    if ev.fails_task {
        st.failed = true;
    }
    if ev.event_type == events::RESTARTING {
        st.restarts += 1;
        st.last_restart = Some(ev.time);
    }
    st.events.push(ev);
    let excess = st.events.len().saturating_sub(events::MAX_EVENTS);
    st.events.drain(..excess);
}

fn terminated_event(exit: &ExitResult) -> TaskEvent {
    events::terminated(
        i64::from(exit.exit_code.unwrap_or(0)),
        i64::from(exit.signal.unwrap_or(0)),
        exit.oom_killed,
        exit.err.as_deref(),
    )
}

/// Start errors worth retrying: I/O trouble. A bad command, a disabled
/// driver or an unknown user will fail the same way again.
fn recoverable(e: &DriverError) -> bool {
    matches!(e, DriverError::Io { .. })
}

/// A queued kill, if any; queued restarts are dropped (nothing runs).
fn take_kill(cmds: &mut mpsc::UnboundedReceiver<Command>) -> Option<Vec<TaskEvent>> {
    while let Ok(cmd) = cmds.try_recv() {
        if let Command::Kill(evs) = cmd {
            return Some(evs);
        }
    }
    None
}

/// Durations and names a task runner reads from the job's task.
pub fn kill_timeout(task: &drover_api::Task) -> Duration {
    if task.kill_timeout > 0 {
        super::nanos_to_duration(task.kill_timeout)
    } else {
        Duration::from_secs(5)
    }
}

/// Host environment variables Nomad never passes to tasks (the default
/// `env.denylist`).
const ENV_DENYLIST: &[&str] = &[
    "CONSUL_TOKEN",
    "CONSUL_HTTP_TOKEN",
    "CONSUL_LICENSE",
    "VAULT_TOKEN",
    "VAULT_LICENSE",
    "NOMAD_LICENSE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GOOGLE_APPLICATION_CREDENTIALS",
];

/// The agent's own environment minus the denylist, which Nomad puts under
/// the task environment for drivers without filesystem isolation
/// (`raw_exec`), so `PATH` and friends reach the task.
pub fn host_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(k, _)| !ENV_DENYLIST.contains(&k.as_str()))
        .collect()
}
