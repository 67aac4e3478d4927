//! Running a page's commands the way a reader would type them: in bash, in
//! one working directory, each seeing the variables the earlier ones set,
//! against a dev agent on an address of the test's own.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::compose::{Compose, Unavailable};
use super::extract::output_matches;

/// How long one command may run before it counts as hung.
const COMMAND_LIMIT: Duration = Duration::from_secs(60);
/// How long a command that runs until interrupted ("Ctrl-C to stop") is
/// left to print before the test interrupts it.
const INTERRUPT_AFTER: Duration = Duration::from_secs(3);
/// How long a read is re-run until it shows what the page shows: the
/// reader's "wait a moment and look again", with a deadline.
const SETTLE: Duration = Duration::from_secs(30);
/// Where a page's Compose project publishes the port its file maps to the
/// host's 4646 (that port is the test's agents').
const COMPOSE_IP: &str = "127.0.1.190";
/// What the test types into an interactive `alloc exec -i -t` shell; the
/// shell's answer (`doc-exec-42`) differs from the echoed input.
const EXEC_INPUT: &str = "echo doc-exec-$((40+2))\nexit\n";

/// One page's shell: its directory, its agent's address, what it left
/// running in the background.
pub struct Session {
    pub dir: PathBuf,
    pub ip: String,
    /// A page that starts its own servers: `127.0.0.N` is `127.0.1.18N`.
    cluster: bool,
    bin_dir: PathBuf,
    background: Vec<Child>,
    /// The page's Docker Compose project, once a `docker compose` command
    /// asked for it.
    compose: ComposeState,
}

enum ComposeState {
    NotAsked,
    Ready(Compose),
    Skipped,
}

impl Drop for Session {
    fn drop(&mut self) {
        for child in &mut self.background {
            kill_group(child, libc::SIGKILL);
            let _ = child.wait();
        }
    }
}

impl Session {
    /// A session whose `drover` is the binary under test and whose
    /// `localhost:4646` is the agent on `ip`.
    pub fn new(dir: &Path, ip: &str, cluster: bool, drover: &Path) -> Session {
        Session {
            dir: dir.to_path_buf(),
            ip: ip.to_string(),
            cluster,
            bin_dir: drover.parent().map(Path::to_path_buf).unwrap_or_default(),
            background: Vec::new(),
            compose: ComposeState::NotAsked,
        }
    }

    /// The page's text with the reader's agent address and build command
    /// replaced by the test's.
    pub fn localize(&self, text: &str) -> String {
        let text = text
            .replace("cargo run --release -- ", "drover ")
            .replace("localhost:4646", &format!("{}:4646", self.ip))
            .replace("\"4646:4646\"", &format!("\"{COMPOSE_IP}:4646:4646\""));
        match self.cluster {
            true => text.replace("127.0.0.", "127.0.1.18"),
            false => text.replace("127.0.0.1", &self.ip),
        }
    }

    pub fn write_file(&self, name: &str, body: &str) -> Result<(), String> {
        std::fs::write(self.dir.join(name), self.localize(body)).map_err(|e| format!("{name}: {e}"))
    }

    /// Runs one command of the page and checks its output; the output, or
    /// what went wrong.
    pub fn run(&mut self, command: &str, expected: &[String]) -> Result<String, String> {
        let mut command = self.localize(command);
        let expected: Vec<String> = expected.iter().map(|e| self.localize(e)).collect();
        let compose_args = strip_comment(&command)
            .strip_prefix("docker compose ")
            .map(str::to_string);
        if let Some(args) = compose_args {
            match self.compose()? {
                Some(compose) => command = compose.command(&args),
                None => return Ok(String::new()),
            }
        }
        let bare = strip_comment(&command);
        if let Some(bg) = bare.strip_suffix('&') {
            let child = self.spawn(bg, None, "background")?;
            self.background.push(child);
            return Ok(String::new());
        }
        if command.contains("Ctrl-C") {
            return self.run_until_interrupted(bare, &expected);
        }
        if bare.contains(" exec -i -t ") {
            let out = self.interactive(bare)?;
            return match out.contains("doc-exec-42") {
                true => Ok(out),
                false => Err(format!(
                    "the shell did not answer the test's input: {out:?}"
                )),
            };
        }
        let assigns = assignment(bare);
        let started = Instant::now();
        loop {
            let (ok, out) = self.once(&command, COMMAND_LIMIT)?;
            let verdict = match (ok, assigns) {
                (false, _) => Err(format!("exited non-zero:\n{out}")),
                (true, Some(var)) => match self.var(var)?.is_empty() {
                    true => Err(format!("${var} is empty")),
                    false => Ok(()),
                },
                (true, None) => output_matches(&expected, &out)
                    .map_err(|why| format!("{why}; the output was:\n{out}")),
            };
            match verdict {
                Ok(()) => return Ok(out),
                Err(why) if !is_read(bare) || started.elapsed() > SETTLE => return Err(why),
                Err(_) => std::thread::sleep(Duration::from_millis(200)),
            }
        }
    }

    /// The page's Compose project, prepared on first use; `None` when this
    /// machine cannot run it (said once, loudly; a failure under `CI`).
    fn compose(&mut self) -> Result<Option<&Compose>, String> {
        if let ComposeState::NotAsked = self.compose {
            self.compose = match Compose::prepare(&self.dir) {
                Ok(Ok(compose)) => ComposeState::Ready(compose),
                Ok(Err(why)) => return Err(why),
                Err(Unavailable(why)) if std::env::var_os("CI").is_some() => {
                    return Err(format!("Docker Compose is needed under CI: {why}"))
                }
                Err(Unavailable(why)) => {
                    eprintln!("SKIPPED: the Docker Compose example: {why}");
                    ComposeState::Skipped
                }
            };
        }
        match &self.compose {
            ComposeState::Ready(compose) => Ok(Some(compose)),
            _ => Ok(None),
        }
    }

    /// The value the page's commands left in `$name`.
    pub fn var(&mut self, name: &str) -> Result<String, String> {
        let (_, out) = self.once(&format!("printf %s \"${name}\""), COMMAND_LIMIT)?;
        Ok(out)
    }

    /// Runs `command` once, to its end or `limit`; `(exit 0, output)`.
    fn once(&mut self, command: &str, limit: Duration) -> Result<(bool, String), String> {
        let log = self.dir.join(".doc-out");
        let out = File::create(&log).map_err(|e| e.to_string())?;
        let mut child = self.spawn(command, Some(out), "command")?;
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if started.elapsed() > limit {
                kill_group(&mut child, libc::SIGKILL);
                let _ = child.wait();
                let out = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("still running after {limit:?}; output:\n{out}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
        Ok((status.success(), out))
    }

    fn run_until_interrupted(
        &mut self,
        command: &str,
        expected: &[String],
    ) -> Result<String, String> {
        let log = self.dir.join(".doc-out");
        let out = File::create(&log).map_err(|e| e.to_string())?;
        // Under a terminal, as the reader runs it: curl then writes what it
        // receives at once instead of buffering it until it exits.
        let wrapped = format!("script -qec '{}' /dev/null", quote(command));
        let mut child = self.spawn(&wrapped, Some(out), "command")?;
        let started = Instant::now();
        while started.elapsed() < INTERRUPT_AFTER {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(&mut child, libc::SIGINT);
        let _ = child.wait();
        let out = std::fs::read_to_string(&log).map_err(|e| e.to_string())?;
        if out.trim().is_empty() {
            return Err(format!("printed nothing in {INTERRUPT_AFTER:?}"));
        }
        output_matches(expected, &out).map_err(|why| format!("{why}; the output was:\n{out}"))?;
        Ok(out)
    }

    /// An interactive command under a pseudo terminal (`script`), fed the
    /// test's input.
    fn interactive(&mut self, command: &str) -> Result<String, String> {
        let input = self.dir.join(".doc-in");
        std::fs::write(&input, EXEC_INPUT).map_err(|e| e.to_string())?;
        let wrapped = format!("script -qec '{}' /dev/null < .doc-in", quote(command));
        let (ok, out) = self.once(&wrapped, COMMAND_LIMIT)?;
        match ok {
            true => Ok(out),
            false => Err(format!("exited non-zero:\n{out}")),
        }
    }

    /// bash running `command` after the variables of the earlier commands,
    /// saving its own for the later ones; in a process group of its own so
    /// that a stop reaches every process of a pipeline.
    fn spawn(&self, command: &str, out: Option<File>, what: &str) -> Result<Child, String> {
        let (stdout, stderr) = match out {
            Some(f) => (
                Stdio::from(f.try_clone().map_err(|e| e.to_string())?),
                Stdio::from(f),
            ),
            None => (Stdio::null(), Stdio::null()),
        };
        let script = format!(
            "set -a\n. ./.doc-vars 2>/dev/null\n{command}\n__rc=$?\nset +a\nexport -p > ./.doc-vars\nexit $__rc\n"
        );
        let path = format!(
            "{}:{}",
            self.bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        Command::new("bash")
            .arg("-c")
            .arg(script)
            .current_dir(&self.dir)
            .env("PATH", path)
            .env("NOMAD_ADDR", format!("http://{}:4646", self.ip))
            // It would win over NOMAD_ADDR in `drover`.
            .env_remove("DROVER_ADDR")
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting the {what}: {e}"))
    }
}

/// `text` for the inside of a single-quoted shell word.
fn quote(text: &str) -> String {
    text.replace('\'', r"'\''")
}

fn kill_group(child: &mut Child, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads (`process_group(0)` above); it touches no memory.
    unsafe {
        libc::kill(-(child.id() as i32), signal);
    }
}

/// The command without a trailing `# comment` (outside quotes), trimmed.
pub fn strip_comment(command: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev = ' ';
    for (i, c) in command.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev.is_whitespace() => return command[..i].trim(),
            _ => {}
        }
        prev = c;
    }
    command.trim()
}

/// `name` when the command is `name=$(...)`.
fn assignment(command: &str) -> Option<&str> {
    let (name, rest) = command.split_once('=')?;
    let ident = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    (ident && rest.starts_with("$(")).then_some(name)
}

/// Whether running the command again changes nothing: reads are re-run
/// until they show what the page shows, writes never.
fn is_read(command: &str) -> bool {
    let writes = [
        "-X PUT",
        "-X POST",
        "-X DELETE",
        " -d ",
        " --data",
        "-T ",
        " alloc signal",
        " alloc restart",
        " alloc stop",
        " alloc exec",
        " snapshot ",
        " job init",
        " job run ",
        " job stop ",
        " job revert ",
        " job scale ",
        " job dispatch ",
        " job periodic force ",
        " system gc",
        "compose up",
        "compose down",
    ];
    let get_with_data = command.contains(" -G ");
    !writes
        .iter()
        .any(|w| command.contains(w) && !(get_with_data && w.contains("-d")))
}
