//! A detached tmux pane for terminal tests of the CLI: keys typed into it,
//! its screen read back. A test without tmux prints SKIPPED, and fails
//! under CI.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// A tmux server of our own (`-L`), so the user's sessions are never
/// touched; killed with everything in it when dropped.
pub struct Tmux {
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
    pub fn available(test: &str) -> bool {
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

    /// Starts a session 120 columns wide and `rows` high running `script`
    /// with `sh`.
    pub fn start(name: &str, script: &Path, rows: u16) -> Tmux {
        let tmux = Tmux {
            socket: format!("drover-test-{}-{name}", std::process::id()),
            session: name.to_string(),
        };
        let status = tmux
            .cmd(&[
                "new-session",
                "-d",
                "-s",
                name,
                "-x",
                "120",
                "-y",
                &rows.to_string(),
            ])
            .arg(format!("sh {}", script.display()))
            .env("TERM", "xterm")
            .status()
            .expect("tmux runs");
        assert!(status.success(), "tmux new-session failed");
        tmux
    }

    /// A tmux command on this test's own server.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new("tmux");
        c.args(["-L", &self.socket]).args(args);
        c
    }

    /// Types `text` literally, then Enter.
    pub fn type_line(&self, text: &str) {
        self.keys(text);
        self.press("Enter");
    }

    /// Presses one key by its tmux name (`Enter`, `C-c`).
    pub fn press(&self, key: &str) {
        let ok = self
            .cmd(&["send-keys", "-t", &self.session, key])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn keys(&self, text: &str) {
        let ok = self
            .cmd(&["send-keys", "-t", &self.session, "-l", text])
            .status()
            .unwrap();
        assert!(ok.success());
    }

    pub fn screen(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's screen with up to 500 lines of its scrollback.
    pub fn screen_with_scrollback(&self) -> String {
        let out = self
            .cmd(&["capture-pane", "-p", "-S", "-500", "-t", &self.session])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    pub fn pane_size(&self) -> String {
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
    pub fn retype_until(&self, text: &str, line: &str) {
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
    pub fn wait_line(&self, line: &str) {
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
