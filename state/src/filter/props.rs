//! Property tests: no input may panic the parser or the evaluator, the
//! projection optimisation never changes an answer, and the canonical
//! rendering of a filter parses back to the same filter.

use proptest::prelude::*;

use super::fixture::{job, Job};
use super::{Filter, FilterErrorKind};

/// Fragments of the grammar, valid and broken, for building token soup.
const TOKENS: &[&str] = &[
    "(",
    ")",
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "and",
    "or",
    "not",
    "in",
    "contains",
    "is",
    "empty",
    "nil",
    "matches",
    "\"x\"",
    "`raw`",
    "\"dc1\"",
    "\"running\"",
    "Meta",
    "Meta.env",
    "Meta[\"env\"]",
    "Meta[`a b`]",
    "Datacenters",
    "Status",
    "Priority",
    "Ratio",
    "Stop",
    "Labels.canary",
    "ParentID",
    "TaskGroups.0.Name",
    "TaskGroups.9",
    "TaskGroups.x",
    "Nope",
    "5",
    "-1.5",
    "0",
    "007",
    "true",
    "false",
    "running",
    "\"\\u0041\"",
    "\"\\q\"",
    "\"(a|b\"",
    "\"^r\"",
    "[",
    "]",
    ".",
    "\"",
    "`",
    "\\",
    "-",
    "é",
    "\n",
    ".0",
];

fn soup() -> impl Strategy<Value = String> {
    prop::collection::vec(
        (
            prop::sample::select(TOKENS),
            prop::sample::select(&[" ", "", "\t"][..]),
        ),
        0..24,
    )
    .prop_map(|parts| {
        let mut s = String::new();
        for (tok, sep) in parts {
            s.push_str(tok);
            s.push_str(sep);
        }
        s
    })
}

const SELECTORS: &[&str] = &[
    "Status",
    "Priority",
    "Ratio",
    "Stop",
    "Version",
    "Offset",
    "Meta.env",
    "Meta[\"a b\"]",
    "Meta.nope",
    "Meta",
    "Datacenters",
    "Weights",
    "Labels",
    "Labels.canary",
    "ParentID",
    "Periodic",
    "Periodic.Spec",
    "TaskGroups.0.Name",
    "TaskGroups.1.Count",
    "TaskGroups.7.Name",
    "TaskGroups.0.Tasks.0.Config.ports",
    "TaskGroups.0.Tasks.0.Resources.CPU",
    "Scheduler",
    "Description",
];

const VALUES: &[&str] = &[
    "\"running\"",
    "running",
    "5",
    "50",
    "-5",
    "0.75",
    "true",
    "false",
    "\"dc1\"",
    "dc2",
    "\"env\"",
    "`a b`",
    "\"\\t\"",
    "\"é\"",
    "canary",
    "Batch",
    "\"\"",
];

const OPS: &[&str] = &[
    "==",
    "!=",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "not contains",
    "matches",
    "not matches",
];

/// Syntactically valid filters over the test job's fields.
fn valid_filter() -> impl Strategy<Value = String> {
    let sel = prop::sample::select(SELECTORS);
    let val = prop::sample::select(VALUES);
    let leaf = prop_oneof![
        (sel.clone(), prop::sample::select(OPS), val.clone()).prop_map(|(s, o, v)| {
            if o.ends_with("matches") {
                format!("{s} {o} {:?}", v.trim_matches(|c| c == '"' || c == '`'))
            } else {
                format!("{s} {o} {v}")
            }
        }),
        (
            sel.clone(),
            prop::sample::select(&["is empty", "is not empty", "is nil"][..])
        )
            .prop_map(|(s, o)| format!("{s} {o}")),
        (val, prop::sample::select(&["in", "not in"][..]), sel)
            .prop_map(|(v, o, s)| format!("{v} {o} {s}")),
    ];
    leaf.prop_recursive(5, 32, 4, |inner| {
        prop_oneof![
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} and {b}")),
            (inner.clone(), inner.clone()).prop_map(|(a, b)| format!("{a} or {b}")),
            inner.clone().prop_map(|a| format!("not {a}")),
            inner.prop_map(|a| format!("({a})")),
        ]
    })
}

/// Parses and, if that works, evaluates; panics only on a broken invariant.
fn exercise(src: &str, job: &Job) {
    let Ok(f) = Filter::parse(src) else {
        return;
    };
    let projected = f.matches(job);
    let full = f.matches_unprojected(job);
    assert_eq!(projected, full, "projection changed the answer for {src:?}");
    round_trip(&f, job);
}

/// The canonical text parses to a filter that prints the same and answers
/// the same (errors may point elsewhere, since the text differs).
fn round_trip(f: &Filter, job: &Job) {
    let text = f.canonical();
    let g = match Filter::parse(&text) {
        Ok(g) => g,
        // Canonical text adds parentheses, so a filter near the limit may
        // exceed it when re-rendered.
        Err(e) if matches!(e.kind, FilterErrorKind::TooDeep { .. }) => return,
        Err(e) => panic!(
            "canonical form {text:?} of {:?} does not parse: {e}",
            f.source()
        ),
    };
    assert_eq!(
        g.canonical(),
        text,
        "canonical form of {:?} is not stable",
        f.source()
    );
    assert_eq!(
        f.matches(job).map_err(|e| e.kind),
        g.matches(job).map_err(|e| e.kind),
        "canonical form {text:?} of {:?} answers differently",
        f.source()
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn filter_prop_arbitrary_unicode_never_panics(src in ".*") {
        exercise(&src, &job());
    }

    #[test]
    fn filter_prop_token_soup_never_panics(src in soup()) {
        exercise(&src, &job());
    }

    #[test]
    fn filter_prop_valid_filters_parse_and_round_trip(src in valid_filter()) {
        let f = Filter::parse(&src);
        prop_assert!(f.is_ok(), "{src:?} should parse: {:?}", f.err());
        exercise(&src, &job());
    }

    #[test]
    fn filter_prop_error_positions_are_in_bounds(src in soup()) {
        if let Err(e) = Filter::parse(&src) {
            prop_assert!(e.pos <= src.len(), "{src:?}: {e}");
            prop_assert!(src.is_char_boundary(e.pos), "{src:?}: {e}");
        }
    }

    #[test]
    fn filter_prop_mutated_valid_filters_never_panic(
        src in valid_filter(),
        at in any::<prop::sample::Index>(),
        tok in prop::sample::select(TOKENS),
        cut in any::<bool>(),
    ) {
        let mut s = src;
        let mut pos = at.index(s.len() + 1);
        while !s.is_char_boundary(pos) {
            pos -= 1;
        }
        if cut {
            s.truncate(pos);
        } else {
            s.insert_str(pos, tok);
        }
        exercise(&s, &job());
    }

    #[test]
    fn filter_prop_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        let src = String::from_utf8_lossy(&bytes);
        exercise(&src, &job());
    }
}
