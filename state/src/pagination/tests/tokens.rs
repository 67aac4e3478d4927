//! Token syntax: Nomad's formats, round trips, and the errors a client sees
//! for a malformed `next_token`.

use super::*;

#[test]
fn token_round_trips_for_each_kind() {
    let keys = [
        ns_id("default", "example"),
        ns_id("default", "my.job"),
        ns_id("team-a", "a.b.c."),
        ci_id(0, "x"),
        ci_id(12, "abcd"),
        ci_id(u64::MAX, "5e1f.00"),
        id("f00d-cafe"),
        id("node.with.dots"),
        id("ünïcode"),
    ];
    for key in keys {
        let token = key.to_token();
        assert_eq!(token, key.to_string(), "Display and to_token agree");
        assert_eq!(SortKey::parse(key.kind(), &token), Ok(key));
    }
}

#[test]
fn token_formats_match_nomad() {
    assert_eq!(ns_id("default", "example").to_token(), "default.example");
    assert_eq!(ci_id(12, "abcd").to_token(), "12.abcd");
    assert_eq!(id("abcd").to_token(), "abcd");
}

#[test]
fn token_splits_on_first_dot_so_ids_may_contain_dots() {
    let p = SortKey::parse;
    assert_eq!(
        p(TokenKind::NamespaceId, "default.my.job"),
        Ok(ns_id("default", "my.job"))
    );
    assert_eq!(
        p(TokenKind::CreateIndexId, "12.ab.cd"),
        Ok(ci_id(12, "ab.cd"))
    );
    assert_eq!(p(TokenKind::Id, "a.b"), Ok(id("a.b")));
    // Leading zeros mean the same number and are accepted.
    assert_eq!(p(TokenKind::CreateIndexId, "007.x"), Ok(ci_id(7, "x")));
}

#[test]
fn token_kind_matches_variant() {
    assert_eq!(ns_id("a", "b").kind(), TokenKind::NamespaceId);
    assert_eq!(ci_id(1, "b").kind(), TokenKind::CreateIndexId);
    assert_eq!(id("b").kind(), TokenKind::Id);
    assert_eq!(TokenKind::CreateIndexId.to_string(), "<CreateIndex>.<ID>");
}

// ----------------------------------------------------------- token errors --

fn err(kind: TokenKind, token: &str) -> (TokenError, String) {
    let e = SortKey::parse(kind, token).expect_err("token should be rejected");
    let msg = e.to_string();
    (e, msg)
}

#[test]
fn token_without_separator_is_rejected() {
    let (e, msg) = err(TokenKind::CreateIndexId, "abc");
    assert!(matches!(e, TokenError::MissingSeparator { .. }));
    assert_eq!(
        msg,
        r#"invalid next_token "abc": expected "<CreateIndex>.<ID>""#
    );

    let (_, msg) = err(TokenKind::NamespaceId, "default");
    assert_eq!(
        msg,
        r#"invalid next_token "default": expected "<Namespace>.<ID>""#
    );
}

#[test]
fn token_with_non_numeric_index_is_rejected() {
    for bad in ["x.y", "+12.x", "-1.x", "1e3.x", " 1.x", "１２.x"] {
        let (e, msg) = err(TokenKind::CreateIndexId, bad);
        assert!(
            matches!(e, TokenError::BadCreateIndex { .. }),
            "{bad}: {e:?}"
        );
        assert!(msg.starts_with("invalid next_token "), "{msg}");
        assert!(msg.contains("<CreateIndex>.<ID>"), "{msg}");
    }
    let (_, msg) = err(TokenKind::CreateIndexId, "x.y");
    assert_eq!(
        msg,
        r#"invalid next_token "x.y": CreateIndex "x" is not an unsigned 64-bit integer, expected "<CreateIndex>.<ID>""#
    );
}

#[test]
fn token_with_overflowing_index_is_rejected() {
    let (e, msg) = err(TokenKind::CreateIndexId, "99999999999999999999999.x");
    assert_eq!(
        e,
        TokenError::BadCreateIndex {
            token: "99999999999999999999999.x".into(),
            index: "99999999999999999999999".into(),
        }
    );
    assert!(msg.contains(r#""99999999999999999999999.x""#), "{msg}");
    // One past u64::MAX overflows too; u64::MAX itself is fine.
    let (e, _) = err(TokenKind::CreateIndexId, "18446744073709551616.x");
    assert!(matches!(e, TokenError::BadCreateIndex { .. }));
    assert!(SortKey::parse(TokenKind::CreateIndexId, "18446744073709551615.x").is_ok());
}

#[test]
fn token_with_empty_parts_is_rejected() {
    let cases = [
        (TokenKind::CreateIndexId, ".x", "CreateIndex"),
        (TokenKind::CreateIndexId, "12.", "ID"),
        (TokenKind::CreateIndexId, ".", "CreateIndex"),
        (TokenKind::NamespaceId, ".job", "Namespace"),
        (TokenKind::NamespaceId, "default.", "ID"),
    ];
    for (kind, token, want_part) in cases {
        let (e, msg) = err(kind, token);
        match e {
            TokenError::EmptyPart { part, .. } => assert_eq!(part, want_part, "{token}"),
            other => panic!("{token}: unexpected {other:?}"),
        }
        assert!(msg.contains(&format!("empty {want_part}")), "{msg}");
    }
    let (_, msg) = err(TokenKind::NamespaceId, "default.");
    assert_eq!(
        msg,
        r#"invalid next_token "default.": empty ID, expected "<Namespace>.<ID>""#
    );
}

#[test]
fn empty_token_is_an_error_for_parse_but_absent_for_requests() {
    for kind in [
        TokenKind::NamespaceId,
        TokenKind::CreateIndexId,
        TokenKind::Id,
    ] {
        let (e, _) = err(kind, "");
        assert_eq!(
            e,
            TokenError::Empty {
                expected: kind.expected()
            }
        );
        assert_eq!(req(5, Some(""), false).start_key(kind), Ok(None));
        assert_eq!(req(5, None, true).start_key(kind), Ok(None));
    }
    let (_, msg) = err(TokenKind::Id, "");
    assert_eq!(msg, r#"invalid next_token "": expected "<ID>""#);
}

#[test]
fn token_error_messages_escape_control_characters() {
    let (_, msg) = err(TokenKind::NamespaceId, "evil\r\nX-Injected: 1");
    assert!(!msg.contains('\n') && !msg.contains('\r'), "{msg}");
    assert!(msg.contains(r"\r\n"), "{msg}");
}

#[test]
fn start_key_parses_the_token() {
    let r = req(3, Some("12.abc"), false);
    assert_eq!(
        r.start_key(TokenKind::CreateIndexId),
        Ok(Some(ci_id(12, "abc")))
    );
    assert!(r.start_key(TokenKind::NamespaceId).is_ok());
    assert!(req(3, Some("abc"), false)
        .start_key(TokenKind::CreateIndexId)
        .is_err());
}

#[test]
fn malformed_token_fails_the_page_as_a_token_error() {
    let r = req(3, Some("abc"), false);
    let res = paginate(
        allocs(),
        TokenKind::CreateIndexId,
        &r,
        |i| i.key.clone(),
        |_| Ok::<_, Infallible>(true),
    );
    match res {
        Err(PageError::Token(TokenError::MissingSeparator { token, .. })) => {
            assert_eq!(token, "abc")
        }
        other => panic!("unexpected {other:?}"),
    }
}
