//! Property tests: random key sets, page sizes, directions and filters, and
//! arbitrary token text.

use super::*;
use proptest::prelude::*;

/// Random key sets of one kind, including dotted ids, namespace prefixes and
/// extreme indexes.
fn arb_table() -> impl Strategy<Value = (TokenKind, Vec<Item>)> {
    let ns = prop_oneof![Just("default"), Just("team"), Just("team-a"), Just("t")];
    let index = prop_oneof![0u64..150, Just(u64::MAX), any::<u64>()];
    let keys = prop_oneof![
        prop::collection::btree_set((ns, "[a-c0-9.]{1,4}"), 0..60).prop_map(|s| {
            let keys = s.into_iter().map(|(n, i)| ns_id(n, &i)).collect::<Vec<_>>();
            (TokenKind::NamespaceId, keys)
        }),
        prop::collection::btree_set((index, "[a-c0-9.]{1,3}"), 0..60).prop_map(|s| {
            let keys = s.into_iter().map(|(n, i)| ci_id(n, &i)).collect::<Vec<_>>();
            (TokenKind::CreateIndexId, keys)
        }),
        prop::collection::btree_set("[a-c0-9.-]{1,5}", 0..60).prop_map(|s| {
            let keys = s.into_iter().map(SortKey::Id).collect::<Vec<_>>();
            (TokenKind::Id, keys)
        }),
    ];
    keys.prop_map(|(kind, keys)| {
        let rows = keys
            .into_iter()
            .enumerate()
            .map(|(n, key)| Item {
                key,
                n: u32::try_from(n).unwrap_or(u32::MAX),
            })
            .collect();
        (kind, table(rows))
    })
}

fn no_persistence() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(no_persistence())]

    /// Concatenating all pages equals the filtered, ordered table, whatever
    /// the keys, page size, direction, filter and seeking strategy.
    #[test]
    fn prop_pages_concatenate_to_filtered_list(
        (kind, rows) in arb_table(),
        per_page in 1u32..20,
        reverse in any::<bool>(),
        seek in any::<bool>(),
        mask in prop::collection::vec(any::<bool>(), 1..8),
    ) {
        let keep = |i: &Item| mask[i.n as usize % mask.len()];
        let served = walk_all(&rows, kind, per_page, reverse, seek, keep);
        let mut expected: Vec<Item> = rows.iter().filter(|i| keep(i)).cloned().collect();
        if reverse {
            expected.reverse();
        }
        prop_assert_eq!(served, expected);
    }

    /// Every well-formed key survives a trip through its token.
    #[test]
    fn prop_token_round_trip(
        ns in "[^.]{1,8}",
        ident in ".{1,8}",
        index in any::<u64>(),
    ) {
        for key in [ns_id(&ns, &ident), ci_id(index, &ident), id(&ident)] {
            prop_assert_eq!(SortKey::parse(key.kind(), &key.to_token()), Ok(key));
        }
    }

    /// Arbitrary user input never panics, and whatever parses re-parses to
    /// the same key from its canonical token.
    #[test]
    fn prop_parse_never_panics(token in ".{0,24}|[0-9]{0,25}\\.[a-z.]{0,3}") {
        for kind in [TokenKind::NamespaceId, TokenKind::CreateIndexId, TokenKind::Id] {
            if let Ok(key) = SortKey::parse(kind, &token) {
                prop_assert_eq!(key.kind(), kind);
                prop_assert_eq!(SortKey::parse(kind, &key.to_token()), Ok(key));
            }
        }
    }
}
