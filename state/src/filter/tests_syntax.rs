//! Syntax tests, grouped by theme: literals, whitespace, keywords, parse
//! errors with their exact positions, and limits on hostile input.

use super::fixture::{check, check_kind, check_msg};
use super::{Filter, FilterErrorKind, MAX_DEPTH};

#[test]
fn filter_source_and_display() {
    let src = r#"  Status == "running"  "#;
    let f = Filter::parse(src).unwrap();
    assert_eq!(f.source(), src);
    assert_eq!(f.to_string(), src);
    let g: Filter = src.parse().unwrap();
    assert_eq!(f, g);
    check(src, Ok(true));
}

#[test]
fn filter_not_not_is_identity() {
    let a = Filter::parse(r#"not not Status == "running""#).unwrap();
    let b = Filter::parse(r#"Status == "running""#).unwrap();
    assert_eq!(a.canonical(), b.canonical());
    check("not not not not Stop == false", Ok(true));
}

#[test]
fn filter_strings_quoted_and_raw() {
    check(r#"Periodic.Spec == "*/5 * * * *""#, Ok(true));
    check(r"Periodic.Spec == `*/5 * * * *`", Ok(true));
    check(r#"Meta["quote\"d"] == `yes`"#, Ok(true));
    check(r#"Status == "run\u006eing""#, Ok(true));
    check(r#"Status == "\x72unning""#, Ok(true));
    check(r#"Status == "\162unning""#, Ok(true));
    check(r#"Status == "running\n""#, Ok(false));
    check(r"Status == `running\n`", Ok(false));
}

#[test]
fn filter_string_escapes() {
    let f = |s: &str| -> Filter { Filter::parse(s).unwrap() };
    let lit = |s: &str| f(s).canonical();
    assert_eq!(lit(r#"Name == "a\tb""#), r#"Name == "a\tb""#);
    assert_eq!(lit(r#"Name == "a\\b""#), r#"Name == "a\\b""#);
    assert_eq!(lit(r#"Name == "\u00e9""#), r#"Name == "é""#);
    assert_eq!(lit(r#"Name == "\U0001F600""#), r#"Name == "😀""#);
    assert_eq!(lit(r"Name == `a\tb`"), r#"Name == "a\\tb""#);
    check(r#"Name == "\q""#, Err(9));
    check(r#"Name == "ab\x4""#, Err(11));
    check(r#"Name == "\ud800""#, Err(9));
    check(r#"Name == "\xff""#, Err(8));
}

#[test]
fn filter_whitespace() {
    check("Priority==50", Ok(true));
    check("  Priority   ==\t50  ", Ok(true));
    check("Priority\n==\n50", Ok(true));
    check("\n(\tPriority == 50\n)\n", Ok(true));
    check("Priority == 50\nand\nStop == false", Ok(true));
    check(r#""dc1"   in    Datacenters"#, Ok(true));
}

#[test]
fn filter_keywords_need_word_boundaries() {
    check("Priority == 50 andStop == false", Err(15));
    check("Priority == 50 or2 == 1", Err(15));
    check("notStop == false", Err(0));
    check("Status == running and Stop == false", Ok(true));
    check("Status == andy", Ok(false));
}

#[test]
fn filter_parse_errors_values() {
    check("Priority == ", Err(12));
    check("Priority == )", Err(12));
    check("Priority == ==", Err(12));
    check("Priority ===50", Err(11));
    check("Status == and", Err(10));
    check(r#"Status == "running"#, Err(10));
    check("Status == `running", Err(10));
    check_kind(r#"Status == "running"#, 10, |k| {
        matches!(k, FilterErrorKind::UnterminatedString)
    });
}

#[test]
fn filter_parse_errors_numbers() {
    check("Priority == 007", Err(12));
    check("Priority == 1.", Err(12));
    check("Priority == 5x", Err(12));
    check("Priority == 1.2.3", Err(12));
    check("Priority == -", Err(12));
    check("Priority == -0", Ok(false));
    check_kind(
        "Priority == 5x",
        12,
        |k| matches!(k, FilterErrorKind::InvalidNumber(s) if s == "5x"),
    );
}

#[test]
fn filter_parse_errors_operators() {
    check("Status", Err(6));
    check(r#"Status = "x""#, Err(7));
    check(r#"Status === "x""#, Err(9));
    check(r#"Status is "x""#, Err(10));
    check("Status is not", Err(13));
    check(r#"Status not "x""#, Err(11));
    check(r#""x" Datacenters"#, Err(4));
    check(r#""x" not Datacenters"#, Err(8));
    check(r#""x" in "y""#, Err(7));
}

#[test]
fn filter_parse_errors_structure() {
    check("", Err(0));
    check("   ", Err(3));
    check("Priority == 50 Stop == false", Err(15));
    check("Priority == 50 and", Err(18));
    check("Priority == 50 or ", Err(18));
    check("and Priority == 50", Err(0));
    check("not", Err(3));
    check("== 50", Err(0));
    check_msg("", "invalid filter at position 0: the filter is empty");
}

#[test]
fn filter_parse_errors_parentheses() {
    check("(Priority == 50", Err(15));
    check("((Priority == 50)", Err(17));
    check("Priority == 50)", Err(14));
    check("()", Err(1));
    check("(", Err(1));
    check(")", Err(0));
    check_msg(
        "(Priority == 50",
        r#"invalid filter at position 15: expected ")" to close the "(" at position 0"#,
    );
}

#[test]
fn filter_parse_errors_selectors() {
    check("Meta. == 1", Err(5));
    check("Meta.[\"x\"] == 1", Err(5));
    check("Meta[x] == 1", Err(5));
    check(r#"Meta["x" == 1"#, Err(9));
    check(r#"Meta["x] == 1"#, Err(5));
    check("1abc == 1", Err(0));
}

#[test]
fn filter_nesting_depth_limit() {
    let ok = format!(
        "{}Priority == 50{}",
        "(".repeat(MAX_DEPTH),
        ")".repeat(MAX_DEPTH)
    );
    check(&ok, Ok(true));
    let deep = format!("{}Priority == 50{}", "(".repeat(10_000), ")".repeat(10_000));
    check(&deep, Err(MAX_DEPTH));
    let nots = format!("{}Priority == 50", "not ".repeat(10_000));
    check(&nots, Err(4 * MAX_DEPTH));
    let mixed = "not (".repeat(5_000);
    check_kind(&mixed, 5 * (MAX_DEPTH / 2), |k| {
        matches!(k, FilterErrorKind::TooDeep { .. })
    });
}

#[test]
fn filter_long_flat_inputs() {
    let many = vec!["Priority == 50"; 20_000].join(" and ");
    check(&many, Ok(true));
    let ors = vec!["Priority == 1"; 20_000].join(" or ");
    check(&ors, Ok(false));
    let long_sel = format!("Meta{} == 1", ".x".repeat(50_000));
    check(&long_sel, Ok(false));
    let long_str = format!("Name == \"{}\"", "a".repeat(100_000));
    check(&long_str, Ok(false));
    let many_keys: Vec<String> = (0..5_000).map(|n| format!("Meta.k{n} == 1")).collect();
    check(&many_keys.join(" or "), Ok(false));
    let many_keys: Vec<String> = (0..5_000).map(|n| format!("Meta.k{n} != 1")).collect();
    check(
        &(many_keys.join(" and ") + " and Meta.env == prod"),
        Ok(true),
    );
}

#[test]
fn filter_reserved_words() {
    check("in == 1", Err(0));
    check("Status == not", Err(10));
    check("contains in Datacenters", Err(0));
    check(r#""x" in and"#, Err(7));
    check(r#""x" not in is"#, Err(11));
    check(r#"Status == "and""#, Ok(false));
    check_kind(
        "Status == or",
        10,
        |k| matches!(k, FilterErrorKind::ReservedWord(w) if w == "or"),
    );
}

#[test]
fn filter_unicode_input() {
    check("Name == \"héllo\"", Ok(false));
    check("Name == é", Err(8));
    check("é == 1", Err(0));
    check("Meta[\"ключ\"] is empty", Ok(true));
}

#[test]
fn filter_error_display() {
    check_msg(
        "Priority == 50 )",
        r#"invalid filter at position 15: unexpected ')' after a complete expression; expected "and", "or" or the end of the filter"#,
    );
    check_msg(
        "Meta.nope.x == 1 or TaskGroups.x == 1",
        r#"invalid filter at position 31: cannot look up "x" inside a list"#,
    );
    check_msg(
        "Datacenters == 1",
        r#"invalid filter at position 0: operator "==" cannot be applied to a list"#,
    );
    check_msg(
        "Priority == 1.",
        r#"invalid filter at position 12: invalid number literal "1.""#,
    );
}
