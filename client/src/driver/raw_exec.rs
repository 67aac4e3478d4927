//! The `raw_exec` driver: runs `command` with `args` as a plain host
//! process, as Nomad's raw_exec does, without isolation.
//!
//! Each task is started in its own session (`setsid` between fork and exec),
//! so its pid is also its process group id; `stop` signals the whole group
//! and then kills what is left of it, so no process of the task outlives it.
//! stdout and stderr go through pipes to one log collector process per task
//! (stdout as its stdin, stderr as its fd 3; see [`crate::logmon`]), started
//! in its own session too, so both the task and its logging survive the
//! agent.
//!
//! Waiting: a task this driver instance spawned is a child; a background
//! tokio task reaps it and publishes its exit status on a watch channel. A
//! task recovered after an agent restart is not our child, so its exit
//! status is unknowable: `wait` polls `/proc/<pid>/stat` every 100 ms
//! (comparing the process start time to detect pid reuse, and treating a
//! zombie as exited) and then reports `exit_code: None` with an `err`
//! message saying why.
//!
//! Interactive tasks (`config { interactive = true }`, a Drover extension
//! for attach): the task's stdin is a FIFO at
//! `<task_dir>/secrets/.drover-stdin` ([`stdin_fifo`]) instead of
//! `/dev/null`. The task gets it opened read-write, so it holds a writer
//! itself and never reads EOF while nobody is attached; an attach opens the
//! FIFO by path for writing. Nothing about it lives in the agent, so it
//! keeps working after the agent is killed and restarted. The secrets dir
//! is private to the task (0700) and not its working directory, so the
//! FIFO does not show up where the task or its user would trip over it.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use drover_api::DriverInfo;
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::sync::watch;

use super::procfs::{
    clock_ticks_per_sec, group_members, is_alive, page_size, read_stat, uptime_secs,
};
use super::{
    exec_pty, lock, BoxFuture, Capabilities, Driver, DriverError, ExecRequest, ExecSession,
    ExitResult, FsIsolation, Recovered, Signal, TaskConfig, TaskHandle, TaskStats,
};
use crate::logmon::{log_name, LogStream, LogmonArgs};

pub const DRIVER_NAME: &str = "raw_exec";

/// How often `wait` and `stop` look at `/proc` for a task that is not our
/// child.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long `stop` waits for the task to disappear after SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// The program that collects a task stream's logs: `drover-logmon`, or the
/// root binary with its hidden subcommand in `args_prefix`. The collector's
/// own flags (see [`LogmonArgs::to_args`]) are appended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogmonCommand {
    pub program: PathBuf,
    pub args_prefix: Vec<String>,
}

/// The driver's plugin configuration (`plugin "raw_exec" { config { ... } }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawExecConfig {
    /// Nomad leaves raw_exec disabled unless the operator enables it.
    pub enabled: bool,
    pub logmon: LogmonCommand,
}

/// A task process: `(pid, start_time)`, unique even across pid reuse.
type ProcKey = (u32, u64);

pub struct RawExecDriver {
    cfg: RawExecConfig,
    /// Exit status of the children this instance spawned; `None` until the
    /// child exits.
    children: Mutex<BTreeMap<ProcKey, watch::Receiver<Option<ExitResult>>>>,
    /// The previous CPU sample per task, for `cpu_percent`.
    cpu_samples: Mutex<BTreeMap<ProcKey, (Instant, u64)>>,
}

impl RawExecDriver {
    pub fn new(cfg: RawExecConfig) -> RawExecDriver {
        RawExecDriver {
            cfg,
            children: Mutex::default(),
            cpu_samples: Mutex::default(),
        }
    }

    async fn start_task(&self, cfg: &TaskConfig) -> Result<TaskHandle, DriverError> {
        if !self.cfg.enabled {
            return Err(DriverError::Disabled(DRIVER_NAME));
        }
        let (command, args) = parse_driver_config(&cfg.driver_config)?;
        let user = match cfg.user.as_deref() {
            Some(name) if !name.is_empty() => Some(lookup_user(name)?),
            _ => None,
        };
        if !cfg.task_dir.is_dir() {
            return Err(DriverError::io(
                format!("task dir {}", cfg.task_dir.display()),
                io::Error::new(io::ErrorKind::NotFound, "not a directory"),
            ));
        }

        let stdin = if super::interactive(&cfg.driver_config) {
            Stdio::from(open_stdin_fifo(&stdin_fifo(cfg))?)
        } else {
            Stdio::null()
        };
        let (stdout_r, stdout_w) =
            pipe().map_err(|e| DriverError::io("creating stdout pipe", e))?;
        let (stderr_r, stderr_w) =
            pipe().map_err(|e| DriverError::io("creating stderr pipe", e))?;
        let logmon_pids = [self.spawn_logmon(cfg, stdout_r, stderr_r)?];

        // The write ends live only inside `cmd`; dropping `cmd` right after
        // the spawn leaves the task as the only writer, so the collectors
        // see EOF exactly when the task's processes are gone.
        let mut child = {
            let mut cmd = Command::new(&command);
            cmd.args(&args)
                .current_dir(&cfg.task_dir)
                .env_clear()
                .envs(&cfg.env)
                .stdin(stdin)
                .stdout(Stdio::from(stdout_w))
                .stderr(Stdio::from(stderr_w))
                .kill_on_drop(false);
            if let Some((uid, gid)) = user {
                // SAFETY: geteuid has no preconditions.
                if uid != unsafe { libc::geteuid() } {
                    cmd.uid(uid).gid(gid);
                }
            }
            new_session(&mut cmd);
            cmd.spawn().map_err(|e| launch_error(&command, &e))?
        };

        let Some(pid) = child.id() else {
            return Err(DriverError::Launch(format!(
                "{command}: exited before its pid was read"
            )));
        };
        // The child is not reaped until the waiter below polls it, so its
        // /proc entry exists here even if it already exited.
        let Some(start_time) = read_stat(pid).map(|s| s.start_time) else {
            return Err(DriverError::Launch(format!(
                "{command}: cannot read /proc/{pid}/stat"
            )));
        };

        let (tx, rx) = watch::channel(None);
        tokio::spawn(async move {
            let result = match child.wait().await {
                Ok(status) => ExitResult {
                    exit_code: status.code(),
                    signal: status.signal(),
                    oom_killed: false,
                    err: None,
                },
                Err(e) => ExitResult {
                    err: Some(format!("waiting for task process: {e}")),
                    ..ExitResult::default()
                },
            };
            let _ = tx.send(Some(result));
        });
        lock(&self.children).insert((pid, start_time), rx);

        Ok(TaskHandle {
            driver: DRIVER_NAME.to_string(),
            alloc_id: cfg.alloc_id.clone(),
            task_name: cfg.task_name.clone(),
            pid: Some(pid),
            start_time: Some(start_time),
            driver_state: json!({ "logmon_pids": logmon_pids }),
        })
    }

    /// Starts the collector of one stream in its own session, reading
    /// `read_end`. A background task reaps it when it exits at EOF.
    /// Starts the task's log collector: one process for both streams, the
    /// stdout pipe as its stdin and the stderr pipe as its fd 3 (see
    /// [`crate::logmon::FD3_NAME_FLAG`]); a process per stream would make
    /// starting a task fork the agent three times instead of twice.
    fn spawn_logmon(
        &self,
        cfg: &TaskConfig,
        stdout_r: OwnedFd,
        stderr_r: OwnedFd,
    ) -> Result<u32, DriverError> {
        let args = LogmonArgs {
            dir: cfg.logs.dir.clone(),
            name: log_name(&cfg.task_name, LogStream::Stdout),
            max_files: cfg.logs.max_files.max(1),
            max_file_size: cfg.logs.max_file_size_bytes().max(1),
        };
        let mut cmd = Command::new(&self.cfg.logmon.program);
        cmd.args(&self.cfg.logmon.args_prefix)
            .args(args.to_args())
            .arg(crate::logmon::FD3_NAME_FLAG)
            .arg(log_name(&cfg.task_name, LogStream::Stderr))
            .current_dir("/")
            .stdin(Stdio::from(stdout_r))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(false);
        new_session(&mut cmd);
        let fd3 = stderr_r.as_raw_fd();
        // SAFETY: between fork and exec only dup2 and fcntl run, both
        // async-signal-safe; `stderr_r` stays open in the parent until
        // after the spawn.
        unsafe {
            cmd.pre_exec(move || {
                if fd3 == 3 {
                    // Already in place: only clear close-on-exec.
                    if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(fd3, 3) == -1 {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().map_err(|e| {
            DriverError::io(
                format!(
                    "starting log collector {}",
                    self.cfg.logmon.program.display()
                ),
                e,
            )
        })?;
        drop(stderr_r);
        let pid = child.id().unwrap_or(0);
        tokio::spawn(async move {
            let _ = child.wait().await;
        });
        Ok(pid)
    }

    /// Resolves when the task has exited; see the module doc.
    async fn wait_exit(&self, pid: u32, start_time: u64) -> ExitResult {
        let rx = lock(&self.children).get(&(pid, start_time)).cloned();
        if let Some(mut rx) = rx {
            let seen = match rx.wait_for(Option::is_some).await {
                Ok(value) => value.clone(),
                Err(_) => None,
            };
            if let Some(result) = seen {
                return result;
            }
        }
        while is_alive(pid, start_time) {
            tokio::time::sleep(POLL_INTERVAL).await;
        }
        ExitResult {
            err: Some(format!(
                "task process {pid} exited while not a child of this agent (recovered after a restart); \
                 its exit code is unknown"
            )),
            ..ExitResult::default()
        }
    }

    /// The exit result if the task has exited already.
    fn exited(&self, pid: u32, start_time: u64) -> Option<ExitResult> {
        if let Some(rx) = lock(&self.children).get(&(pid, start_time)) {
            if let Some(result) = rx.borrow().clone() {
                return Some(result);
            }
        }
        if is_alive(pid, start_time) {
            return None;
        }
        Some(ExitResult {
            err: Some(format!("task process {pid} exited while the agent was not watching; its exit code is unknown")),
            ..ExitResult::default()
        })
    }

    async fn stop_task(
        &self,
        h: &TaskHandle,
        signal: &str,
        kill_timeout: Duration,
    ) -> Result<(), DriverError> {
        let sig = Signal::parse(signal)?;
        let (pid, start) = check_handle(h)?;
        if self.exited(pid, start).is_none() {
            kill_group(pid, sig.number);
            if tokio::time::timeout(kill_timeout, self.wait_exit(pid, start))
                .await
                .is_err()
            {
                kill_group(pid, libc::SIGKILL);
            }
        }
        // The main process is gone (or was just killed); anything left in
        // its group is killed too. The group id cannot have been reused
        // while members remain, which `group_members` checks.
        if !group_members(pid).is_empty() {
            kill_group(pid, libc::SIGKILL);
        }
        let _ = tokio::time::timeout(KILL_GRACE, self.wait_exit(pid, start)).await;
        Ok(())
    }

    async fn signal_task(&self, h: &TaskHandle, signal: &str) -> Result<(), DriverError> {
        let sig = Signal::parse(signal)?;
        let (pid, start) = check_handle(h)?;
        if self.exited(pid, start).is_some() {
            return Err(DriverError::TaskNotRunning);
        }
        // Like Nomad's executor, only the main process: a supervisor told
        // to reload (SIGHUP) decides itself what its workers get.
        let pid_t = pid_t(pid)?;
        // SAFETY: kill has no memory preconditions.
        if unsafe { libc::kill(pid_t, sig.number) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ESRCH) {
                return Err(DriverError::TaskNotRunning);
            }
            return Err(DriverError::io(format!("sending {} to {pid}", sig.name), e));
        }
        Ok(())
    }

    fn task_stats(&self, h: &TaskHandle) -> Result<TaskStats, DriverError> {
        let (pid, start) = check_handle(h)?;
        if self.exited(pid, start).is_some() {
            return Err(DriverError::TaskNotRunning);
        }
        let members = group_members(pid);
        let mut stats = TaskStats::default();
        for s in &members {
            stats.cpu_user_ticks += s.utime;
            stats.cpu_system_ticks += s.stime;
            stats.rss_bytes += s.rss_pages.saturating_mul(page_size());
        }
        stats.cpu_ticks = stats.cpu_user_ticks + stats.cpu_system_ticks;
        stats.pids = u32::try_from(members.len()).unwrap_or(u32::MAX);
        stats.timestamp = crate::now_nanos();

        let now = Instant::now();
        let hz = clock_ticks_per_sec() as f64;
        let previous = lock(&self.cpu_samples).insert((pid, start), (now, stats.cpu_ticks));
        let (elapsed_secs, ticks) = match previous {
            Some((at, ticks)) => (
                now.duration_since(at).as_secs_f64(),
                stats.cpu_ticks.saturating_sub(ticks),
            ),
            // First sample: the average since the task started.
            None => (
                uptime_secs().map_or(0.0, |up| up - start as f64 / hz),
                stats.cpu_ticks,
            ),
        };
        if elapsed_secs > 0.0 {
            stats.cpu_percent = ticks as f64 / hz / elapsed_secs * 100.0;
        }
        Ok(stats)
    }
}

impl Driver for RawExecDriver {
    fn name(&self) -> &'static str {
        DRIVER_NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            send_signals: true,
            exec: true,
            fs_isolation: FsIsolation::None,
        }
    }

    fn fingerprint(&self) -> BoxFuture<'_, DriverInfo> {
        Box::pin(async move {
            let mut info = DriverInfo {
                update_time: Some(crate::now_nanos()),
                ..DriverInfo::default()
            };
            if self.cfg.enabled {
                info.detected = true;
                info.healthy = true;
                info.health_description = "Healthy".to_string();
                info.attributes
                    .insert("driver.raw_exec".to_string(), "1".to_string());
            } else {
                info.health_description = "disabled".to_string();
            }
            info
        })
    }

    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> BoxFuture<'a, Result<TaskHandle, DriverError>> {
        Box::pin(self.start_task(cfg))
    }

    fn wait<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, ExitResult> {
        Box::pin(async move {
            match check_handle(handle) {
                Ok((pid, start)) => self.wait_exit(pid, start).await,
                Err(e) => ExitResult {
                    err: Some(e.to_string()),
                    ..ExitResult::default()
                },
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
        Box::pin(async move {
            let (pid, start) = check_handle(handle)?;
            Ok(match self.exited(pid, start) {
                None => Recovered::Running,
                Some(result) => Recovered::Exited(result),
            })
        })
    }

    fn stats<'a>(
        &'a self,
        handle: &'a TaskHandle,
    ) -> BoxFuture<'a, Result<TaskStats, DriverError>> {
        Box::pin(async move { self.task_stats(handle) })
    }

    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async move {
            let (pid, start) = check_handle(handle)?;
            self.stop_task(handle, "SIGKILL", Duration::ZERO).await?;
            lock(&self.children).remove(&(pid, start));
            lock(&self.cpu_samples).remove(&(pid, start));
            Ok(())
        })
    }

    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        task: &'a TaskConfig,
        req: ExecRequest,
    ) -> BoxFuture<'a, Result<ExecSession, DriverError>> {
        Box::pin(async move {
            let (pid, start) = check_handle(handle)?;
            if self.exited(pid, start).is_some() {
                return Err(DriverError::TaskNotRunning);
            }
            let user = match task.user.as_deref() {
                Some(name) if !name.is_empty() => Some(lookup_user(name)?),
                _ => None,
            };
            exec_pty::spawn(task, user, &req)
        })
    }

    fn attach_stdin<'a>(
        &'a self,
        handle: &'a TaskHandle,
        task: &'a TaskConfig,
    ) -> BoxFuture<'a, Result<std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>, DriverError>>
    {
        Box::pin(async move {
            let (pid, start) = check_handle(handle)?;
            if self.exited(pid, start).is_some() {
                return Err(DriverError::TaskNotRunning);
            }
            let path = stdin_fifo(task);
            // Non-blocking open for writing: ENXIO when no process holds the
            // read side, which means the task is gone.
            let sender = tokio::net::unix::pipe::OpenOptions::new()
                .open_sender(&path)
                .map_err(|e| match e.raw_os_error() {
                    Some(libc::ENXIO) => DriverError::TaskNotRunning,
                    _ => DriverError::io(format!("opening {}", path.display()), e),
                })?;
            Ok(Box::pin(sender) as std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>)
        })
    }
}

/// Reads `command` (required, a non-empty string) and `args` (optional,
/// strings) from the task's config block.
fn parse_driver_config(
    config: &BTreeMap<String, Value>,
) -> Result<(String, Vec<String>), DriverError> {
    let invalid = |message: String| DriverError::InvalidConfig {
        driver: DRIVER_NAME,
        message,
    };
    let command = match config.get("command") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None | Some(Value::Null) => {
            return Err(invalid("missing required field \"command\"".to_string()));
        }
        Some(other) => {
            return Err(invalid(format!(
                "\"command\" must be a string, got {other}"
            )))
        }
    };
    let args = match config.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(format!(
                    "\"args\" must be a list of strings, got element {other}"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(invalid(format!(
                "\"args\" must be a list of strings, got {other}"
            )))
        }
    };
    for key in config
        .keys()
        .filter(|k| !matches!(k.as_str(), "command" | "args" | "interactive"))
    {
        tracing::debug!(key, "raw_exec ignores unknown config key");
    }
    Ok((command, args))
}

/// Go's wording for the same failures, since Nomad's messages (and the
/// scripts that grep them) come from `os/exec`.
fn launch_error(command: &str, e: &io::Error) -> DriverError {
    let message = match e.kind() {
        io::ErrorKind::NotFound if !command.contains('/') => {
            format!("exec: \"{command}\": executable file not found in $PATH")
        }
        io::ErrorKind::NotFound => format!("fork/exec {command}: no such file or directory"),
        io::ErrorKind::PermissionDenied => format!("fork/exec {command}: permission denied"),
        _ => format!("fork/exec {command}: {e}"),
    };
    DriverError::Launch(message)
}

/// Makes the child a session (and process group) leader, detached from the
/// agent's terminal and process group.
fn new_session(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and calls only
    // setsid, which is async-signal-safe, and reads errno.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

/// Where an interactive task's stdin FIFO lives (see the module docs).
pub fn stdin_fifo(cfg: &TaskConfig) -> PathBuf {
    cfg.task_dir
        .join(crate::allocdir::TASK_SECRETS)
        .join(".drover-stdin")
}

/// Creates the FIFO if it is missing (a restarted task reuses it, with
/// whatever an attach wrote that the previous run did not read) and opens
/// it read-write for the task.
fn open_stdin_fifo(path: &Path) -> Result<OwnedFd, DriverError> {
    use std::os::unix::ffi::OsStrExt;
    let context = || format!("stdin fifo {}", path.display());
    let cpath =
        CString::new(path.as_os_str().as_bytes()).map_err(|_| DriverError::Launch(context()))?;
    // SAFETY: `cpath` is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(cpath.as_ptr(), 0o600) } != 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(DriverError::io(context(), e));
        }
    }
    // Read-write: opening a FIFO that way never blocks, and the task's own
    // writer keeps EOF away while nobody is attached.
    let file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| DriverError::io(context(), e))?;
    Ok(OwnedFd::from(file))
}

/// A close-on-exec pipe: (read end, write end). Close-on-exec keeps the
/// ends out of every other process the agent spawns concurrently; the
/// spawns that should have them get them dup'ed onto their stdio (or fd 3).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and owned by
    // nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn lookup_user(name: &str) -> Result<(u32, u32), DriverError> {
    let unknown = || DriverError::UnknownUser(name.to_string());
    let cname = CString::new(name).map_err(|_| unknown())?;
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain old data; zeroed is a valid value.
    let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
    let mut result: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: all pointers are valid for the given lengths; on success
    // `result` points at `pwd`, whose strings live in `buf`.
    let rc = unsafe {
        libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut result,
        )
    };
    if rc != 0 || result.is_null() {
        return Err(unknown());
    }
    Ok((pwd.pw_uid, pwd.pw_gid))
}

fn check_handle(h: &TaskHandle) -> Result<(u32, u64), DriverError> {
    if h.driver != DRIVER_NAME {
        return Err(DriverError::InvalidHandle(format!(
            "handle of driver {:?}, not raw_exec",
            h.driver
        )));
    }
    match (h.pid, h.start_time) {
        (Some(pid), Some(start)) if pid > 1 => Ok((pid, start)),
        _ => Err(DriverError::InvalidHandle(
            "raw_exec handle without pid and start time".to_string(),
        )),
    }
}

fn pid_t(pid: u32) -> Result<libc::pid_t, DriverError> {
    libc::pid_t::try_from(pid)
        .map_err(|_| DriverError::InvalidHandle(format!("pid {pid} out of range")))
}

/// Sends `sig` to the process group `pgid` (the task's pid, since it is a
/// session leader). A group that no longer exists is not an error.
fn kill_group(pgid: u32, sig: i32) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill has no memory preconditions; a negative pid addresses
    // the group.
    unsafe {
        libc::kill(-pgid, sig);
    }
}
