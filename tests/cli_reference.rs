//! The website's CLI reference (`website/src/cli.md`) is the real binary's
//! help: this test walks `drover -help`, then each command's and
//! subcommand's `-help` (the `Subcommands:` sections), renders one page
//! and compares it with the file. `DROVER_BLESS=1 cargo test --test
//! cli_reference` rewrites the page instead of failing.

use std::path::Path;
use std::process::Command;

const PAGE: &str = "website/src/cli.md";

/// `drover <words...>`: status and stdout.
fn drover(words: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(words)
        .env_remove("DROVER_ADDR")
        .env_remove("NOMAD_ADDR")
        .env("NO_COLOR", "1")
        .output()
        .expect("drover runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The names a help lists under a heading ending in `commands:` or
/// `Subcommands:`: each indented line's words before the two-space gap.
fn listed(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut inside = false;
    for line in help.lines() {
        if line.ends_with("commands:") || line == "Subcommands:" {
            inside = true;
            continue;
        }
        if !line.starts_with("    ") {
            inside = false;
            continue;
        }
        if inside {
            if let Some(name) = line.trim_start().split("  ").next() {
                out.push(name.trim().to_string());
            }
        }
    }
    out
}

/// Every command path below `path` with its help, depth first.
fn walk(path: Vec<String>, pages: &mut Vec<(String, String)>) {
    let mut words: Vec<&str> = path.iter().map(String::as_str).collect();
    words.push("-help");
    let (ok, help) = drover(&words);
    let name = path.join(" ");
    assert!(ok, "drover {name} -help failed:\n{help}");
    let help = help.trim_end().to_string();
    let subs = listed(&help);
    pages.push((name, help));
    for sub in subs {
        let mut next = path.clone();
        next.extend(sub.split(' ').map(str::to_string));
        walk(next, pages);
    }
}

fn render() -> String {
    let (ok, top) = drover(&["-help"]);
    assert!(ok, "drover -help failed");
    let mut pages = Vec::new();
    for cmd in listed(&top) {
        walk(vec![cmd], &mut pages);
    }
    pages.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = String::from(
        "# Command-line reference\n\n\
         Generated from the `drover` binary's own help by `tests/cli_reference.rs`\n\
         (`DROVER_BLESS=1 cargo test --test cli_reference` rewrites it). Flags are\n\
         Go-style, as Nomad's: `-flag`, `-flag=value` or `-flag value`; flags come\n\
         before arguments.\n\n## `drover`\n\n```text\n",
    );
    out += top.trim_end();
    out += "\n```\n";
    for (name, help) in pages {
        out += &format!("\n## `drover {name}`\n\n```text\n{help}\n```\n");
    }
    out
}

#[test]
fn website_cli_reference_matches_the_binary() {
    let want = render();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(PAGE);
    if std::env::var("DROVER_BLESS").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &want).expect("writing the CLI reference");
        return;
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    if have != want {
        let line = have
            .lines()
            .zip(want.lines())
            .position(|(a, b)| a != b)
            .map_or(have.lines().count().min(want.lines().count()), |n| n)
            + 1;
        panic!(
            "{PAGE} differs from the binary's help from line {line} on; \
             run `DROVER_BLESS=1 cargo test --test cli_reference` and commit the page"
        );
    }
}

#[test]
fn every_listed_command_has_a_usage_line_and_an_example() {
    let (_, top) = drover(&["-help"]);
    let mut pages = Vec::new();
    for cmd in listed(&top) {
        walk(vec![cmd], &mut pages);
    }
    for (name, help) in &pages {
        if name == "agent" {
            continue; // clap's help, with its own layout
        }
        assert!(help.starts_with("Usage: drover "), "{name}: {help}");
        assert!(
            help.contains("$ drover") || help.contains("Subcommands:"),
            "drover {name} -help has no example:\n{help}"
        );
    }
    for want in [
        "eval status",
        "deployment promote",
        "node pool list",
        "alloc status",
        "event stream",
    ] {
        assert!(
            pages.iter().any(|(n, _)| n == want),
            "{want} not documented"
        );
    }
}
