//! Tests for Nomad-style pagination: token syntax, typed ordering, the
//! multi-page walk (the acceptance test), and a property test over random
//! key sets.

use super::*;
use std::collections::BTreeMap;
use std::convert::Infallible;

// ---------------------------------------------------------------- helpers --

/// A table row: its sort key plus a number the filters look at.
#[derive(Debug, Clone, PartialEq)]
struct Item {
    key: SortKey,
    n: u32,
}

fn ns_id(ns: &str, id: &str) -> SortKey {
    SortKey::NamespaceId(ns.to_owned(), id.to_owned())
}

fn ci_id(index: u64, id: &str) -> SortKey {
    SortKey::CreateIndexId(index, id.to_owned())
}

fn id(id: &str) -> SortKey {
    SortKey::Id(id.to_owned())
}

fn req(per_page: u32, next_token: Option<&str>, reverse: bool) -> PageRequest {
    PageRequest {
        per_page,
        next_token: next_token.map(str::to_owned),
        reverse,
    }
}

/// A cheap deterministic scramble, so string order differs from `n` order.
fn scramble(n: u32) -> u32 {
    n.wrapping_mul(2_654_435_761).rotate_left(13)
}

/// Sort rows by key, as a table index would hold them.
fn table(mut items: Vec<Item>) -> Vec<Item> {
    items.sort_by(|a, b| a.key.cmp(&b.key));
    items
}

/// 250 jobs in "default", "team" and "team-a" (the #28211 prefix case), some
/// with dotted ids.
fn jobs() -> Vec<Item> {
    const NS: [&str; 3] = ["default", "team", "team-a"];
    table(
        (1..=250)
            .map(|n| {
                let job = if n % 5 == 0 {
                    format!("my.job.{n}")
                } else {
                    format!("job-{n}")
                };
                let ns = NS[(n % 7 % 3) as usize];
                Item {
                    key: ns_id(ns, &job),
                    n,
                }
            })
            .collect(),
    )
}

/// 250 allocations with CreateIndex 1..=250 and scrambled hex ids.
fn allocs() -> Vec<Item> {
    table(
        (1..=250)
            .map(|n| Item {
                key: ci_id(u64::from(n), &format!("{:08x}", scramble(n))),
                n,
            })
            .collect(),
    )
}

/// 250 nodes with uuid-like ids.
fn nodes() -> Vec<Item> {
    table(
        (1..=250)
            .map(|n| Item {
                key: id(&format!("{:08x}-{n:04}", scramble(n))),
                n,
            })
            .collect(),
    )
}

/// Fetch one page the way a table would: forward or reversed, and either
/// iterating from the start or seeking to the token with a BTreeMap range.
fn fetch(
    rows: &[Item],
    kind: TokenKind,
    r: &PageRequest,
    seek: bool,
    mut keep: impl FnMut(&Item) -> bool,
) -> Page<Item> {
    let map: BTreeMap<SortKey, Item> = rows.iter().map(|i| (i.key.clone(), i.clone())).collect();
    let start = if seek {
        r.start_key(kind).expect("test tokens are valid")
    } else {
        None
    };
    let iter: Box<dyn Iterator<Item = (&SortKey, &Item)>> = match (start, r.reverse) {
        (None, false) => Box::new(map.iter()),
        (None, true) => Box::new(map.iter().rev()),
        (Some(k), false) => Box::new(map.range(k..)),
        (Some(k), true) => Box::new(map.range(..=k).rev()),
    };
    paginate(
        iter.map(|(_, i)| i.clone()),
        kind,
        r,
        |i| i.key.clone(),
        |i| Ok::<_, Infallible>(keep(i)),
    )
    .expect("infallible filter and valid token")
}

/// Walk every page by feeding `next_token` back until it is `None`. Check the
/// page shapes and return all items in the order they were served.
fn walk_all(
    rows: &[Item],
    kind: TokenKind,
    per_page: u32,
    reverse: bool,
    seek: bool,
    keep: impl Fn(&Item) -> bool,
) -> Vec<Item> {
    let mut expected: Vec<Item> = rows.iter().filter(|i| keep(i)).cloned().collect();
    if reverse {
        expected.reverse();
    }
    let ctx = format!("kind={kind:?} per_page={per_page} reverse={reverse} seek={seek}");

    let mut served: Vec<Item> = Vec::new();
    let mut pages = 0usize;
    let mut token: Option<String> = None;
    loop {
        pages += 1;
        assert!(
            pages <= rows.len() + 1,
            "{ctx}: pagination does not terminate"
        );
        let page = fetch(
            rows,
            kind,
            &req(per_page, token.as_deref(), reverse),
            seek,
            &keep,
        );
        if per_page > 0 {
            assert!(page.items.len() <= per_page as usize, "{ctx}: page too big");
        }
        served.extend(page.items.iter().cloned());
        match page.next_token {
            Some(next) => {
                // Every page but the last is full...
                if per_page > 0 {
                    assert_eq!(page.items.len(), per_page as usize, "{ctx}: short page");
                }
                // ...and the token names the first item of the next page.
                let upcoming = expected.get(served.len()).expect("token past the end");
                assert_eq!(next, upcoming.key.to_token(), "{ctx}: wrong token");
                token = Some(next);
            }
            None => break,
        }
    }
    assert_eq!(
        served, expected,
        "{ctx}: items missing, repeated or out of order"
    );
    let want_pages = match per_page {
        0 => 1,
        n => expected.len().div_ceil(n as usize).max(1),
    };
    assert_eq!(pages, want_pages, "{ctx}: page count");
    served
}

fn keep_all(_: &Item) -> bool {
    true
}

fn divisible_by_3(i: &Item) -> bool {
    matches!(i.n % 3, 0)
}

// -------------------------------------------------------- typed ordering --

#[test]
fn create_index_compares_numerically_not_as_text() {
    assert!(ci_id(12, "x") < ci_id(102, "a"));
    // This is exactly the case whole-string comparison gets wrong.
    assert!("12.x" > "102.a");
    assert!(ci_id(5, "b") < ci_id(5, "c"), "ties broken by ID");
    assert!(ci_id(9, "zzz") < ci_id(10, "aaa"));
}

#[test]
fn namespace_compares_before_id_not_as_text() {
    // #28211: "team" < "team-a" as namespaces, but "team.z" > "team-a.a" as text.
    assert!(ns_id("team", "z") < ns_id("team-a", "a"));
    assert!("team.z" > "team-a.a");
    assert!(ns_id("default", "z") < ns_id("team", "a"));
}

/// Regression test for hashicorp/nomad#25435 (and #25792): with string tokens
/// a walk over CreateIndex 1..=250 skips or repeats items at 12 vs 102.
#[test]
fn nomad_25435_create_index_12_vs_102_regression() {
    let rows = allocs();
    for per_page in 1..=15 {
        for reverse in [false, true] {
            for seek in [false, true] {
                walk_all(
                    &rows,
                    TokenKind::CreateIndexId,
                    per_page,
                    reverse,
                    seek,
                    keep_all,
                );
            }
        }
    }
    // A token at index 12 starts at index 12, not at 102 or 2.
    let at_12 = rows[11].key.to_token();
    assert!(at_12.starts_with("12."));
    let page = fetch(
        &rows,
        TokenKind::CreateIndexId,
        &req(3, Some(&at_12), false),
        false,
        keep_all,
    );
    let got: Vec<u32> = page.items.iter().map(|i| i.n).collect();
    assert_eq!(got, [12, 13, 14]);
    assert_eq!(page.next_token, Some(rows[14].key.to_token()));
    let page = fetch(
        &rows,
        TokenKind::CreateIndexId,
        &req(3, Some(&at_12), true),
        false,
        keep_all,
    );
    let got: Vec<u32> = page.items.iter().map(|i| i.n).collect();
    assert_eq!(got, [12, 11, 10]);
}

/// hashicorp/nomad#28211: with namespaces "team" and "team-a", paging by
/// text drops jobs. Walk one item per page across the boundary.
#[test]
fn nomad_28211_namespace_prefix_regression() {
    let rows = table(vec![
        Item {
            key: ns_id("team-a", "a"),
            n: 1,
        },
        Item {
            key: ns_id("team", "z"),
            n: 2,
        },
        Item {
            key: ns_id("team", "b"),
            n: 3,
        },
        Item {
            key: ns_id("team-a", "0"),
            n: 4,
        },
        Item {
            key: ns_id("default", "q"),
            n: 5,
        },
    ]);
    let order: Vec<u32> = rows.iter().map(|i| i.n).collect();
    assert_eq!(order, [5, 3, 2, 4, 1]);
    for reverse in [false, true] {
        for seek in [false, true] {
            walk_all(&rows, TokenKind::NamespaceId, 1, reverse, seek, keep_all);
        }
    }
}

// ---------------------------------------------------- acceptance (walks) --

/// THE ACCEPTANCE TEST. For each token kind, with 250 rows, per_page 1, 7 and
/// 1000, forward and reverse, with and without a filter, and with the caller
/// scanning or seeking: following next_token until it is None serves every
/// matching item exactly once and in order. Every page but the last is full,
/// and there are ceil(matches / per_page) pages.
#[test]
fn acceptance_walk_all_pages_every_kind_size_direction_filter() {
    let tables = [
        (TokenKind::NamespaceId, jobs()),
        (TokenKind::CreateIndexId, allocs()),
        (TokenKind::Id, nodes()),
    ];
    for (kind, rows) in &tables {
        assert_eq!(rows.len(), 250);
        for per_page in [1, 7, 1000] {
            for reverse in [false, true] {
                for seek in [false, true] {
                    let all = walk_all(rows, *kind, per_page, reverse, seek, keep_all);
                    assert_eq!(all.len(), 250);
                    let some = walk_all(rows, *kind, per_page, reverse, seek, divisible_by_3);
                    assert_eq!(some.len(), 83);
                }
            }
        }
        // per_page larger than the table: one page, no token.
        let page = fetch(rows, *kind, &req(1000, None, false), false, keep_all);
        assert_eq!((page.items.len(), page.next_token), (250, None));
    }
    // The jobs filter really spans all three namespaces, including both
    // sides of the "team" / "team-a" prefix.
    let filtered_ns: std::collections::BTreeSet<String> = jobs()
        .into_iter()
        .filter(divisible_by_3)
        .filter_map(|i| match i.key {
            SortKey::NamespaceId(ns, _) => Some(ns),
            _ => None,
        })
        .collect();
    assert_eq!(filtered_ns.len(), 3);
}

#[test]
fn acceptance_walk_with_shared_create_indexes() {
    // Several allocations per CreateIndex (same raft apply): ties by ID.
    let rows = table(
        (1..=250)
            .map(|n| Item {
                key: ci_id(u64::from(n / 4 + 1), &format!("{:08x}", scramble(n))),
                n,
            })
            .collect(),
    );
    for per_page in [1, 3, 4, 7] {
        for reverse in [false, true] {
            walk_all(
                &rows,
                TokenKind::CreateIndexId,
                per_page,
                reverse,
                false,
                divisible_by_3,
            );
            walk_all(
                &rows,
                TokenKind::CreateIndexId,
                per_page,
                reverse,
                true,
                keep_all,
            );
        }
    }
}

// ------------------------------------------------------------ edge cases --

#[test]
fn per_page_zero_returns_everything_in_one_page() {
    for reverse in [false, true] {
        let page = fetch(
            &allocs(),
            TokenKind::CreateIndexId,
            &req(0, None, reverse),
            false,
            keep_all,
        );
        assert_eq!(page.items.len(), 250);
        assert_eq!(page.next_token, None);
    }
    // Still honours a token ("200.0" sorts just before alloc 200's hex id).
    let page = fetch(
        &allocs(),
        TokenKind::CreateIndexId,
        &req(0, Some("200.0"), false),
        false,
        keep_all,
    );
    assert_eq!(page.items.first().map(|i| i.n), Some(200));
    assert_eq!(page.items.len(), 51);
    assert_eq!(page.next_token, None);
}

#[test]
fn token_past_the_end_gives_an_empty_last_page() {
    let rows = allocs();
    let page = fetch(
        &rows,
        TokenKind::CreateIndexId,
        &req(5, Some("999.zzz"), false),
        false,
        keep_all,
    );
    assert_eq!(
        page,
        Page {
            items: vec![],
            next_token: None
        }
    );
    let page = fetch(
        &rows,
        TokenKind::CreateIndexId,
        &req(5, Some("0.a"), true),
        true,
        keep_all,
    );
    assert_eq!(
        page,
        Page {
            items: vec![],
            next_token: None
        }
    );
    let page = fetch(
        &nodes(),
        TokenKind::Id,
        &req(5, Some("zzzz"), false),
        true,
        keep_all,
    );
    assert_eq!(
        page,
        Page {
            items: vec![],
            next_token: None
        }
    );
}

#[test]
fn token_between_keys_starts_at_the_next_key() {
    // The token's item may have been deleted since the previous page.
    let rows = table(
        [10u32, 20, 30, 40]
            .into_iter()
            .map(|n| Item {
                key: ci_id(u64::from(n), "m"),
                n,
            })
            .collect(),
    );
    for seek in [false, true] {
        let fwd = fetch(
            &rows,
            TokenKind::CreateIndexId,
            &req(2, Some("25.a"), false),
            seek,
            keep_all,
        );
        let got: Vec<u32> = fwd.items.iter().map(|i| i.n).collect();
        assert_eq!((got, fwd.next_token), (vec![30, 40], None));
        // Same index, id sorting after "m": the next key is index 30.
        let fwd = fetch(
            &rows,
            TokenKind::CreateIndexId,
            &req(1, Some("20.n"), false),
            seek,
            keep_all,
        );
        let got: Vec<u32> = fwd.items.iter().map(|i| i.n).collect();
        assert_eq!((got, fwd.next_token.as_deref()), (vec![30], Some("40.m")));
        let rev = fetch(
            &rows,
            TokenKind::CreateIndexId,
            &req(2, Some("25.a"), true),
            seek,
            keep_all,
        );
        let got: Vec<u32> = rev.items.iter().map(|i| i.n).collect();
        assert_eq!((got, rev.next_token), (vec![20, 10], None));
    }
}

#[test]
fn next_token_is_the_next_matching_item_not_the_next_item() {
    let rows = table(
        (1..=10)
            .map(|n| Item {
                key: ci_id(u64::from(n), "a"),
                n,
            })
            .collect(),
    );
    let even = |i: &Item| matches!(i.n % 2, 0);
    let page = fetch(
        &rows,
        TokenKind::CreateIndexId,
        &req(2, None, false),
        false,
        even,
    );
    let got: Vec<u32> = page.items.iter().map(|i| i.n).collect();
    assert_eq!(got, [2, 4]);
    assert_eq!(page.next_token.as_deref(), Some("6.a"), "not 5.a");
    // The last page is full but nothing matches after it: no token.
    let page = fetch(
        &rows,
        TokenKind::CreateIndexId,
        &req(2, Some("8.a"), false),
        false,
        even,
    );
    let got: Vec<u32> = page.items.iter().map(|i| i.n).collect();
    assert_eq!((got, page.next_token), (vec![8, 10], None));
}

#[test]
fn filter_matching_nothing_gives_one_empty_page() {
    let page = fetch(
        &jobs(),
        TokenKind::NamespaceId,
        &req(7, None, false),
        false,
        |_| false,
    );
    assert_eq!(
        page,
        Page {
            items: vec![],
            next_token: None
        }
    );
}

#[test]
fn filter_error_propagates() {
    let rows = allocs();
    let res = paginate(
        rows,
        TokenKind::CreateIndexId,
        &req(10, None, false),
        |i| i.key.clone(),
        |i| {
            if i.n == 4 {
                Err("boom")
            } else {
                Ok(true)
            }
        },
    );
    let e = res.expect_err("filter failed");
    assert_eq!(e, PageError::Filter("boom"));
    assert_eq!(e.to_string(), "failed to read result page: boom");
    // The token error converts via From, for `?` in callers.
    let t: PageError<&str> = TokenError::Empty { expected: "<ID>" }.into();
    assert_eq!(t.to_string(), r#"invalid next_token "": expected "<ID>""#);
}

#[test]
fn filter_runs_only_on_items_from_the_token_on() {
    let rows = allocs();
    let mut seen = Vec::new();
    let page = paginate(
        rows.iter().cloned(),
        TokenKind::CreateIndexId,
        &req(3, Some(&rows[99].key.to_token()), false),
        |i| i.key.clone(),
        |i| {
            seen.push(i.n);
            Ok::<_, Infallible>(true)
        },
    )
    .expect("valid");
    assert_eq!(page.items.len(), 3);
    // Items 1..=99 are skipped unfiltered; 100..=103 are filtered (the 4th
    // becomes the token), and the walk stops there.
    assert_eq!(seen, [100, 101, 102, 103]);
}

#[test]
fn walk_stops_consuming_after_the_next_token() {
    let rows = allocs();
    let mut pulled = 0;
    let page = paginate(
        rows.iter().inspect(|_| pulled += 1),
        TokenKind::CreateIndexId,
        &req(5, None, false),
        |i| i.key.clone(),
        |_| Ok::<_, Infallible>(true),
    )
    .expect("valid");
    assert_eq!(page.items.len(), 5);
    assert_eq!(pulled, 6);
}

#[test]
fn huge_per_page_is_fine() {
    let page = fetch(
        &nodes(),
        TokenKind::Id,
        &req(u32::MAX, None, true),
        false,
        keep_all,
    );
    assert_eq!((page.items.len(), page.next_token), (250, None));
}

mod properties;
mod tokens;
