//! Architecture invariants that a grep of one Cargo.toml cannot prove: the
//! whole resolved dependency tree of `drover-api` and `drover-state` is free
//! of runtime, storage, consensus, HTTP and Docker crates (ARCHITECTURE.md).

use std::collections::BTreeSet;
use std::process::Command;

const FORBIDDEN: &[&str] = &[
    "tokio", "sled", "openraft", "axum", "hyper", "bollard", "reqwest", "mio",
];

/// Every crate `package` depends on for its library (normal and build
/// edges, not dev-dependencies), as `cargo tree` resolves it.
fn dependency_names(package: &str) -> BTreeSet<String> {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            package,
            "-e",
            "normal,build",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[track_caller]
fn check_pure(package: &str) {
    let deps = dependency_names(package);
    assert!(
        deps.contains(package),
        "cargo tree listed {package} itself: {deps:?}"
    );
    let bad: Vec<_> = deps
        .iter()
        .filter(|d| FORBIDDEN.contains(&d.as_str()))
        .collect();
    assert!(
        bad.is_empty(),
        "{package} must do no I/O, but depends on {bad:?}"
    );
}

#[test]
fn api_depends_on_no_io_crates() {
    check_pure("drover-api");
}

#[test]
fn state_depends_on_no_io_crates() {
    check_pure("drover-state");
    assert!(
        dependency_names("drover-state").contains("drover-api"),
        "state builds on api"
    );
}

#[test]
fn api_does_not_depend_on_state() {
    assert!(
        !dependency_names("drover-api").contains("drover-state"),
        "the dependency direction is api <- state"
    );
}
