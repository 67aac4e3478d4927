//! The alloc runner: one per allocation on this node (Nomad's
//! `allocrunner.allocRunner`).
//!
//! A supervisor tokio task wakes on every task state change, derives the
//! client status as Nomad's `getClientStatus` does (any task failed →
//! `failed`; else any running → `running`; else any pending → `pending`;
//! else `complete`), kills the other tasks when one fails (`Sibling Task
//! Failed`, `Killing`, `Killed`) or a leader task finishes (`Leader Task
//! Dead`), tracks deployment health ([`super::health`]), and sends the new
//! [`AllocClientUpdateEntry`] when it differs from the last one sent.
//!
//! Dropping every clone of an [`AllocRunner`] detaches: the supervisor and
//! task loops return and the task processes keep running, for
//! [`AllocRunner::restore`] in the next agent. Stopping is
//! [`AllocRunner::update`] with a stop status, or [`AllocRunner::destroy`].

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use drover_api::{
    AllocClientStatus, AllocClientUpdateEntry, AllocDesiredStatus, Allocation, TaskEvent,
    TaskState, TaskStateValue,
};
use tokio::sync::{mpsc, watch, Notify};

use super::events;
use super::health::{Health, Observed};
use super::lifecycle::{Coordinator, Stage};
use super::restarts::effective_policy;
use super::task::{host_env, kill_timeout, Initial, TaskRunner, TaskSpec, Tuning};
use super::{nanos_to_duration, now_nanos, RunnerConfig, RunnerError};
use crate::allocdir::AllocDir;
use crate::driver::{
    ExecRequest, ExecSession, FsIsolation, LogConfig, PortMapping, TaskConfig, TaskHandle,
    TaskIdentity, TaskResources, TaskStats,
};
use crate::taskenv::TaskEnv;

/// Handle on an allocation's runner; cheap to clone.
#[derive(Clone)]
pub struct AllocRunner {
    inner: Arc<Inner>,
    /// Dropped with the last clone: the loops see the detach and return.
    _detach: Arc<watch::Sender<()>>,
}

struct Inner {
    cfg: Arc<RunnerConfig>,
    alloc_dir: AllocDir,
    tasks: BTreeMap<String, TaskRunner>,
    /// Leader tasks, by name.
    leaders: Vec<String>,
    /// When each task may start (the `lifecycle` blocks).
    lifecycle: Mutex<Coordinator>,
    /// Each task's lifecycle stage; fixed for the allocation, so read
    /// without taking the coordinator's lock.
    stages: BTreeMap<String, Stage>,
    /// Why the allocation could not run at all (no job, no group).
    setup_error: Option<String>,
    state: Mutex<AllocState>,
    /// Wakes the supervisor after [`AllocRunner::update`].
    updated: Notify,
}

struct AllocState {
    alloc: Allocation,
    /// Kill already sent to every task (stop, sibling failure, leader).
    killing: bool,
    /// The deployment-health watch, while the allocation is in a
    /// deployment.
    health: Option<Health>,
    last_sent: Option<AllocClientUpdateEntry>,
}

impl AllocRunner {
    /// Runs a new allocation: builds its directory and starts every task.
    pub fn start(cfg: Arc<RunnerConfig>, alloc: Allocation) -> AllocRunner {
        Self::launch(cfg, alloc, None)
    }

    /// Re-attaches to the tasks of an allocation an earlier agent ran,
    /// through `Driver::recover`. Task states come from `alloc.task_states`
    /// (the servers' copy of what this client reported). A recovered task
    /// gets no new `Started` event and keeps its `Restarts`; one that died
    /// meanwhile is recorded as `Terminated` and goes through its restart
    /// policy (a finished batch task is reported dead); a task already dead
    /// stays dead; a task without a handle that is not dead is started.
    pub fn restore(
        cfg: Arc<RunnerConfig>,
        alloc: Allocation,
        handles: BTreeMap<String, TaskHandle>,
    ) -> AllocRunner {
        Self::launch(cfg, alloc, Some(handles))
    }

    fn launch(
        cfg: Arc<RunnerConfig>,
        alloc: Allocation,
        restore: Option<BTreeMap<String, TaskHandle>>,
    ) -> AllocRunner {
        let (detach_tx, detach_rx) = watch::channel(());
        let (changed_tx, changed_rx) = mpsc::unbounded_channel();
        let alloc_dir = AllocDir::new(&cfg.alloc_root, &alloc.id);
        let job = alloc.job.clone();
        let group = job
            .as_deref()
            .and_then(|j| j.task_group(&alloc.task_group))
            .cloned();
        let mut tasks = BTreeMap::new();
        let mut leaders = Vec::new();
        let mut lifecycle = Coordinator::new(group.iter().flat_map(|tg| &tg.tasks));
        if restore.is_some() {
            lifecycle.update(&alloc.task_states.clone().into_iter().collect());
        }
        let mut setup_error = None;
        let stopped = alloc.desired_status != AllocDesiredStatus::Run;

        match (job.as_deref(), group.as_ref()) {
            (None, _) => setup_error = Some("allocation has no job".to_string()),
            (Some(_), None) => {
                setup_error = Some(format!("task group {:?} not in job", alloc.task_group))
            }
            (Some(job), Some(tg)) => {
                let names: Vec<&str> = tg.tasks.iter().map(|t| t.name.as_str()).collect();
                // Building an existing directory again is harmless, so a
                // restore does it too.
                let dir_error = alloc_dir.build(&names).err().map(|e| e.to_string());
                for task in &tg.tasks {
                    if task.leader {
                        leaders.push(task.name.clone());
                    }
                    let driver = cfg.drivers.get(&task.driver).cloned();
                    let prior = alloc.task_states.get(&task.name).cloned();
                    let initial = match &restore {
                        None => Initial::Fresh,
                        Some(handles) => match handles.get(&task.name) {
                            Some(h) => Initial::Recover(Box::new(h.clone())),
                            None if prior
                                .as_ref()
                                .is_some_and(|s| s.state == TaskStateValue::Dead) =>
                            {
                                Initial::Dead
                            }
                            None => Initial::Fresh,
                        },
                    };
                    let initial = match initial {
                        Initial::Fresh if stopped => Initial::Dead,
                        other => other,
                    };
                    let fs_isolation = driver.as_ref().map(|d| d.capabilities().fs_isolation);
                    // Ephemeral lifecycle tasks run once, like batch tasks
                    // (Nomad's restart tracker treats them so).
                    let job_type = if lifecycle.stage(&task.name).is_ephemeral() {
                        drover_api::JobType::Batch
                    } else {
                        job.job_type
                    };
                    let spec = TaskSpec {
                        name: task.name.clone(),
                        driver,
                        driver_name: task.driver.clone(),
                        config: task_config(&cfg, &alloc, job, tg, task, &alloc_dir, fs_isolation),
                        tuning: tuning(job, tg, task),
                        job_type,
                        state: match &restore {
                            Some(_) => prior.unwrap_or_default(),
                            None => TaskState::default(),
                        },
                        setup_error: dir_error.clone().or_else(|| {
                            crate::dispatch_payload::write(&alloc_dir, job, task).err()
                        }),
                        gate: lifecycle.gate(&task.name),
                    };
                    let runner =
                        TaskRunner::spawn(spec, initial, changed_tx.clone(), detach_rx.clone());
                    tasks.insert(task.name.clone(), runner);
                }
            }
        }

        let stages = tasks
            .keys()
            .map(|name| (name.clone(), lifecycle.stage(name)))
            .collect();
        let inner = Arc::new(Inner {
            cfg,
            alloc_dir,
            tasks,
            leaders,
            stages,
            lifecycle: Mutex::new(lifecycle),
            setup_error,
            state: Mutex::new(AllocState {
                health: Health::watch(&alloc, Instant::now()),
                alloc,
                killing: false,
                last_sent: None,
            }),
            updated: Notify::new(),
        });
        tokio::spawn(supervise(inner.clone(), changed_rx, detach_rx));
        AllocRunner {
            inner,
            _detach: Arc::new(detach_tx),
        }
    }

    /// A new version of the allocation from the servers. A desired status
    /// of `stop` or `evict` kills every task (`Killing`, `Killed`); the
    /// allocation then completes. A new job version (an in-place update:
    /// nothing the task sees changed) keeps the tasks running and hands
    /// them the new restart policy, kill timeout and signal, and shutdown
    /// delay.
    pub fn update(&self, alloc: Allocation) {
        let stop = alloc.desired_status != AllocDesiredStatus::Run;
        // An in-place update: the tasks keep running with what changed.
        if let Some(job) = alloc.job.as_deref() {
            if let Some(tg) = job.task_group(&alloc.task_group) {
                for task in &tg.tasks {
                    if let Some(tr) = self.inner.tasks.get(&task.name) {
                        tr.update(tuning(job, tg, task));
                    }
                }
            }
        }
        {
            let mut st = self.inner.lock();
            // Moved to a new deployment (an in-place update): judge again.
            let moved = alloc.deployment_id != st.alloc.deployment_id;
            if moved {
                st.health = Health::watch(&alloc, Instant::now());
            }
            st.alloc = alloc;
        }
        if stop {
            self.inner.kill_all(None);
        }
        self.inner.updated.notify_one();
    }

    /// Sends `signal` to one task, or to every running task when `task` is
    /// `None`.
    pub async fn signal(&self, task: Option<&str>, signal: &str) -> Result<(), RunnerError> {
        crate::driver::Signal::parse(signal)?;
        for tr in self.select(task)? {
            tr.signal(signal).await?;
        }
        Ok(())
    }

    /// Restarts one task, or every running task when `task` is `None`.
    /// `all_tasks`, which in Nomad also reruns finished ephemeral lifecycle
    /// tasks, is accepted but restarts only the running tasks here.
    pub async fn restart(&self, task: Option<&str>, all_tasks: bool) -> Result<(), RunnerError> {
        let _ = all_tasks;
        for tr in self.select(task)? {
            tr.restart()?;
        }
        Ok(())
    }

    /// Runs a command inside one running task.
    pub async fn exec(&self, task: &str, req: ExecRequest) -> Result<ExecSession, RunnerError> {
        let tr = self
            .inner
            .tasks
            .get(task)
            .ok_or_else(|| RunnerError::UnknownTask(task.to_string()))?;
        tr.exec(req).await
    }

    /// The driver, handle and config of one running task, for an attach
    /// (Drover extension).
    pub fn attach_parts(
        &self,
        task: &str,
    ) -> Result<
        (
            Arc<dyn crate::driver::Driver>,
            TaskHandle,
            crate::driver::TaskConfig,
        ),
        RunnerError,
    > {
        self.inner
            .tasks
            .get(task)
            .ok_or_else(|| RunnerError::UnknownTask(task.to_string()))?
            .attach_parts()
    }

    /// Resource usage of every running task.
    pub async fn stats(&self) -> Result<BTreeMap<String, TaskStats>, RunnerError> {
        let mut out = BTreeMap::new();
        for (name, tr) in &self.inner.tasks {
            match tr.stats().await {
                Ok(s) => {
                    out.insert(name.clone(), s);
                }
                Err(RunnerError::TaskNotRunning(_)) => {}
                Err(RunnerError::Driver(crate::driver::DriverError::TaskNotRunning)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// The allocation's client state right now.
    pub fn client_state(&self) -> AllocClientUpdateEntry {
        self.inner.entry()
    }

    /// Driver handles of the tasks running now, to persist. See the module
    /// docs of [`crate::runner`] for when to read them.
    pub fn task_handles(&self) -> BTreeMap<String, TaskHandle> {
        self.inner
            .tasks
            .iter()
            .filter_map(|(n, tr)| tr.handle().map(|h| (n.clone(), h)))
            .collect()
    }

    pub fn alloc_dir(&self) -> &AllocDir {
        &self.inner.alloc_dir
    }

    /// Every task runner has finished and the client status is terminal.
    pub fn is_terminal(&self) -> bool {
        self.inner.tasks.values().all(TaskRunner::is_done)
            && self.inner.entry().client_status.is_terminal()
    }

    /// Stops every task, waits for them, reports the final state and
    /// removes the allocation directory.
    pub async fn destroy(&self) {
        self.inner.kill_all(None);
        // Removal does not wait for poststop tasks to run.
        for (name, tr) in &self.inner.tasks {
            if self.inner.stage(name) == Stage::Poststop {
                tr.kill(vec![tr.killing_event()]);
            }
        }
        for tr in self.inner.tasks.values() {
            tr.wait_done().await;
        }
        self.inner.reconcile();
        if let Err(e) = self.inner.alloc_dir.destroy() {
            tracing::warn!(alloc = %self.inner.alloc_dir.alloc_id(), error = %e, "removing alloc dir failed");
        }
    }

    fn select(&self, task: Option<&str>) -> Result<Vec<TaskRunner>, RunnerError> {
        match task {
            Some(name) => self
                .inner
                .tasks
                .get(name)
                .map(|tr| vec![tr.clone()])
                .ok_or_else(|| RunnerError::UnknownTask(name.to_string())),
            None => {
                let running: Vec<TaskRunner> = self
                    .inner
                    .tasks
                    .values()
                    .filter(|tr| tr.handle().is_some())
                    .cloned()
                    .collect();
                if running.is_empty() {
                    return Err(RunnerError::NoTaskRunning(
                        self.inner.alloc_dir.alloc_id().to_string(),
                    ));
                }
                Ok(running)
            }
        }
    }
}

async fn supervise(
    inner: Arc<Inner>,
    mut changed: mpsc::UnboundedReceiver<String>,
    mut detach: watch::Receiver<()>,
) {
    inner.reconcile();
    loop {
        let deadline = inner.lock().health.as_ref().and_then(Health::wake_at);
        let health = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = detach.changed() => return,
            _ = inner.updated.notified() => {}
            _ = health => {}
            msg = changed.recv() => if msg.is_none() { return },
        }
        // Coalesce a burst of changes into one report.
        while changed.try_recv().is_ok() {}
        inner.reconcile();
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, AllocState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn task_states(&self) -> BTreeMap<String, TaskState> {
        self.tasks
            .iter()
            .map(|(n, tr)| (n.clone(), tr.state()))
            .collect()
    }

    fn entry(&self) -> AllocClientUpdateEntry {
        let states = self.task_states();
        let (status, description) = match &self.setup_error {
            Some(e) => (AllocClientStatus::Failed, e.clone()),
            None => {
                let (s, d) = client_status(&states);
                (s, d.to_string())
            }
        };
        let st = self.lock();
        AllocClientUpdateEntry {
            id: st.alloc.id.clone(),
            node_id: self.cfg.node.id.clone(),
            client_status: status,
            client_description: description,
            task_states: states.into_iter().collect(),
            deployment_status: st.health.as_ref().and_then(|h| h.verdict().cloned()),
        }
    }

    fn stage(&self, task: &str) -> Stage {
        self.stages.get(task).copied().unwrap_or(Stage::Main)
    }

    /// Kills every task but the poststop ones once, in Nomad's order
    /// (`killTasks`): the leader, then the other tasks, then the sidecars,
    /// each wave after the last has exited. `first` is emitted before
    /// `Killing` on each task (a sibling's failure, a leader's death). The
    /// poststop tasks then run, released by the lifecycle gates.
    fn kill_all(self: &Arc<Self>, first: Option<TaskEvent>) {
        {
            let mut st = self.lock();
            if st.killing {
                return;
            }
            st.killing = true;
        }
        let mut waves: [Vec<TaskRunner>; 3] = Default::default();
        for (name, tr) in &self.tasks {
            let stage = self.stage(name);
            let wave = if stage == Stage::Poststop {
                continue;
            } else if self.leaders.contains(name) {
                0
            } else if stage.is_sidecar() {
                2
            } else {
                1
            };
            waves[wave].push(tr.clone());
        }
        // The group's shutdown_delay comes first (Nomad's group service
        // hook waits it out in PreKill). A stop with `no_shutdown_delay`
        // (the allocation's desired transition) waits out neither the
        // group's nor the tasks' delay.
        let (group_delay, no_delay) = {
            let st = self.lock();
            let no_delay = st.alloc.desired_transition.no_shutdown_delay == Some(true);
            let delay = st
                .alloc
                .job
                .as_deref()
                .and_then(|j| j.task_group(&st.alloc.task_group))
                .and_then(|tg| tg.shutdown_delay)
                .filter(|_| !no_delay)
                .map(nanos_to_duration)
                .unwrap_or_default();
            (delay, no_delay)
        };
        if no_delay {
            waves
                .iter()
                .flatten()
                .for_each(TaskRunner::skip_shutdown_delay);
        }
        tokio::spawn(async move {
            tokio::time::sleep(group_delay).await;
            for wave in waves {
                for tr in &wave {
                    let mut evs: Vec<TaskEvent> = first.iter().cloned().collect();
                    evs.push(tr.killing_event());
                    tr.kill(evs);
                }
                for tr in &wave {
                    tr.wait_done().await;
                }
            }
        });
    }

    /// Reacts to the current task states and reports them if they changed.
    fn reconcile(self: &Arc<Self>) {
        let states = self.task_states();
        self.lifecycle
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .update(&states);
        // Nomad's handleTaskStateUpdates: poststop tasks neither cause nor
        // receive a kill here.
        let mut kill_event = None;
        let mut live = Vec::new();
        for (name, s) in &states {
            let stage = self.stage(name);
            if stage == Stage::Poststop {
                continue;
            }
            if s.state != TaskStateValue::Dead {
                live.push(stage);
                continue;
            }
            if s.failed {
                if kill_event.is_none() {
                    kill_event = Some(events::sibling_failed(name));
                }
            } else if self.leaders.contains(name) {
                kill_event = Some(events::new(events::LEADER_DEAD));
            }
        }
        if !live.is_empty() {
            let has_sidecars = self.tasks.keys().any(|n| self.stage(n).is_sidecar());
            if kill_event.is_none() && has_sidecars && live.iter().all(|s| s.is_sidecar()) {
                kill_event = Some(events::main_dead());
            }
            if let Some(ev) = kill_event {
                self.kill_all(Some(ev));
            }
        }
        self.track_health(&states);

        let entry = self.entry();
        let mut st = self.lock();
        if st.last_sent.as_ref() != Some(&entry) {
            st.last_sent = Some(entry.clone());
            drop(st);
            let _ = self.cfg.updates.send(entry);
        }
    }

    /// Feeds the task states to the deployment-health watch
    /// ([`Health`]): ephemeral lifecycle tasks count only if they fail;
    /// the main tasks and sidecars must all be running.
    fn track_health(&self, states: &BTreeMap<String, TaskState>) {
        let mut st = self.lock();
        let Some(health) = st.health.as_mut() else {
            return;
        };
        let watched: Vec<&TaskState> = states
            .iter()
            .filter(|(n, _)| !self.stage(n).is_ephemeral())
            .map(|(_, s)| s)
            .collect();
        let seen = Observed {
            any_failed: states.values().any(|s| s.failed),
            all_running: !watched.is_empty()
                && watched.iter().all(|s| s.state == TaskStateValue::Running),
        };
        health.observe(seen, Instant::now(), now_nanos());
    }
}

/// Nomad's `getClientStatus`.
pub fn client_status(states: &BTreeMap<String, TaskState>) -> (AllocClientStatus, &'static str) {
    let any = |f: &dyn Fn(&TaskState) -> bool| states.values().any(f);
    if any(&|s| s.state == TaskStateValue::Dead && s.failed) {
        (AllocClientStatus::Failed, "Failed tasks")
    } else if any(&|s| s.state == TaskStateValue::Running) {
        (AllocClientStatus::Running, "Tasks are running")
    } else if states.is_empty() || any(&|s| s.state == TaskStateValue::Pending) {
        (AllocClientStatus::Pending, "No tasks have started")
    } else {
        (AllocClientStatus::Complete, "All tasks have completed")
    }
}

/// What of a task an in-place update can change while it runs.
fn tuning(job: &drover_api::Job, tg: &drover_api::TaskGroup, task: &drover_api::Task) -> Tuning {
    Tuning {
        policy: effective_policy(
            task.restart_policy.as_ref(),
            tg.restart_policy.as_ref(),
            job.job_type,
        ),
        kill_timeout: kill_timeout(task),
        kill_signal: Some(task.kill_signal.clone()).filter(|s| !s.is_empty()),
        shutdown_delay: nanos_to_duration(task.shutdown_delay),
    }
}

/// The driver's view of one task: env (host env under the task env for
/// drivers without isolation), interpolated config, log settings.
fn task_config(
    cfg: &RunnerConfig,
    alloc: &Allocation,
    job: &drover_api::Job,
    tg: &drover_api::TaskGroup,
    task: &drover_api::Task,
    dir: &AllocDir,
    fs_isolation: Option<FsIsolation>,
) -> TaskConfig {
    // A task in its own image sees the directories where the driver
    // mounts them (Nomad's docker driver: /alloc, /local, /secrets).
    let dirs = match fs_isolation {
        Some(FsIsolation::Image) => (
            std::path::PathBuf::from("/alloc"),
            std::path::PathBuf::from("/local"),
            std::path::PathBuf::from("/secrets"),
        ),
        _ => (
            dir.shared_dir(),
            dir.task_local_dir(&task.name),
            dir.task_secrets_dir(&task.name),
        ),
    };
    let env = TaskEnv::build(
        alloc,
        job,
        tg,
        task,
        &cfg.node,
        (dirs.0.as_path(), dirs.1.as_path(), dirs.2.as_path()),
    );
    let mut env_map = match fs_isolation {
        Some(FsIsolation::None) => host_env(),
        _ => BTreeMap::new(),
    };
    env_map.extend(env.env_map());
    let driver_config = task
        .config
        .iter()
        .map(|(k, v)| (k.clone(), env.interpolate_value(v)))
        .collect();
    let logs = task.log_config.as_ref();
    let positive = |v: Option<i32>, default: u64| match v {
        Some(n) if n > 0 => u64::try_from(n).unwrap_or(default),
        _ => default,
    };
    TaskConfig {
        alloc_id: alloc.id.clone(),
        task_name: task.name.clone(),
        driver_config,
        env: env_map,
        user: Some(task.user.clone()).filter(|u| !u.is_empty()),
        task_dir: dir.task_dir(&task.name),
        alloc_dir: dir.alloc_dir().to_path_buf(),
        logs: LogConfig {
            dir: dir.logs_dir(),
            max_files: u32::try_from(positive(logs.map(|l| l.max_files), 10)).unwrap_or(10),
            max_file_size_mb: positive(logs.map(|l| l.max_file_size_mb), 10),
        },
        resources: TaskResources {
            cpu_mhz: u64::try_from(task.resources.cpu).unwrap_or(0),
            memory_mb: u64::try_from(task.resources.memory_mb).unwrap_or(0),
            memory_max_mb: u64::try_from(task.resources.memory_max_mb).unwrap_or(0),
        },
        kill_signal: Some(task.kill_signal.clone()).filter(|s| !s.is_empty()),
        kill_timeout: kill_timeout(task),
        identity: TaskIdentity {
            job_name: job.name.clone(),
            task_group: tg.name.clone(),
            namespace: alloc.namespace.clone(),
            node_id: cfg.node.id.clone(),
            node_name: cfg.node.name.clone(),
        },
        ports: task_ports(alloc, &task.name),
    }
}

/// The ports a task may use: its own network's, then the group's (Nomad's
/// `AllocatedPortMapping`s, or the group network's ports when the
/// allocation carries no mappings). A port without `to` maps to itself.
fn task_ports(alloc: &Allocation, task: &str) -> Vec<PortMapping> {
    let Some(res) = alloc.allocated_resources.as_ref() else {
        return Vec::new();
    };
    let port = |v: i64| u16::try_from(v).unwrap_or(0);
    let mapping = |label: &str, value: i64, to: i64, ip: &str| PortMapping {
        label: label.to_string(),
        value: port(value),
        to: if to > 0 { port(to) } else { port(value) },
        host_ip: ip.to_string(),
    };
    let mut out: Vec<PortMapping> = Vec::new();
    let own = res.tasks.get(task).map_or(&[][..], |t| &t.networks[..]);
    let group = if res.shared.ports.is_empty() {
        &res.shared.networks[..]
    } else {
        &[][..]
    };
    for net in own.iter().chain(group) {
        for p in net.reserved_ports.iter().chain(&net.dynamic_ports) {
            out.push(mapping(&p.label, p.value, p.to, &net.ip));
        }
    }
    for p in &res.shared.ports {
        out.push(mapping(&p.label, p.value, p.to, &p.host_ip));
    }
    out
}
