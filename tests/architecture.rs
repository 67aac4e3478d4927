//! Architecture invariants that a grep of one Cargo.toml cannot prove: the
//! whole resolved dependency tree of `drover-api`, `drover-state` and
//! `drover-scheduler` is free of runtime, storage, consensus, HTTP and
//! Docker crates, and their sources name no part of std that reads a clock
//! or does I/O (ARCHITECTURE.md).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
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

/// Paths into std's I/O, process, thread and clock APIs. `std::io::Write`
/// stays allowed: state encodes snapshots into a writer its caller owns.
const FORBIDDEN_STD: &[&str] = &[
    "std::fs",
    "std::net",
    "std::env",
    "std::process",
    "std::thread",
    "SystemTime",
    "Instant",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Whether `line` names `word` as a whole path or identifier (so
/// `Instant` matches, `Instantiate` does not).
fn names(line: &str, word: &str) -> bool {
    line.match_indices(word).any(|(i, _)| {
        let before = line[..i].chars().next_back();
        let after = line[i + word.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}

/// No line of code (comments aside) under `src` of the crate in `dir`
/// names a forbidden std path. A tripwire, not a proof: the dependency
/// check above is the hard boundary, this catches the std half of it.
#[track_caller]
fn check_no_std_io(dir: &str) {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(!files.is_empty(), "no Rust sources under {}", src.display());
    let mut bad = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for word in FORBIDDEN_STD {
                if names(code, word) {
                    bad.push(format!("{}:{}: {word}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{dir} must read no clock and do no I/O: {bad:#?}"
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
fn scheduler_depends_on_no_io_crates() {
    check_pure("drover-scheduler");
    let deps = dependency_names("drover-scheduler");
    assert!(
        deps.contains("drover-api") && deps.contains("drover-state"),
        "the scheduler builds on api and state: {deps:?}"
    );
    for above in ["drover-server", "drover-client", "drover"] {
        assert!(
            !deps.contains(above),
            "the dependency direction is state <- scheduler <- server, but the scheduler depends on {above}"
        );
    }
}

#[test]
fn pure_crates_read_no_clock_and_do_no_io() {
    check_no_std_io("api");
    check_no_std_io("state");
    check_no_std_io("server/scheduler");
}

#[test]
fn api_does_not_depend_on_state() {
    assert!(
        !dependency_names("drover-api").contains("drover-state"),
        "the dependency direction is api <- state"
    );
}
