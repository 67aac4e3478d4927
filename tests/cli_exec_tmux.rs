//! `drover alloc exec -i -t` in a real terminal (a detached tmux pane):
//! keys reach a remote shell on a pty, its output reaches the screen, the
//! terminal's size follows the pane, the exit status is the remote one,
//! `~.` disconnects, and the local terminal settings are the same after as
//! before (raw mode always undone).

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{alloc_when, submit, Agent, DEADLINE};
use serde_json::json;

/// A tmux server of our own (`-L`), so the user's sessions are never
/// touched; killed with everything in it when dropped.
struct Tmux {
    socket: String,
    session: String,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        // The server is gone already when the pane's script ended.
        let _ = self.cmd(&["kill-server"]).stderr(Stdio::null()).status();
    }
}

impl Tmux {
    /// Whether tmux can run here; outside CI a missing tmux skips the test
    /// loudly, under CI it fails it.
    fn available(test: &str) -> bool {
        let found = Command::new("tmux")
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            assert!(
                std::env::var_os("CI").is_none(),
                "tmux is required under CI"
            );
            let _ = std::io::stderr()
                .write_all(format!("SKIPPED: {test}: tmux not installed\n").as_bytes());
        }
        found
    }

    /// Starts a 120x40 session running `script` with `sh`.
    fn start(name: &str, script: &Path) -> Tmux {
        let tmux = Tmux {
            socket: format!("drover-test-{}-{name}", std::process::id()),
            session: name.to_string(),
        };
        let status = tmux
            .cmd(&["new-session", "-d", "-s", name, "-x", "120", "-y", "40"])
            .arg(format!("sh {}", script.display()))
            .env("TERM", "xterm")
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    /// Types `text` literally, then Enter.
    fn type_line(&self, text: &str) {
        self.keys(text);
        let ok = self
            .cmd(&["send-keys", "-t", &self.session, "Enter"])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn keys(&self, text: &str) {
        let ok = self
            .cmd(&["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn pane_size(&self) -> String {
        let out = self
            .cmd(&[
                "display-message",
                "-p",
                "-t",
                &self.session,
                "#{pane_height} #{pane_width}",
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Types `text` until a screen line equals `line`: a resize reaches the
    /// remote pty through SIGWINCH, which races the keys typed after it.
    fn retype_until(&self, text: &str, line: &str) {
        let started = Instant::now();
        loop {
            self.type_line(text);
            let typed = Instant::now();
            while typed.elapsed() < Duration::from_millis(500) {
                if self.screen().lines().any(|l| l.trim() == line) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no line {line:?} on the screen:\n{}",
                self.screen()
            );
        }
    }

    /// Waits until a screen line, trimmed, equals `line`.
    fn wait_line(&self, line: &str) {
        let started = Instant::now();
        loop {
            let screen = self.screen();
            if screen.lines().any(|l| l.trim() == line) {
                return;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "no line {line:?} on the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

/// Waits for `path` to hold a whole line, then returns its content.
fn wait_file(path: &Path) -> String {
    let started = Instant::now();
    loop {
        if let Ok(s) = std::fs::read_to_string(path) {
            if s.ends_with('\n') {
                return s;
            }
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{} never written",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// The shell script a pane runs: its own PID, terminal settings before,
/// the exec, its status, settings after. The status file is written last,
/// so its presence means the rest is there; then the pane stays, so the
/// screen can still be read.
fn script(dir: &Path, agent: &str, alloc: &str) -> (PathBuf, PathBuf, PathBuf) {
    let (before, after, status) = (dir.join("before"), dir.join("after"), dir.join("status"));
    let body = format!(
        "echo $$ > {pid}\nstty -a > {before}\n\
         {drover} alloc exec -i -t -address {agent} {alloc} /bin/sh\nrc=$?\n\
         stty -a > {after}\necho $rc > {status}\nexec sleep 600\n",
        pid = dir.join("pid").display(),
        before = before.display(),
        after = after.display(),
        status = status.display(),
        drover = env!("CARGO_BIN_EXE_drover"),
    );
    let path = dir.join("pane.sh");
    std::fs::write(&path, body).unwrap();
    (before, after, status)
}

async fn sleeping_task(a: &Agent) -> String {
    submit(
        a,
        json!({"ID": "svc", "TaskGroups": [{"Name": "g",
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1000"]}}]}]}),
    )
    .await;
    let alloc = alloc_when(a, "svc", "running", |x| x["ClientStatus"] == "running").await;
    alloc["ID"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn exec_with_a_tty_runs_a_remote_shell_and_restores_the_terminal() {
    if !Tmux::available("exec_with_a_tty_runs_a_remote_shell_and_restores_the_terminal") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a).await;
    let (before, after, status) = script(dir.path(), &a.base, &alloc[..8]);
    let tmux = Tmux::start("exec", &dir.path().join("pane.sh"));

    tmux.type_line("echo $((6*7))");
    tmux.wait_line("42");
    // The remote pty has the pane's size, and follows a resize.
    tmux.type_line("stty size");
    tmux.wait_line(&tmux.pane_size());
    let ok = tmux
        .cmd(&["resize-window", "-t", "exec", "-x", "100", "-y", "30"])
        .status()
        .unwrap();
    assert!(ok.success());
    let size = tmux.pane_size();
    assert_ne!(size, "40 120");
    tmux.retype_until("clear; stty size", &size);
    // Back to the first size, so `stty -a` before and after can match.
    let ok = tmux
        .cmd(&["resize-window", "-t", "exec", "-x", "120", "-y", "40"])
        .status()
        .unwrap();
    assert!(ok.success());
    tmux.retype_until("clear; stty size", "40 120");
    tmux.type_line("exit 3");

    assert_eq!(wait_file(&status).trim(), "3");
    assert_eq!(
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
        "terminal settings differ after the session"
    );
}

#[tokio::test]
async fn tilde_dot_disconnects_and_restores_the_terminal() {
    if !Tmux::available("tilde_dot_disconnects_and_restores_the_terminal") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a).await;
    let (before, after, status) = script(dir.path(), &a.base, &alloc);
    let tmux = Tmux::start("tilde", &dir.path().join("pane.sh"));

    // `~` in the middle of a line is plain input.
    tmux.type_line("echo a~.b");
    tmux.wait_line("a~.b");
    tmux.keys("~.");

    // Nomad's CLI ends a `~.` session with status 1, after saying so.
    assert_eq!(wait_file(&status).trim(), "1");
    tmux.wait_line("Connection closed");
    assert_eq!(
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
        "terminal settings differ after the session"
    );
}

/// The PIDs of `pid`'s child processes.
fn children(pid: &str) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|c| {
            c.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect()
}

#[tokio::test]
async fn sigterm_ends_the_session_and_restores_the_terminal() {
    if !Tmux::available("sigterm_ends_the_session_and_restores_the_terminal") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    let alloc = sleeping_task(&a).await;
    let (before, after, status) = script(dir.path(), &a.base, &alloc);
    let tmux = Tmux::start("term", &dir.path().join("pane.sh"));

    tmux.type_line("echo $((6*7))");
    tmux.wait_line("42");
    let shell = wait_file(&dir.path().join("pid"));
    let drover = children(shell.trim());
    assert_eq!(drover.len(), 1, "the pane's shell runs drover alone");
    // SAFETY: signalling the drover process this test started in the pane.
    unsafe { libc::kill(drover[0], libc::SIGTERM) };

    assert_eq!(wait_file(&status).trim(), "1");
    assert_eq!(
        std::fs::read_to_string(&before).unwrap(),
        std::fs::read_to_string(&after).unwrap(),
        "terminal settings differ after the session"
    );
}
