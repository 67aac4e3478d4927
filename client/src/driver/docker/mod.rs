//! The `docker` driver, on bollard, modelled on Nomad's docker driver.
//!
//! A task is one container named `<task>-<alloc_id>`, labelled with the
//! allocation it belongs to (`com.hashicorp.nomad.*`, plus the node id so a
//! restarted agent can clean up only its own leftovers, see
//! [`DockerDriver::remove_dangling`]). Its output is copied into the task's
//! rotating log files by a separate logger process ([`logger`]), started in
//! its own session so it survives the agent.
//!
//! Everything the driver needs to find the task again lives in the
//! container (the daemon keeps it) and in the handle's `driver_state`
//! (container id, logger pid, log settings), so a fresh driver instance
//! recovers a task from its handle alone.
//!
//! The daemon is the only source of truth for a container's state: `wait`
//! uses the daemon's wait endpoint and then inspects the container for the
//! exit code and the OOM flag, instead of keeping state in the agent.
//!
//! API version: bollard 0.21.1 sends no `/vX.Y` prefix, so requests run at
//! the daemon's default version (1.41 on Docker 20.10). Fields that need a
//! newer API are avoided (the stop signal is set on create, not on stop).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::errors::Error as BollardError;
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use bollard::Docker;
use drover_api::DriverInfo;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};

use super::lock;
use super::procfs::is_alive;
use super::{
    BoxFuture, Capabilities, Driver, DriverError, ExecRequest, ExecSession, ExitResult,
    FsIsolation, LogConfig, Recovered, Signal, TaskConfig, TaskHandle, TaskStats,
};

pub mod config;
pub mod container;
mod exec;
pub mod logger;
mod stats;

pub use container::{LABEL_ALLOC_ID, LABEL_NODE_ID};

pub const DRIVER_NAME: &str = "docker";

/// How long `stop` waits for the container after SIGKILL, and `destroy`
/// for the logger after the container is gone.
const KILL_GRACE: Duration = Duration::from_secs(10);

/// How long the fingerprint waits for the daemon.
const FINGERPRINT_TIMEOUT: Duration = Duration::from_secs(5);

/// The driver's plugin configuration (`plugin "docker" { config { ... } }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// The daemon's socket; `None` means `DOCKER_HOST` or the default
    /// `/var/run/docker.sock`.
    pub endpoint: Option<String>,
    /// `gc { container = true }`: remove a task's container once it ended.
    pub gc_container: bool,
    /// `volumes { enabled = false }`: when disabled, only paths inside the
    /// allocation directory may be mounted.
    pub volumes_enabled: bool,
    /// The program that copies a container's output into the task log
    /// files: the root binary's hidden `docker-logger` subcommand (or the
    /// `drover-docker-logger` binary of this crate) in `args_prefix`.
    pub logger: super::raw_exec::LogmonCommand,
}

/// What a handle's `driver_state` holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct DockerState {
    container_id: String,
    image: String,
    #[serde(default)]
    logger_pid: u32,
    #[serde(default)]
    logger_start: u64,
    /// For a logger started again by `recover`.
    logs: LogConfig,
}

pub struct DockerDriver {
    cfg: DockerConfig,
    /// The client once it could be built; until then (a socket that does
    /// not exist yet) every use tries again, so a daemon that comes up
    /// after the agent is found.
    docker: Mutex<Option<Docker>>,
    /// Loggers started by `recover` (the handle still names the dead one),
    /// by container id.
    loggers: Mutex<BTreeMap<String, (u32, u64)>>,
}

/// Builds a client for `endpoint` (`unix://`, `tcp://`, a socket path) or
/// the local default (`DOCKER_HOST`, then `/var/run/docker.sock`). No
/// request is made.
pub fn connect(endpoint: Option<&str>) -> Result<Docker, DriverError> {
    let result = match endpoint {
        Some(e) if e.starts_with('/') => Docker::connect_with_host(&format!("unix://{e}")),
        Some(e) => Docker::connect_with_host(e),
        None => Docker::connect_with_local_defaults(),
    };
    result.map_err(|e| DriverError::Daemon(format!("Failed to connect to docker daemon: {e}")))
}

impl DockerDriver {
    pub fn new(cfg: DockerConfig) -> DockerDriver {
        let docker = connect(cfg.endpoint.as_deref()).ok();
        DockerDriver {
            cfg,
            docker: Mutex::new(docker),
            loggers: Mutex::default(),
        }
    }

    /// The client (cheap to clone: it shares one connection pool).
    fn docker(&self) -> Result<Docker, DriverError> {
        let mut slot = self.docker.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(d) = slot.as_ref() {
            return Ok(d.clone());
        }
        let d = connect(self.cfg.endpoint.as_deref())?;
        *slot = Some(d.clone());
        Ok(d)
    }

    /// Force-removes the containers of node `node_id` whose allocation is
    /// not in `keep` (left over from allocations this node no longer
    /// runs); returns their ids. The agent calls it after restoring its
    /// state.
    pub async fn remove_dangling(
        &self,
        node_id: &str,
        keep: &BTreeSet<String>,
    ) -> Result<Vec<String>, DriverError> {
        let docker = self.docker()?;
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{LABEL_NODE_ID}={node_id}")],
        )]);
        let list = docker
            .list_containers(Some(ListContainersOptions {
                all: true,
                filters: Some(filters),
                ..Default::default()
            }))
            .await
            .map_err(|e| daemon_error("listing containers", e))?;
        let mut removed = Vec::new();
        for c in list {
            let Some(id) = c.id.clone() else { continue };
            if container::alloc_of(&c.labels).is_some_and(|a| keep.contains(a)) {
                continue;
            }
            match docker.remove_container(&id, Some(force_remove())).await {
                Ok(()) => removed.push(id),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(daemon_error(&format!("removing container {id}"), e)),
            }
        }
        Ok(removed)
    }

    async fn fingerprint_now(&self) -> DriverInfo {
        let mut info = DriverInfo {
            update_time: Some(crate::now_nanos()),
            ..DriverInfo::default()
        };
        let docker = match self.docker() {
            Ok(d) => d,
            Err(e) => {
                info.health_description = e.to_string();
                return info;
            }
        };
        match tokio::time::timeout(FINGERPRINT_TIMEOUT, docker.version()).await {
            Ok(Ok(v)) => {
                info.detected = true;
                info.healthy = true;
                info.health_description = "Healthy".into();
                info.attributes.insert("driver.docker".into(), "1".into());
                info.attributes.insert(
                    "driver.docker.version".into(),
                    v.version.unwrap_or_default(),
                );
                if let Some(os) = v.os {
                    info.attributes.insert("driver.docker.os_type".into(), os);
                }
                info.attributes.insert(
                    "driver.docker.volumes.enabled".into(),
                    self.cfg.volumes_enabled.to_string(),
                );
            }
            Ok(Err(e)) => {
                info.health_description =
                    format!("Failed to connect to docker daemon: {}", error_message(&e));
            }
            Err(_) => {
                info.health_description = format!(
                    "Failed to connect to docker daemon: no answer within {}s",
                    FINGERPRINT_TIMEOUT.as_secs()
                );
            }
        }
        info
    }

    async fn start_task(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        let tc = config::parse(cfg, self.cfg.volumes_enabled)?;
        let docker = &self.docker()?;
        container::ensure_image(docker, &tc).await?;
        let body = container::create_body(cfg, &tc)?;
        let name = container::container_name(cfg);
        let opts = || CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        let created = match docker.create_container(Some(opts()), body.clone()).await {
            Ok(c) => c,
            // A container of an earlier run of this task (kept because gc
            // is off, or left by a crash): replace it, as Nomad does.
            Err(BollardError::DockerResponseServerError {
                status_code: 409, ..
            }) => {
                tracing::info!(container = %name, "removing existing container of the same name");
                let _ = docker.remove_container(&name, Some(force_remove())).await;
                docker
                    .create_container(Some(opts()), body)
                    .await
                    .map_err(|e| daemon_error("Failed to create container", e))?
            }
            Err(e) => return Err(daemon_error("Failed to create container", e)),
        };
        for warning in &created.warnings {
            tracing::warn!(container = %name, %warning, "docker warned on container create");
        }
        let id = created.id;
        let cleanup = |id: String| async move {
            let _ = docker.remove_container(&id, Some(force_remove())).await;
        };
        if let Err(e) = docker.start_container(&id, None).await {
            cleanup(id).await;
            return Err(daemon_error("Failed to start container", e));
        }
        let (logger_pid, logger_start) = match logger::spawn(
            &self.cfg.logger,
            self.cfg.endpoint.as_deref(),
            &id,
            &cfg.task_name,
            &cfg.logs,
            None,
        ) {
            Ok(p) => p,
            Err(e) => {
                cleanup(id).await;
                return Err(e);
            }
        };
        let state = DockerState {
            container_id: id,
            image: tc.image,
            logger_pid,
            logger_start,
            logs: cfg.logs.clone(),
        };
        Ok(TaskHandle {
            driver: DRIVER_NAME.to_string(),
            alloc_id: cfg.alloc_id.clone(),
            task_name: cfg.task_name.clone(),
            pid: None,
            start_time: None,
            driver_state: serde_json::to_value(&state)
                .map_err(|e| DriverError::InvalidHandle(format!("encoding state: {e}")))?,
        })
    }

    /// Waits for the container to stop, then reads how it ended.
    async fn wait_exit(&self, id: &str) -> ExitResult {
        let docker = match self.docker() {
            Ok(d) => d,
            Err(e) => return exit_err(e.to_string()),
        };
        let mut fallback_code = None;
        loop {
            let opts = WaitContainerOptions {
                condition: "not-running".into(),
            };
            let mut stream = docker.wait_container(id, Some(opts));
            match stream.next().await {
                Some(Ok(r)) => fallback_code = Some(r.status_code),
                Some(Err(BollardError::DockerContainerWaitError { code, .. })) => {
                    fallback_code = Some(code)
                }
                Some(Err(e)) if is_not_found(&e) => return exit_err("container not found".into()),
                None => {}
                Some(Err(e)) => {
                    // A timeout or a daemon restart: look again.
                    tracing::debug!(container = id, error = %e, "waiting for container failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
            // The stream may end without an answer (daemon restart); only
            // the container's own state says it stopped.
            match self.running(id).await {
                Ok(Some(true)) | Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                Ok(_) => break,
            }
        }
        match self.inspect_state(id).await {
            Ok(Some(result)) => result,
            Ok(None) => ExitResult {
                exit_code: fallback_code.map(clamp_code),
                ..ExitResult::default()
            },
            Err(e) => exit_err(e.to_string()),
        }
    }

    /// `Ok(None)`: no such container; `Ok(Some)` with `exit_code: None`
    /// never happens for a stopped one. A running container is reported by
    /// [`Self::running`].
    async fn inspect_state(&self, id: &str) -> Result<Option<ExitResult>, DriverError> {
        let docker = self.docker()?;
        let info = match docker.inspect_container(id, None).await {
            Ok(i) => i,
            Err(e) if is_not_found(&e) => return Ok(None),
            Err(e) => return Err(daemon_error("inspecting container", e)),
        };
        let state = info.state.unwrap_or_default();
        Ok(Some(ExitResult {
            exit_code: state.exit_code.map(clamp_code),
            signal: None,
            oom_killed: state.oom_killed.unwrap_or(false),
            err: state.error.filter(|e| !e.is_empty()),
        }))
    }

    /// `Some(true)` running, `Some(false)` stopped, `None` gone.
    async fn running(&self, id: &str) -> Result<Option<bool>, DriverError> {
        let docker = self.docker()?;
        match docker.inspect_container(id, None).await {
            Ok(i) => Ok(Some(i.state.and_then(|s| s.running).unwrap_or(false))),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(daemon_error("inspecting container", e)),
        }
    }

    /// Sends a signal; `Ok(false)` when the container does not run.
    async fn kill(&self, id: &str, signal: &str) -> Result<bool, DriverError> {
        let opts = KillContainerOptions {
            signal: signal.to_string(),
        };
        match self.docker()?.kill_container(id, Some(opts)).await {
            Ok(()) => Ok(true),
            Err(e) if is_not_found(&e) || is_conflict(&e) => Ok(false),
            Err(e) => Err(daemon_error(&format!("sending {signal} to container"), e)),
        }
    }

    async fn stop_task(
        &self,
        h: &TaskHandle,
        signal: &str,
        kill_timeout: Duration,
    ) -> Result<(), DriverError> {
        let sig = Signal::parse(signal)?;
        let st = state_of(h)?;
        let id = &st.container_id;
        if !self.kill(id, sig.name).await? {
            return Ok(());
        }
        if tokio::time::timeout(kill_timeout, self.wait_exit(id))
            .await
            .is_err()
        {
            self.kill(id, "SIGKILL").await?;
            let _ = tokio::time::timeout(KILL_GRACE, self.wait_exit(id)).await;
        }
        Ok(())
    }

    async fn signal_task(&self, h: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        let sig = Signal::parse(signal)?;
        let st = state_of(h)?;
        if self.kill(&st.container_id, sig.name).await? {
            Ok(())
        } else {
            Err(DriverError::TaskNotRunning)
        }
    }

    async fn recover_task(&self, h: &TaskHandle) -> Result<Recovered, DriverError> {
        let st = state_of(h)?;
        let id = &st.container_id;
        match self.running(id).await? {
            None => Ok(Recovered::Exited(exit_err("container not found".into()))),
            Some(false) => Ok(Recovered::Exited(
                self.inspect_state(id)
                    .await?
                    .unwrap_or_else(|| exit_err("container not found".into())),
            )),
            Some(true) => {
                let known = lock(&self.loggers).get(id).copied();
                let (pid, start) = known.unwrap_or((st.logger_pid, st.logger_start));
                if !is_alive(pid, start) {
                    // Output from now on only: what came before is in the
                    // files already (or lost with the old logger).
                    let fresh = logger::spawn(
                        &self.cfg.logger,
                        self.cfg.endpoint.as_deref(),
                        id,
                        &h.task_name,
                        &st.logs,
                        Some(crate::now_nanos()),
                    )?;
                    lock(&self.loggers).insert(id.clone(), fresh);
                }
                Ok(Recovered::Running)
            }
        }
    }

    async fn destroy_task(&self, h: &TaskHandle) -> Result<(), DriverError> {
        let st = state_of(h)?;
        let id = &st.container_id;
        if self.running(id).await? == Some(true) {
            self.stop_task(h, "SIGKILL", Duration::ZERO).await?;
        }
        if self.cfg.gc_container {
            match self
                .docker()?
                .remove_container(id, Some(force_remove()))
                .await
            {
                Ok(()) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(daemon_error("removing container", e)),
            }
        }
        // The loggers end with the container's log stream; one that hangs
        // on is killed so no process of the task outlives it.
        let mut loggers = vec![(st.logger_pid, st.logger_start)];
        loggers.extend(lock(&self.loggers).remove(id));
        let deadline = Instant::now() + KILL_GRACE;
        for (pid, start) in loggers {
            while is_alive(pid, start) && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            if is_alive(pid, start) {
                if let Ok(p) = libc::pid_t::try_from(pid) {
                    // SAFETY: kill has no memory preconditions; the pid
                    // and start time identify our logger.
                    unsafe {
                        libc::kill(p, libc::SIGKILL);
                    }
                }
            }
        }
        Ok(())
    }

    async fn stats_task(&self, h: &TaskHandle) -> Result<TaskStats, DriverError> {
        let st = state_of(h)?;
        if self.running(&st.container_id).await? != Some(true) {
            return Err(DriverError::TaskNotRunning);
        }
        stats::sample(&self.docker()?, &st.container_id).await
    }
}

impl Driver for DockerDriver {
    fn name(&self) -> &'static str {
        DRIVER_NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            send_signals: true,
            exec: true,
            fs_isolation: FsIsolation::Image,
        }
    }

    fn fingerprint(&self) -> BoxFuture<'_, DriverInfo> {
        Box::pin(self.fingerprint_now())
    }

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> BoxFuture<'a, Result<TaskHandle, DriverError>> {
        Box::pin(self.start_task(cfg))
    }

    fn wait<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, ExitResult> {
        Box::pin(async move {
            match state_of(handle) {
                Ok(st) => self.wait_exit(&st.container_id).await,
                Err(e) => exit_err(e.to_string()),
            }
        })
    }

    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
        kill_timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.stop_task(handle, signal, kill_timeout))
    }

    fn signal<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.signal_task(handle, signal))
    }

    fn recover<'a>(
        &'a self,
        handle: &'a TaskHandle,
    ) -> BoxFuture<'a, Result<Recovered, DriverError>> {
        Box::pin(self.recover_task(handle))
    }

    fn stats<'a>(
        &'a self,
        handle: &'a TaskHandle,
    ) -> BoxFuture<'a, Result<TaskStats, DriverError>> {
        Box::pin(self.stats_task(handle))
    }

    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(self.destroy_task(handle))
    }

    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        _task: &'a TaskConfig,
        req: ExecRequest,
    ) -> BoxFuture<'a, Result<ExecSession, DriverError>> {
        Box::pin(async move {
            let st = state_of(handle)?;
            exec::start(&self.docker()?, &st.container_id, req).await
        })
    }

    fn attach_stdin<'a>(
        &'a self,
        handle: &'a TaskHandle,
        _task: &'a TaskConfig,
    ) -> BoxFuture<'a, Result<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>, DriverError>>
    {
        Box::pin(async move {
            let st = state_of(handle)?;
            exec::attach_stdin(&self.docker()?, &st.container_id).await
        })
    }
}

/// The container id of a handle made by this driver.
pub fn container_id(h: &TaskHandle) -> Result<String, DriverError> {
    state_of(h).map(|s| s.container_id)
}

fn state_of(h: &TaskHandle) -> Result<DockerState, DriverError> {
    if h.driver != DRIVER_NAME {
        return Err(DriverError::InvalidHandle(format!(
            "handle of driver {:?}, not docker",
            h.driver
        )));
    }
    let st: DockerState = serde_json::from_value(h.driver_state.clone())
        .map_err(|e| DriverError::InvalidHandle(format!("docker driver state: {e}")))?;
    if st.container_id.is_empty() {
        return Err(DriverError::InvalidHandle(
            "docker handle without a container id".into(),
        ));
    }
    Ok(st)
}

fn force_remove() -> RemoveContainerOptions {
    RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    }
}

fn exit_err(err: String) -> ExitResult {
    ExitResult {
        err: Some(err),
        ..ExitResult::default()
    }
}

fn clamp_code(code: i64) -> i32 {
    i32::try_from(code).unwrap_or(-1)
}

/// The daemon's own message when it sent one, else bollard's.
fn error_message(e: &BollardError) -> String {
    match e {
        BollardError::DockerResponseServerError { message, .. } => message.clone(),
        BollardError::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

fn daemon_error(context: &str, e: BollardError) -> DriverError {
    DriverError::Daemon(format!("{context}: {}", error_message(&e)))
}

fn is_not_found(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

fn is_conflict(e: &BollardError) -> bool {
    matches!(
        e,
        BollardError::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}
