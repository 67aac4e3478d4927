//! `drover alloc exec -i -t` in a real terminal (a detached tmux pane):
//! keys reach a remote shell on a pty, its output reaches the screen, the
//! terminal's size follows the pane, the exit status is the remote one,
//! `~.` disconnects, and the local terminal settings are the same after as
//! before (raw mode always undone).

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::tmux::Tmux;
use common::{alloc_when, submit, Agent, DEADLINE};
use serde_json::json;

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
    let tmux = Tmux::start("exec", &dir.path().join("pane.sh"), 40);

    // Typed again until answered: keys that reach the remote pty before
    // its shell has started are echoed and answered out of order.
    tmux.retype_until("echo $((6*7))", "42");
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
    let tmux = Tmux::start("tilde", &dir.path().join("pane.sh"), 40);

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
    let tmux = Tmux::start("term", &dir.path().join("pane.sh"), 40);

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
