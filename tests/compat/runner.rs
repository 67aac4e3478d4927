//! Runs a compatibility script (`tests/compat/python/*.py`) against a
//! running agent: the real tool a Nomad user has (python-nomad), talking
//! to the real `drover` binary over HTTP.
//!
//! The interpreter is `$DROVER_COMPAT_PYTHON` when set (`.ci/run` points
//! it at a virtualenv with python-nomad), else `python3` from `PATH`. When
//! it is missing or cannot `import nomad`, the test prints `SKIPPED` and
//! passes, except under `CI`, where a missing tool is a failure: a suite
//! that silently does not run proves nothing.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::common::Agent;

/// How long one script may take, waits for allocations included.
const SCRIPT_DEADLINE: Duration = Duration::from_secs(120);

/// The directory of the scripts and their shared `compat.py`.
fn scripts_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/compat/python")
}

/// The interpreter to run scripts with, or why there is none: one that
/// can import `modules` (a Python import list, e.g. `nomad, requests`).
async fn python(modules: &str) -> Result<String, String> {
    let python = std::env::var("DROVER_COMPAT_PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = tokio::process::Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .stdin(Stdio::null())
        .output()
        .await;
    match probe {
        Err(e) => Err(format!("{python} does not run: {e}")),
        Ok(out) if !out.status.success() => Err(format!(
            "{python} cannot import {modules} (pip install python-nomad 'nomadpy[exec]'): {}",
            String::from_utf8_lossy(&out.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
        Ok(_) => Ok(python),
    }
}

/// Run `script` (python-nomad) against `agent`; panics with the script's
/// output when it fails or overruns [`SCRIPT_DEADLINE`]. Returns `false`
/// when skipped.
pub async fn run_script(agent: &Agent, script: &str) -> bool {
    run_script_with(agent, script, "nomad, requests").await
}

/// [`run_script`] for a script that needs the Python modules `modules`.
pub async fn run_script_with(agent: &Agent, script: &str, modules: &str) -> bool {
    let python = match python(modules).await {
        Ok(p) => p,
        Err(why) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "compat script {script} cannot run under CI: {why}"
            );
            eprintln!("SKIPPED compat script {script}: {why}");
            return false;
        }
    };
    let dir = scripts_dir();
    let child = tokio::process::Command::new(&python)
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("NOMAD_ADDR", &agent.base)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("PYTHONUNBUFFERED", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("starting {python} {script}: {e}"));
    let out = tokio::time::timeout(SCRIPT_DEADLINE, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("compat script {script} ran over {SCRIPT_DEADLINE:?}"))
        .unwrap_or_else(|e| panic!("waiting for {script}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "compat script {script} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    eprint!("{stdout}");
    true
}
