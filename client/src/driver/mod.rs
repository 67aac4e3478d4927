//! Task drivers: the one trait every driver implements,
//! the configuration a task runner hands to a driver, and the handle a
//! driver hands back.
//!
//! The trait is object safe (methods return boxed futures, no `async_trait`)
//! so the task runner can hold `Arc<dyn Driver>` and pick the driver by the
//! task's `driver` name at run time.
//!
//! A [`TaskHandle`] is plain serializable data. The task runner persists it
//! in the client state store; after an agent restart a fresh driver instance
//! gets it back through [`Driver::recover`] and can wait on, signal, stop and
//! measure the task again without having started it.

pub mod docker;
pub mod exec_pty;
pub mod procfs;
pub mod raw_exec;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use drover_api::DriverInfo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};

/// The future every [`Driver`] method returns.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What every task driver can do. Methods take `&self` so one driver
/// instance serves all tasks of its kind on the node.
pub trait Driver: Send + Sync {
    /// The name jobs use in `task.driver` (`raw_exec`, `docker`).
    fn name(&self) -> &'static str;

    /// What the driver supports; the HTTP layer uses `fs_isolation` for ACL
    /// checks (`alloc-node-exec` is needed when it is `None`).
    fn capabilities(&self) -> Capabilities;

    /// Detection and health, with node attributes such as
    /// `driver.raw_exec = "1"`.
    fn fingerprint(&self) -> BoxFuture<'_, DriverInfo>;

    /// Starts the task and its log collection. The returned handle is all a
    /// later driver instance needs to re-attach.
    fn start<'a>(&'a self, cfg: &'a TaskConfig) -> BoxFuture<'a, Result<TaskHandle, DriverError>>;

    /// Resolves when the task has exited. Never fails: problems observing
    /// the exit are reported in [`ExitResult::err`]. Several callers may
    /// wait on the same task at once.
    fn wait<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, ExitResult>;

    /// Sends `signal` (a Nomad signal name, see [`Signal::parse`]), waits up
    /// to `kill_timeout` for the task to exit, then kills whatever is left
    /// of it. Stopping a task that already exited is not an error.
    fn stop<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
        kill_timeout: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>>;

    /// Delivers a signal to the running task.
    fn signal<'a>(
        &'a self,
        handle: &'a TaskHandle,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>>;

    /// Re-attaches to a task started by an earlier agent process. An `Err`
    /// means the handle is unusable (another driver's handle, missing
    /// fields); a task that died while the agent was away is
    /// `Ok(Recovered::Exited(..))`, so the task runner can record the exit
    /// and apply the restart policy.
    fn recover<'a>(
        &'a self,
        handle: &'a TaskHandle,
    ) -> BoxFuture<'a, Result<Recovered, DriverError>>;

    /// Resource usage of the task right now.
    fn stats<'a>(&'a self, handle: &'a TaskHandle)
        -> BoxFuture<'a, Result<TaskStats, DriverError>>;

    /// Frees what the driver keeps for a task that has exited (bookkeeping,
    /// and later containers); kills the task first if it still runs.
    fn destroy<'a>(&'a self, handle: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>>;

    /// Runs a command inside the running task: in its
    /// environment, working dir and isolation. `task` is the config the task
    /// was started with. Drivers without exec keep this default.
    fn exec<'a>(
        &'a self,
        handle: &'a TaskHandle,
        task: &'a TaskConfig,
        req: ExecRequest,
    ) -> BoxFuture<'a, Result<ExecSession, DriverError>> {
        let _ = (handle, task, req);
        Box::pin(async { Err(DriverError::NotSupported("exec")) })
    }

    /// Drover extension (attach): a writer into the stdin of a running
    /// task started with `config { interactive = true }`. The task's stdin
    /// stays open while nobody writes, and across writers, so attaching,
    /// detaching and attaching again never ends the task's input; dropping
    /// the writer detaches. Must work for a task recovered after an agent
    /// restart. Drivers without it keep this default.
    fn attach_stdin<'a>(
        &'a self,
        handle: &'a TaskHandle,
        task: &'a TaskConfig,
    ) -> BoxFuture<'a, Result<Pin<Box<dyn AsyncWrite + Send>>, DriverError>> {
        let _ = (handle, task);
        Box::pin(async { Err(DriverError::NotSupported("attach")) })
    }
}

/// Whether a task's `config` block asks for an open stdin
/// (`interactive = true`, the docker driver's option, which raw_exec shares
/// in Drover). Strings are accepted as HCL-to-JSON tools write them.
pub fn interactive(driver_config: &BTreeMap<String, serde_json::Value>) -> bool {
    match driver_config.get("interactive") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => s == "true",
        _ => false,
    }
}

/// A command to run inside a running task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    /// Program and arguments; never empty (the HTTP layer refuses that).
    pub command: Vec<String>,
    /// Run under a pseudo terminal: stdout and stderr are one stream.
    pub tty: bool,
    /// The terminal's first size, `(rows, cols)`, when `tty`.
    pub tty_size: Option<(u16, u16)>,
}

/// A running exec command. Dropping the session kills what is left of the
/// command.
pub struct ExecSession {
    /// The command's stdin; shutting it down (or dropping it) closes it.
    pub stdin: Pin<Box<dyn AsyncWrite + Send>>,
    /// The command's stdout; with a tty, everything the terminal prints.
    pub stdout: Pin<Box<dyn AsyncRead + Send>>,
    /// The command's stderr; `None` with a tty.
    pub stderr: Option<Pin<Box<dyn AsyncRead + Send>>>,
    pub control: Box<dyn ExecControl>,
}

/// Control of a running exec command.
pub trait ExecControl: Send + Sync {
    /// New terminal size `(rows, cols)`; ignored without a tty.
    fn resize(&self, rows: u16, cols: u16) -> BoxFuture<'_, Result<(), DriverError>>;
    /// Resolves with the exit code once the command has exited (128 + the
    /// signal number when a signal killed it, as a shell reports it).
    fn wait(&self) -> BoxFuture<'_, Result<i32, DriverError>>;
}

/// Nomad's `drivers.Capabilities`, the parts Drover uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    pub send_signals: bool,
    pub exec: bool,
    pub fs_isolation: FsIsolation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsIsolation {
    /// The task sees the host filesystem (`raw_exec`).
    None,
    /// chroot-like isolation (`exec`).
    Chroot,
    /// The task runs in its own image (`docker`).
    Image,
}

/// Everything a driver needs to start one task. Built by the task runner
/// after interpolation; drivers never look at the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskConfig {
    pub alloc_id: String,
    pub task_name: String,
    /// The task's `config { ... }` block, already interpolated.
    #[serde(default)]
    pub driver_config: BTreeMap<String, serde_json::Value>,
    /// The complete environment of the task; drivers add nothing the task
    /// runner did not put here.
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// `task.user`; `None` runs as the agent's user.
    #[serde(default)]
    pub user: Option<String>,
    /// The task's own directory (`<alloc_dir>/<task>`), its working dir.
    pub task_dir: PathBuf,
    /// The allocation directory (`<data_dir>/alloc/<alloc_id>`).
    pub alloc_dir: PathBuf,
    pub logs: LogConfig,
    #[serde(default)]
    pub resources: TaskResources,
    /// `task.kill_signal`; `None` means `SIGINT` for raw_exec as in Nomad.
    #[serde(default)]
    pub kill_signal: Option<String>,
    /// `task.kill_timeout` (Nomad's default is 5s).
    #[serde(default = "default_kill_timeout")]
    pub kill_timeout: Duration,
    /// Who the task is, for drivers that label what they create (Docker's
    /// `com.hashicorp.nomad.*` labels).
    #[serde(default)]
    pub identity: TaskIdentity,
    /// The ports this task may use: its own and its group's network ports,
    /// with the host port the scheduler chose and the port inside the task.
    #[serde(default)]
    pub ports: Vec<PortMapping>,
}

/// The allocation a task belongs to, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskIdentity {
    pub job_name: String,
    pub task_group: String,
    pub namespace: String,
    pub node_id: String,
    pub node_name: String,
}

/// One port label: `value` on the host at `host_ip`, `to` inside the task
/// (Nomad's `AllocatedPortMapping`; `to` is `value` when the job gave none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortMapping {
    pub label: String,
    pub value: u16,
    pub to: u16,
    pub host_ip: String,
}

fn default_kill_timeout() -> Duration {
    Duration::from_secs(5)
}

/// Where and how a task's stdout/stderr are kept: files
/// `<dir>/<task>.stdout.N` and `<task>.stderr.N` (Nomad's `LogConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogConfig {
    /// `<alloc_dir>/alloc/logs`.
    pub dir: PathBuf,
    /// Files kept per stream, at least 1 (Nomad's default 10).
    pub max_files: u32,
    /// Size of one file in MiB before rotating (Nomad's default 10).
    pub max_file_size_mb: u64,
}

impl LogConfig {
    pub fn max_file_size_bytes(&self) -> u64 {
        self.max_file_size_mb.saturating_mul(1024 * 1024)
    }
}

/// The task's resource ask, for drivers that enforce it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskResources {
    pub cpu_mhz: u64,
    pub memory_mb: u64,
    /// `memory_max`: a hard limit above `memory_mb` (0 = none).
    #[serde(default)]
    pub memory_max_mb: u64,
}

/// How to reach a started task again. Persisted by the task runner, so
/// every field added later needs `#[serde(default)]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskHandle {
    /// The driver that started it; another driver refuses the handle.
    pub driver: String,
    pub alloc_id: String,
    pub task_name: String,
    /// The task's main process on the host, when the driver has one.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Field 22 of `/proc/<pid>/stat` (clock ticks after boot) when the
    /// process was started. A pid with another start time is a different
    /// process that reused the number, never our task.
    #[serde(default)]
    pub start_time: Option<u64>,
    /// Anything else the driver needs (a container ID, collector pids).
    #[serde(default)]
    pub driver_state: serde_json::Value,
}

/// How a task ended (Nomad's `drivers.ExitResult`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitResult {
    /// `None` when the exit code cannot be known (a signal killed the
    /// task, or the task was not the agent's child when it exited).
    pub exit_code: Option<i32>,
    /// The signal number that killed the task.
    pub signal: Option<i32>,
    pub oom_killed: bool,
    /// Why the exit could not be observed precisely, if so.
    pub err: Option<String>,
}

impl ExitResult {
    /// Exited with code 0, not by a signal, and nothing went wrong.
    pub fn successful(&self) -> bool {
        self.exit_code == Some(0) && self.signal.is_none() && !self.oom_killed && self.err.is_none()
    }
}

/// Outcome of [`Driver::recover`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovered {
    /// Still running; `wait`, `signal`, `stop` and `stats` work on it.
    Running,
    /// Died while the agent was away.
    Exited(ExitResult),
}

/// Resource usage of a task, summed over all its processes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskStats {
    /// Percent of one core since the previous `stats` call for this task
    /// (or since the task started, on the first call); may exceed 100.
    pub cpu_percent: f64,
    /// User plus system CPU time, in clock ticks (`USER_HZ`).
    pub cpu_ticks: u64,
    pub cpu_user_ticks: u64,
    pub cpu_system_ticks: u64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Number of processes counted.
    pub pids: u32,
    /// When measured, unix nanoseconds.
    pub timestamp: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// A signal name Nomad does not know; the HTTP layer answers 400.
    #[error("unknown signal {0:?}")]
    UnknownSignal(String),
    /// The task's `config` block is unusable.
    #[error("invalid {driver} config: {message}")]
    InvalidConfig {
        driver: &'static str,
        message: String,
    },
    /// Starting the task's process failed; the message reads like Nomad's
    /// (`failed to launch command with executor: ...`).
    #[error("failed to launch command with executor: {0}")]
    Launch(String),
    #[error("driver {0} is disabled on this node")]
    Disabled(&'static str),
    /// The handle was made by another driver, or lacks what this driver
    /// needs.
    #[error("invalid task handle: {0}")]
    InvalidHandle(String),
    #[error("task is not running")]
    TaskNotRunning,
    /// The driver cannot do this (`exec` on a driver without it).
    #[error("{0} is not supported by this driver")]
    NotSupported(&'static str),
    /// The task's image is neither on the node nor loadable.
    #[error("{0}")]
    Image(String),
    /// The driver's daemon (Docker) failed or does not answer.
    #[error("{0}")]
    Daemon(String),
    #[error("unknown user {0:?}")]
    UnknownUser(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl DriverError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        DriverError::Io {
            context: context.into(),
            source,
        }
    }
}

/// A signal Nomad accepts by name (`SIGTERM`, `TERM`, `sigterm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    /// The canonical name, with `SIG`.
    pub name: &'static str,
    pub number: i32,
}

/// Nomad's signal table (`helper/signals`), POSIX and Linux names.
const SIGNALS: &[(&str, i32)] = &[
    ("SIGABRT", libc::SIGABRT),
    ("SIGALRM", libc::SIGALRM),
    ("SIGBUS", libc::SIGBUS),
    ("SIGCHLD", libc::SIGCHLD),
    ("SIGCONT", libc::SIGCONT),
    ("SIGFPE", libc::SIGFPE),
    ("SIGHUP", libc::SIGHUP),
    ("SIGILL", libc::SIGILL),
    ("SIGINT", libc::SIGINT),
    ("SIGIO", libc::SIGIO),
    ("SIGIOT", libc::SIGIOT),
    ("SIGKILL", libc::SIGKILL),
    ("SIGPIPE", libc::SIGPIPE),
    ("SIGPROF", libc::SIGPROF),
    ("SIGQUIT", libc::SIGQUIT),
    ("SIGSEGV", libc::SIGSEGV),
    ("SIGSTOP", libc::SIGSTOP),
    ("SIGSYS", libc::SIGSYS),
    ("SIGTERM", libc::SIGTERM),
    ("SIGTRAP", libc::SIGTRAP),
    ("SIGTSTP", libc::SIGTSTP),
    ("SIGTTIN", libc::SIGTTIN),
    ("SIGTTOU", libc::SIGTTOU),
    ("SIGURG", libc::SIGURG),
    ("SIGUSR1", libc::SIGUSR1),
    ("SIGUSR2", libc::SIGUSR2),
    ("SIGVTALRM", libc::SIGVTALRM),
    ("SIGWINCH", libc::SIGWINCH),
    ("SIGXCPU", libc::SIGXCPU),
    ("SIGXFSZ", libc::SIGXFSZ),
];

impl Signal {
    /// Parses a signal name with or without the `SIG` prefix, in any case.
    pub fn parse(name: &str) -> Result<Signal, DriverError> {
        let upper = name.trim().to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        SIGNALS
            .iter()
            .find(|(n, _)| *n == full)
            .map(|&(name, number)| Signal { name, number })
            .ok_or_else(|| DriverError::UnknownSignal(name.to_string()))
    }

    /// The canonical name of a signal number (`SIGIOT` and `SIGABRT` share
    /// one; the first listed wins).
    pub fn from_number(number: i32) -> Option<Signal> {
        SIGNALS
            .iter()
            .find(|(_, n)| *n == number)
            .map(|&(name, number)| Signal { name, number })
    }
}

/// Locks a driver's bookkeeping map. A panic while holding one leaves it
/// consistent (single inserts and removes), so a poisoned lock is still
/// usable.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
