//! `drover agent`'s configuration errors, through the real binary.
//!
//! Only paths that fail before the agent starts: a config that loads would
//! start a long-running agent. Each run has a deadline, so a wiring change
//! that starts the agent anyway fails here instead of hanging the suite.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(30);

fn drover(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the drover binary runs");
    let started = Instant::now();
    loop {
        match child.try_wait().expect("waiting on drover") {
            Some(_) => return child.wait_with_output().expect("drover's output"),
            None if started.elapsed() > DEADLINE => {
                let _ = child.kill();
                panic!("drover {args:?} still running after {DEADLINE:?}");
            }
            None => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agent")
        .join(name)
        .display()
        .to_string()
}

/// Runs `args`, expects exit 1 and exactly one line on stderr: `want`.
#[track_caller]
fn check_refused(args: &[&str], want: &str) {
    let out = drover(args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
    assert_eq!(err.trim_end(), format!("Error: {want}"), "{args:?}");
}

#[test]
fn agent_config_errors_are_one_line() {
    let typo = fixture("typo.hcl");
    let cases: &[(&[&str], String)] = &[
        (
            &["agent"],
            "Must specify either server, client or dev mode for the agent.".into(),
        ),
        (
            &["agent", "-server", "-bootstrap-expect=1"],
            r#"Must specify "data_dir" config option or "data-dir" CLI flag"#.into(),
        ),
        (
            &["agent", "-dev", "-log-level", "LOUD"],
            "-log-level: invalid log level \"LOUD\"; valid log levels are TRACE, DEBUG, INFO, WARN, ERROR, OFF".into(),
        ),
        (
            &["agent", "-dev", "-config", &typo],
            format!("{typo}: server.enbled: unknown key (not a Nomad agent option Drover knows)"),
        ),
    ];
    for (args, want) in cases {
        check_refused(args, want);
    }
}

#[test]
fn agent_help_lists_nomads_flags() {
    let out = drover(&["agent", "-h"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in [
        "--dev",
        "--config",
        "--data-dir",
        "--bind",
        "--server",
        "--client",
        "--bootstrap-expect",
        "--retry-join",
        "--servers",
        "--node",
        "--dc",
        "--region",
        "--log-level",
        "--log-json",
    ] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}
