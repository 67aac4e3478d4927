//! The real binary, run as a user runs it.

use std::process::Command;

fn drover(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .output()
        .expect("the drover binary runs")
}

#[test]
fn version_prints_the_package_version() {
    let out = drover(&["version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("Drover v{}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn go_style_single_dash_flags_are_accepted() {
    // `-log-level` is read as Nomad spells it; the bad value is named.
    let out = drover(&["agent", "-dev", "-log-level=loud"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loud"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn unknown_commands_fail_with_a_message_not_a_panic() {
    let out = drover(&["frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
}
