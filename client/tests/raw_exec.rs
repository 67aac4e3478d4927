//! The raw_exec driver against real processes: `/bin/sh`, `sleep`, `echo`.
//! Every wait has a deadline and says what it waited for.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use drover_client::driver::procfs::{is_alive, read_stat};
use drover_client::driver::raw_exec::{LogmonCommand, RawExecConfig, RawExecDriver};
use drover_client::driver::{
    Driver, DriverError, LogConfig, Recovered, Signal, TaskConfig, TaskHandle,
};
use serde_json::json;
use tempfile::TempDir;

fn driver() -> RawExecDriver {
    driver_enabled(true)
}

fn driver_enabled(enabled: bool) -> RawExecDriver {
    RawExecDriver::new(RawExecConfig {
        enabled,
        logmon: LogmonCommand {
            program: PathBuf::from(env!("CARGO_BIN_EXE_drover-logmon")),
            args_prefix: vec![],
        },
    })
}

struct Alloc {
    _tmp: Option<TempDir>,
    dir: PathBuf,
}

impl Alloc {
    fn new() -> Alloc {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().join("alloc-1");
        std::fs::create_dir_all(dir.join("alloc/logs")).expect("logs dir");
        std::fs::create_dir_all(dir.join("web")).expect("task dir");
        Alloc {
            _tmp: Some(tmp),
            dir,
        }
    }

    /// An alloc dir made by another process (see `fake_agent`).
    fn at(dir: PathBuf) -> Alloc {
        Alloc { _tmp: None, dir }
    }

    fn task_dir(&self) -> PathBuf {
        self.dir.join("web")
    }

    fn logs(&self) -> PathBuf {
        self.dir.join("alloc/logs")
    }

    fn config(&self, command: &str, args: &[&str]) -> TaskConfig {
        let mut driver_config = BTreeMap::new();
        driver_config.insert("command".to_string(), json!(command));
        driver_config.insert("args".to_string(), json!(args));
        let mut env = BTreeMap::new();
        env.insert(
            "PATH".to_string(),
            "/usr/local/bin:/usr/bin:/bin".to_string(),
        );
        env.insert("FOO".to_string(), "bar".to_string());
        TaskConfig {
            alloc_id: "alloc-1".to_string(),
            task_name: "web".to_string(),
            driver_config,
            env,
            user: None,
            task_dir: self.task_dir(),
            alloc_dir: self.dir.clone(),
            logs: LogConfig {
                dir: self.logs(),
                max_files: 3,
                max_file_size_mb: 1,
            },
            resources: Default::default(),
            kill_signal: None,
            kill_timeout: Duration::from_secs(5),
            identity: Default::default(),
            ports: Vec::new(),
        }
    }

    fn sh(&self, script: &str) -> TaskConfig {
        self.config("/bin/sh", &["-c", script])
    }

    fn read_log(&self, file: &str) -> String {
        std::fs::read_to_string(self.logs().join(file)).unwrap_or_default()
    }

    /// Waits until the log file contains `needle`.
    async fn wait_log(&self, file: &str, needle: &str) -> String {
        let mut last = String::new();
        wait_until(
            &format!("{file} to contain {needle:?}"),
            Duration::from_secs(10),
            || {
                last = self.read_log(file);
                last.contains(needle)
            },
        )
        .await;
        last
    }
}

#[track_caller]
fn assert_deadline(what: &str, start: Instant, limit: Duration) {
    assert!(
        start.elapsed() < limit,
        "timed out after {limit:?} waiting for {what}"
    );
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert_deadline(what, start, limit);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_exit(d: &RawExecDriver, h: &TaskHandle) -> drover_client::driver::ExitResult {
    tokio::time::timeout(Duration::from_secs(15), d.wait(h))
        .await
        .expect("task to exit within 15s")
}

fn pid(h: &TaskHandle) -> u32 {
    h.pid.expect("raw_exec handle has a pid")
}

/// Exited or a zombie: either way, no longer running.
fn gone(pid: u32) -> bool {
    read_stat(pid).is_none_or(|s| matches!(s.state, 'Z' | 'X'))
}

#[tokio::test]
async fn output_lands_in_rotating_files() {
    let a = Alloc::new();
    let d = driver();
    let h = d
        .start(&a.sh("echo hello; echo oops >&2"))
        .await
        .expect("start");
    let exit = wait_exit(&d, &h).await;
    assert!(exit.successful(), "{exit:?}");
    assert_eq!(a.wait_log("web.stdout.0", "hello").await, "hello\n");
    assert_eq!(a.wait_log("web.stderr.0", "oops").await, "oops\n");
}

#[tokio::test]
async fn runs_in_task_dir_with_given_env_only() {
    let a = Alloc::new();
    let d = driver();
    let h = d.start(&a.sh("pwd; env")).await.expect("start");
    assert!(wait_exit(&d, &h).await.successful());
    let out = a.wait_log("web.stdout.0", "FOO=bar").await;
    let task_dir = a.task_dir().canonicalize().expect("canonical task dir");
    assert!(
        out.lines().next().is_some_and(|l| Path::new(l) == task_dir),
        "{out}"
    );
    // `cargo test` puts CARGO_* in this process's env; the task gets none.
    assert!(!out.lines().any(|l| l.starts_with("CARGO")), "{out}");
}

#[tokio::test]
async fn exit_code_and_signal_are_reported() {
    let a = Alloc::new();
    let d = driver();
    let h = d.start(&a.sh("exit 3")).await.expect("start");
    let exit = wait_exit(&d, &h).await;
    assert_eq!(
        (exit.exit_code, exit.signal, exit.err),
        (Some(3), None, None)
    );

    let h = d.start(&a.sh("kill -KILL $$")).await.expect("start");
    let exit = wait_exit(&d, &h).await;
    assert_eq!((exit.exit_code, exit.signal), (None, Some(libc::SIGKILL)));
    assert!(!exit.successful());
}

#[tokio::test]
async fn signal_reaches_the_task() {
    let a = Alloc::new();
    let d = driver();
    let script = "trap 'echo got-usr1; exit 7' USR1; echo ready; while true; do sleep 0.05; done";
    let h = d.start(&a.sh(script)).await.expect("start");
    a.wait_log("web.stdout.0", "ready").await;
    d.signal(&h, "SIGUSR1").await.expect("signal");
    let exit = wait_exit(&d, &h).await;
    assert_eq!(exit.exit_code, Some(7), "{exit:?}");
    a.wait_log("web.stdout.0", "got-usr1").await;

    // The task is gone now: signalling it is an error, not a stray kill.
    assert!(matches!(
        d.signal(&h, "USR1").await,
        Err(DriverError::TaskNotRunning)
    ));
}

#[tokio::test]
async fn unknown_signals_are_rejected() {
    let a = Alloc::new();
    let d = driver();
    let h = d.start(&a.sh("sleep 30")).await.expect("start");
    let err = d.signal(&h, "SIGBOGUS").await.expect_err("unknown signal");
    assert!(
        matches!(&err, DriverError::UnknownSignal(s) if s == "SIGBOGUS"),
        "{err}"
    );
    assert!(matches!(
        d.stop(&h, "NOPE", Duration::ZERO).await,
        Err(DriverError::UnknownSignal(_))
    ));
    d.stop(&h, "SIGKILL", Duration::ZERO).await.expect("stop");
    assert_eq!(wait_exit(&d, &h).await.signal, Some(libc::SIGKILL));

    assert_eq!(
        Signal::parse("usr1").ok().map(|s| s.number),
        Some(libc::SIGUSR1)
    );
    assert_eq!(Signal::parse("SIGHUP").ok().map(|s| s.name), Some("SIGHUP"));
    assert_eq!(Signal::parse("int").ok().map(|s| s.name), Some("SIGINT"));
    assert!(Signal::parse("").is_err());
}

#[tokio::test]
async fn stop_kills_the_whole_process_group() {
    let a = Alloc::new();
    let d = driver();
    let h = d
        .start(&a.sh("sleep 1000 & echo $!; wait"))
        .await
        .expect("start");
    let out = a.wait_log("web.stdout.0", "\n").await;
    let child: u32 = out.trim().parse().expect("child pid printed by the task");
    let child_stat = read_stat(child).expect("child sleep is running");
    assert_eq!(
        child_stat.pgrp,
        i64::from(pid(&h)),
        "child is in the task's group"
    );

    d.stop(&h, "SIGTERM", Duration::from_secs(5))
        .await
        .expect("stop");
    let exit = wait_exit(&d, &h).await;
    assert_eq!(exit.signal, Some(libc::SIGTERM), "{exit:?}");
    wait_until(
        "the task's child sleep to be gone",
        Duration::from_secs(5),
        || gone(child),
    )
    .await;
    assert!(gone(pid(&h)));
}

#[tokio::test]
async fn stop_escalates_to_sigkill_after_kill_timeout() {
    let a = Alloc::new();
    let d = driver();
    let h = d
        .start(&a.sh("trap '' TERM; echo ready; while true; do sleep 0.05; done"))
        .await
        .expect("start");
    a.wait_log("web.stdout.0", "ready").await;
    let started = Instant::now();
    d.stop(&h, "SIGTERM", Duration::from_millis(400))
        .await
        .expect("stop");
    let elapsed = started.elapsed();
    let exit = wait_exit(&d, &h).await;
    assert_eq!(exit.signal, Some(libc::SIGKILL), "{exit:?}");
    assert!(
        elapsed >= Duration::from_millis(400),
        "killed before the timeout: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_secs(5), "stop took {elapsed:?}");

    // Stopping again is fine.
    d.stop(&h, "SIGTERM", Duration::from_millis(10))
        .await
        .expect("second stop");
}

#[tokio::test]
async fn missing_command_fails_start_with_a_clear_error() {
    let a = Alloc::new();
    let d = driver();
    let err = d
        .start(&a.config("drover-no-such-command", &[]))
        .await
        .expect_err("no such command");
    assert!(matches!(err, DriverError::Launch(_)));
    assert_eq!(
        err.to_string(),
        "failed to launch command with executor: exec: \"drover-no-such-command\": executable file not found in $PATH"
    );

    let err = d
        .start(&a.config("/nonexistent/prog", &[]))
        .await
        .expect_err("no such file");
    assert_eq!(
        err.to_string(),
        "failed to launch command with executor: fork/exec /nonexistent/prog: no such file or directory"
    );

    let mut cfg = a.config("x", &[]);
    cfg.driver_config.remove("command");
    let err = d.start(&cfg).await.expect_err("command is required");
    assert_eq!(
        err.to_string(),
        "invalid raw_exec config: missing required field \"command\""
    );

    cfg.driver_config.insert("command".into(), json!("/bin/sh"));
    cfg.driver_config.insert("args".into(), json!(["-c", 3]));
    assert!(matches!(
        d.start(&cfg).await,
        Err(DriverError::InvalidConfig { .. })
    ));
}

#[tokio::test]
async fn recover_reattaches_after_the_driver_is_gone() {
    let a = Alloc::new();
    let script = "echo before; while [ ! -f release ]; do sleep 0.05; done; echo after";
    let first = driver();
    let h = first.start(&a.sh(script)).await.expect("start");
    a.wait_log("web.stdout.0", "before").await;

    // The collectors do not belong to the agent: own session, own group.
    let logmon_pids = h.driver_state["logmon_pids"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    // One collector serves both streams.
    assert_eq!(logmon_pids.len(), 1, "{:?}", h.driver_state);
    for p in logmon_pids {
        let p = u32::try_from(p.as_u64().expect("pid")).expect("pid fits");
        let s = read_stat(p).expect("collector still running");
        assert_eq!(
            s.session,
            i64::from(p),
            "collector {p} leads its own session"
        );
    }

    // The handle goes through the state store as JSON.
    let stored = serde_json::to_string(&h).expect("serialize handle");
    drop(first);
    let h: TaskHandle = serde_json::from_str(&stored).expect("deserialize handle");

    let second = driver();
    assert_eq!(
        second.recover(&h).await.expect("recover"),
        Recovered::Running
    );
    let stats = second.stats(&h).await.expect("stats after recover");
    assert!(stats.pids >= 1);

    let waiter = tokio::spawn(async move { second.wait(&h).await });
    std::fs::write(a.task_dir().join("release"), b"").expect("release the task");
    let exit = tokio::time::timeout(Duration::from_secs(15), waiter)
        .await
        .expect("recovered task to exit")
        .expect("waiter task");
    assert_eq!(exit.exit_code, None);
    assert!(
        exit.err
            .as_deref()
            .is_some_and(|e| e.contains("exit code is unknown")),
        "{exit:?}"
    );
    // Logging went on without the driver that started the task.
    a.wait_log("web.stdout.0", "after").await;
}

#[tokio::test]
async fn recover_of_a_dead_task_reports_the_exit() {
    let a = Alloc::new();
    let first = driver();
    let h = first.start(&a.sh("exit 0")).await.expect("start");
    assert!(wait_exit(&first, &h).await.successful());
    wait_until(
        "the exited task's pid to be reaped",
        Duration::from_secs(5),
        || gone(pid(&h)),
    )
    .await;
    drop(first);

    let second = driver();
    match second.recover(&h).await.expect("recover") {
        Recovered::Exited(exit) => assert!(exit.err.is_some(), "{exit:?}"),
        Recovered::Running => panic!("a dead task recovered as running"),
    }
    // `wait` on it returns at once.
    assert_eq!(wait_exit(&second, &h).await.exit_code, None);

    // A live pid with another start time is someone else's process.
    let me = std::process::id();
    let reused = TaskHandle {
        pid: Some(me),
        start_time: Some(1),
        ..h.clone()
    };
    assert!(is_alive(me, read_stat(me).expect("own stat").start_time));
    assert!(matches!(
        second.recover(&reused).await,
        Ok(Recovered::Exited(_))
    ));
    assert!(matches!(
        second.signal(&reused, "SIGTERM").await,
        Err(DriverError::TaskNotRunning)
    ));

    let foreign = TaskHandle {
        driver: "docker".into(),
        ..h.clone()
    };
    assert!(matches!(
        second.recover(&foreign).await,
        Err(DriverError::InvalidHandle(_))
    ));
    let no_pid = TaskHandle { pid: None, ..h };
    assert!(matches!(
        second.recover(&no_pid).await,
        Err(DriverError::InvalidHandle(_))
    ));
}

#[tokio::test]
async fn stats_of_a_running_task() {
    let a = Alloc::new();
    let d = driver();
    let h = d.start(&a.config("sleep", &["1000"])).await.expect("start");
    // Until exec has loaded `sleep`, the new process has no resident
    // pages of its own, so the first samples may read 0.
    let started = Instant::now();
    let stats = loop {
        let stats = d.stats(&h).await.expect("stats");
        if stats.rss_bytes > 0 {
            break stats;
        }
        assert_deadline(
            "sleep to have resident memory",
            started,
            Duration::from_secs(5),
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stats.rss_bytes > 0, "{stats:?}");
    assert_eq!(stats.pids, 1);
    assert!(stats.cpu_percent >= 0.0);
    d.destroy(&h).await.expect("destroy");
    assert!(gone(pid(&h)));
    assert!(matches!(
        d.stats(&h).await,
        Err(DriverError::TaskNotRunning)
    ));
}

#[tokio::test]
async fn fingerprint_and_disabled_driver() {
    let info = driver().fingerprint().await;
    assert!(info.detected && info.healthy);
    assert_eq!(
        info.attributes.get("driver.raw_exec").map(String::as_str),
        Some("1")
    );

    let off = driver_enabled(false);
    let info = off.fingerprint().await;
    assert!(!info.detected && !info.healthy);
    assert!(info.attributes.is_empty());
    let a = Alloc::new();
    assert!(matches!(
        off.start(&a.sh("true")).await,
        Err(DriverError::Disabled("raw_exec"))
    ));
}

/// Set for the test binary re-run as a throwaway agent process.
const FAKE_AGENT_ENV: &str = "DROVER_TEST_FAKE_AGENT_ALLOC_DIR";

/// Does nothing in a normal run. Run by `task_and_logs_survive_agent_kill`
/// as a separate process (the "agent"): starts a task, writes its handle
/// next to the alloc dir, and idles until killed.
#[tokio::test]
async fn fake_agent() {
    let Some(dir) = std::env::var_os(FAKE_AGENT_ENV) else {
        return;
    };
    let a = Alloc::at(PathBuf::from(dir));
    let script = "echo before; while [ ! -f release ]; do sleep 0.05; done; echo after";
    let h = driver().start(&a.sh(script)).await.expect("start");
    let tmp = a.dir.join("handle.json.tmp");
    std::fs::write(&tmp, serde_json::to_vec(&h).expect("handle json")).expect("write handle");
    std::fs::rename(&tmp, a.dir.join("handle.json")).expect("publish handle");
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn task_and_logs_survive_agent_kill() {
    let a = Alloc::new();
    let mut agent = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args(["--exact", "fake_agent", "--test-threads=1"])
        .env(FAKE_AGENT_ENV, &a.dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn fake agent");
    let handle_path = a.dir.join("handle.json");
    wait_until(
        "the fake agent to publish the handle",
        Duration::from_secs(20),
        || handle_path.exists(),
    )
    .await;
    let h: TaskHandle = serde_json::from_slice(&std::fs::read(&handle_path).expect("read handle"))
        .expect("handle json");
    a.wait_log("web.stdout.0", "before").await;

    agent.kill().expect("SIGKILL the agent");
    agent.wait().expect("reap the agent");

    let d = driver();
    assert_eq!(d.recover(&h).await.expect("recover"), Recovered::Running);
    std::fs::write(a.task_dir().join("release"), b"").expect("release the task");
    let exit = wait_exit(&d, &h).await;
    assert!(exit.err.is_some(), "{exit:?}");
    // The collector outlived the agent and still got the task's output.
    assert_eq!(a.wait_log("web.stdout.0", "after").await, "before\nafter\n");
}

#[tokio::test]
async fn large_output_rotates_through_the_driver() {
    let a = Alloc::new();
    let d: std::sync::Arc<dyn Driver> = std::sync::Arc::new(driver());
    // 3.5 MiB with 1 MiB files and max_files = 3: .0 is deleted.
    let h = d
        .start(&a.sh("head -c 3670016 /dev/zero"))
        .await
        .expect("start");
    let exit = tokio::time::timeout(Duration::from_secs(15), d.wait(&h))
        .await
        .expect("exit");
    assert!(exit.successful(), "{exit:?}");
    let sizes = || {
        drover_client::logmon::log_files(&a.logs(), "web", drover_client::logmon::LogStream::Stdout)
            .expect("list")
            .into_iter()
            .map(|f| (f.index, f.size))
            .collect::<Vec<_>>()
    };
    let mib = 1024 * 1024;
    wait_until("3.5 MiB to be collected", Duration::from_secs(10), || {
        sizes() == vec![(1, mib), (2, mib), (3, mib / 2)]
    })
    .await;
}
