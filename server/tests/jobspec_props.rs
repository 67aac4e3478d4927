//! Nothing the parser is fed may panic: `PUT /v1/jobs/parse` takes any
//! string from the network. Random text finds panics in the lexer-facing
//! paths; mutated copies of a valid spec reach deep into the decoders with
//! inputs that are almost right, which is where slicing and arithmetic bugs
//! hide.

use drover_server::jobspec::{parse_go_duration, parse_hcl, parse_hcl_with_variables};
use proptest::prelude::*;

const REDIS: &str = include_str!("fixtures/jobspec/redis.hcl");

/// Fragments that are meaningful somewhere in a job spec, so that mutations
/// produce plausible near-misses rather than only syntax errors.
const FRAGMENTS: &[&str] = &[
    "${",
    "}",
    "{",
    "\"",
    "$${",
    "%{",
    "%%{",
    "\\",
    "\\u00e9",
    "µs",
    "é",
    "\n",
    " = ",
    "var.",
    "local.",
    "-",
    "1.5",
    "9999999999999999999999",
    "[",
    "]",
    "<<EOT\n",
    "\nEOT\n",
    "null",
    "true",
    "(",
    ")",
    "*",
    "/ 0",
    "? 1 : 2",
    "group \"g\" {",
    "task \"t\" {",
    "config {",
    "port \"p\" {",
    "dynamic \"d\" {",
    ".0",
    "[0]",
    "~",
];

/// Does `f` run without panicking? (It may return errors; that is fine.)
fn check(src: &str, vars: &str) {
    let _ = parse_hcl_with_variables(src, vars);
}

fn mutate(base: &str, edits: &[(usize, usize, usize)]) -> String {
    let mut s: Vec<char> = base.chars().collect();
    for &(pos, del, frag) in edits {
        let pos = pos % (s.len() + 1);
        let end = (pos + del % 8).min(s.len());
        let insert: Vec<char> = FRAGMENTS[frag % FRAGMENTS.len()].chars().collect();
        s.splice(pos..end, insert);
    }
    s.into_iter().collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_text_never_panics(src in "\\PC{0,200}", vars in "\\PC{0,40}") {
        check(&src, &vars);
    }

    #[test]
    fn random_hcl_shaped_text_never_panics(
        src in "(job|group|task|config|\"x\"|\\{|\\}|=|\\$\\{|[a-z0-9._\\-\\[\\]\"\\\\ \n]){0,80}"
    ) {
        check(&src, "");
    }

    #[test]
    fn mutated_valid_spec_never_panics(
        edits in prop::collection::vec((any::<usize>(), any::<usize>(), any::<usize>()), 1..6)
    ) {
        check(&mutate(REDIS, &edits), "");
    }

    #[test]
    fn any_duration_string_never_panics(s in "[-+]?[0-9.]{0,25}(ns|us|µs|ms|s|m|h|x|)[0-9.]{0,5}\\PC{0,3}") {
        let _ = parse_go_duration(&s);
    }
}

#[test]
fn the_unmutated_fixture_parses() {
    let parsed = parse_hcl(REDIS).expect("fixture is valid");
    assert_eq!(parsed.job.id, "example");
}
