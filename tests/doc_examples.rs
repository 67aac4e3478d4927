//! Every example in the book (`website/src`) and the README's tour, run
//! against the real `drover agent -dev`, so the documentation cannot drift
//! from what Drover does.
//!
//! Each page with commands gets its own dev agent, bound to its own
//! loopback address (127.0.1.160 and up) on Nomad's ports, and a bash
//! session in a fresh directory where `drover` is the binary under test and
//! `localhost:4646` is that agent. The block conventions are in
//! `doc_examples/extract.rs` and on the book's "Writing these docs" page.
//! A failure names the page and line.

mod common;
#[path = "doc_examples/compose.rs"]
mod compose;
#[path = "../client/tests/docker_support/mod.rs"]
mod docker_support;
#[path = "doc_examples/extract.rs"]
mod extract;
#[path = "doc_examples/shell.rs"]
mod shell;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use extract::Step;
use shell::{strip_comment, Session};

const DEADLINE: Duration = Duration::from_secs(30);
/// The test's loopback addresses: 127.0.1.160 to .180 for pages with a
/// dev agent, .181 to .189 for a page's own servers, .190 for the port a
/// page's Docker Compose project publishes.
const FIRST_HOST: u8 = 160;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A dev agent on `ip`, killed with the tasks it started when dropped.
struct DevAgent {
    child: Child,
    data: PathBuf,
}

impl Drop for DevAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        common::kill_processes_under(&self.data);
    }
}

impl DevAgent {
    fn start(ip: &str, dir: &Path) -> DevAgent {
        let data = dir.join("agent");
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["agent", "-dev", "-bind", ip, "-log-level=warn", "-data-dir"])
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("drover starts");
        let mut agent = DevAgent { child, data };
        let started = Instant::now();
        loop {
            // An agent that could not bind exits: never mistake another
            // process on the address for it.
            if let Ok(Some(status)) = agent.child.try_wait() {
                panic!("the agent on {ip} exited: {status}");
            }
            // Ready once it has a leader and its client node is registered.
            let nodes = Command::new("curl")
                .args(["-sf", &format!("http://{ip}:4646/v1/nodes")])
                .output()
                .expect("curl runs");
            if String::from_utf8_lossy(&nodes.stdout).contains("\"Status\":\"ready\"") {
                return agent;
            }
            assert!(
                started.elapsed() < DEADLINE,
                "agent on {ip} not ready in {DEADLINE:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// The book's pages in SUMMARY.md's order.
fn book_pages() -> Vec<String> {
    let summary = std::fs::read_to_string(root().join("website/src/SUMMARY.md")).unwrap();
    let mut pages = vec!["SUMMARY.md".to_string()];
    for line in summary.lines() {
        if let Some((_, rest)) = line.split_once("](") {
            if let Some((page, _)) = rest.split_once(')') {
                pages.push(page.to_string());
            }
        }
    }
    pages
}

#[derive(Default)]
struct Tally {
    commands: usize,
    files: usize,
    not_run: Vec<String>,
    agent_starts: usize,
    failures: Vec<String>,
}

/// Whether the command starts the dev agent the test already runs.
fn starts_dev_agent(command: &str) -> bool {
    let bare = strip_comment(command).trim_end_matches('&').trim();
    matches!(
        bare,
        "drover agent -dev" | "cargo run --release -- agent -dev"
    )
}

/// The mark of a page whose commands start their own agents: no dev agent
/// is started for it, and its addresses `127.0.0.1` to `127.0.0.9` are the
/// test's `127.0.1.181` to `127.0.1.189`.
const NO_AGENT: &str = "<!-- doc-examples: no-agent -->";
const CLUSTER_IP: &str = "127.0.1.181";

/// Runs `steps` of `page` on a fresh agent; `check` sees each command's
/// output (after the page's own expectations passed) for page-specific
/// assertions.
fn run_page(
    page: &str,
    steps: &[Step],
    host: Option<u8>,
    tally: &mut Tally,
    mut check: impl FnMut(&str, &str, &mut Session) -> Result<(), String>,
) {
    let dir = tempfile::tempdir().unwrap();
    let (ip, _agent) = match host {
        Some(host) => {
            assert!(host < 181, "more pages than test addresses");
            let ip = format!("127.0.1.{host}");
            let agent = DevAgent::start(&ip, dir.path());
            (ip, Some(agent))
        }
        None => (CLUSTER_IP.to_string(), None),
    };
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let drover = Path::new(env!("CARGO_BIN_EXE_drover"));
    let mut session = Session::new(&work, &ip, host.is_none(), drover);
    for step in steps {
        match step {
            Step::File { line, name, body } => {
                tally.files += 1;
                if let Err(e) = session.write_file(name, body) {
                    tally.failures.push(format!("{page}:{line}: {e}"));
                }
            }
            Step::Command { line, command, .. } if starts_dev_agent(command) => {
                let _ = (line, command);
                tally.agent_starts += 1;
            }
            Step::Command {
                line,
                command,
                expected,
            } => {
                tally.commands += 1;
                let outcome = session
                    .run(command, expected)
                    .and_then(|out| check(command, &out, &mut session));
                if let Err(why) = outcome {
                    tally
                        .failures
                        .push(format!("{page}:{line}: `{command}`: {why}"));
                    return; // later commands build on this one
                }
            }
        }
    }
}

/// The README's tour: its commands as written, and what they must show.
fn readme_tour(host: u8, tally: &mut Tally) {
    let text = std::fs::read_to_string(root().join("README.md")).unwrap();
    let Some(body) = extract::block_after(&text, "## A five-minute tour") else {
        tally
            .failures
            .push("README.md: no block after \"## A five-minute tour\"".into());
        return;
    };
    let steps = extract::plain_commands(&body);
    run_page(
        "README.md",
        &steps,
        Some(host),
        tally,
        |command, out, session| {
            if command.starts_with("alloc=") {
                // The lookup must pick the job's allocation, not some other ID.
                let listed = session.var("alloc")?;
                let (_, list) = session_get(session, "/v1/job/web/allocations")?;
                let ids: Vec<&str> = list
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a["ID"].as_str())
                    .collect();
                if ids != [listed.as_str()] {
                    return Err(format!("$alloc is {listed:?}, the job's are {ids:?}"));
                }
            }
            if command.contains("filter") {
                let v: serde_json::Value =
                    serde_json::from_str(out).map_err(|e| format!("not JSON ({e}): {out}"))?;
                if v.as_array().is_none_or(|l| l.is_empty()) {
                    return Err(format!("the filter selected nothing: {out}"));
                }
            }
            Ok(())
        },
    );
}

fn session_get(session: &Session, path: &str) -> Result<(bool, serde_json::Value), String> {
    let out = Command::new("curl")
        .args(["-sf", &format!("http://{}:4646{path}", session.ip)])
        .output()
        .map_err(|e| e.to_string())?;
    let v = serde_json::from_slice(&out.stdout).map_err(|e| format!("{path}: {e}"))?;
    Ok((out.status.success(), v))
}

/// The paths of every route the agent serves: the server's router and
/// the client's, as written in their sources (`{id}` for a parameter).
fn served_routes() -> Vec<String> {
    let mut sources = vec![root().join("server/src/http/mod.rs")];
    for entry in std::fs::read_dir(root().join("client/src/http")).unwrap() {
        sources.push(entry.unwrap().path());
    }
    let mut routes = Vec::new();
    for source in sources {
        let text = std::fs::read_to_string(&source).unwrap();
        for piece in text.split('"').skip(1).step_by(2) {
            let catch_all = piece.contains("{*");
            if piece.starts_with("/v1/") && !catch_all && piece != "/v1/namespace/" {
                routes.push(piece.to_string());
            }
        }
    }
    routes.sort();
    routes.dedup();
    routes
}

/// A path's segments with every parameter (`{id}`, `:id`) as `*`.
fn shape(path: &str) -> Vec<String> {
    path.trim_end_matches('/')
        .split('/')
        .map(|s| match s.starts_with('{') || s.starts_with(':') {
            true => "*".to_string(),
            false => s.to_string(),
        })
        .collect()
}

/// The API page names every route the agent serves.
#[test]
fn the_api_page_lists_every_route() {
    let page = std::fs::read_to_string(root().join("website/src/api.md")).unwrap();
    let documented: Vec<Vec<String>> = page
        .split('`')
        .flat_map(|code| code.split([' ', ',']))
        .filter(|w| w.starts_with("/v1/"))
        .map(|w| shape(w.split('?').next().unwrap_or(w)))
        .collect();
    let missing: Vec<String> = served_routes()
        .into_iter()
        .filter(|r| !documented.contains(&shape(r)))
        .collect();
    assert!(
        missing.is_empty(),
        "website/src/api.md does not name these routes: {missing:?}"
    );
}

/// The tools the examples use, checked first so that a machine without
/// one fails with one clear line rather than on some page.
fn require_tools() {
    for tool in ["bash", "curl", "jq", "script"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "the book's examples need `{tool}` (.ci/run installs curl, jq and bsdutils)"
        );
    }
}

#[test]
fn every_example_in_the_book_and_the_readme_runs() {
    require_tools();
    let mut tally = Tally::default();
    let mut host = FIRST_HOST;
    for name in book_pages() {
        let path = root().join("website/src").join(&name);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let page = extract::page(&text);
        for (line, info) in &page.unmarked {
            tally.failures.push(format!(
                "{name}:{line}: a ```{info} block is neither run (```console) nor marked not-run"
            ));
        }
        tally
            .not_run
            .extend(page.not_run.iter().map(|l| format!("{name}:{l}")));
        if page.steps.is_empty() {
            continue;
        }
        if text.lines().any(|l| l.trim() == NO_AGENT) {
            eprintln!("doc examples: {name}, its own agents from {CLUSTER_IP}");
            run_page(&name, &page.steps, None, &mut tally, |_, _, _| Ok(()));
            continue;
        }
        eprintln!("doc examples: {name} on 127.0.1.{host}");
        run_page(&name, &page.steps, Some(host), &mut tally, |_, _, _| Ok(()));
        host += 1;
    }
    eprintln!("doc examples: README.md on 127.0.1.{host}");
    readme_tour(host, &mut tally);

    eprintln!(
        "doc examples: {} commands run, {} files written, {} dev-agent starts stood in for by the test's agent, {} blocks marked not-run: {}",
        tally.commands,
        tally.files,
        tally.agent_starts,
        tally.not_run.len(),
        tally.not_run.join(", ")
    );
    assert!(
        tally.failures.is_empty(),
        "{} doc example(s) failed:\n{}",
        tally.failures.len(),
        tally.failures.join("\n\n")
    );
    assert!(tally.commands > 0, "no examples found");
}
