//! Nomad-style list pagination (`per_page`, `next_token`, `reverse`); Architecture Invariant: pure, no I/O.
//!
//! No clock, no randomness, and no panics on user input: a malformed token is
//! a [`TokenError`], which the HTTP layer answers with a 400. The result's
//! [`Page::next_token`] becomes the `X-Nomad-NextToken` header. The caller
//! supplies an already-ordered table iterator; this module only decides where
//! the page starts and ends.
//!
//! # Model
//!
//! Every list endpoint walks one table index in that index's order: jobs by
//! `(Namespace, ID)`; allocations, evaluations and deployments by
//! `(CreateIndex, ID)`; nodes and any list queried with `prefix` by `ID`.
//! A page is cut from that walk, and the *next token* is the sort key of the
//! first item that did not fit, i.e. the first item of the next page. Because
//! the token names a position in the index rather than an offset, items
//! inserted or deleted between requests do not shift later pages.
//!
//! # Why tokens are parsed
//!
//! Nomad compares the token with each item's token as plain strings. That is
//! only correct when string order equals index order, and it doesn't:
//! `"12.x"` sorts after `"102.x"` (hashicorp/nomad#25435, #25792), and
//! `"team-a.job"` sorts before `"team.job"` even though namespace `team`
//! comes before `team-a` (#28211). Such a walk skips or repeats items.
//! Here the token is parsed into a [`SortKey`] whose derived `Ord` is the
//! tuple order the tables use, so skipping compares like with like.
//!
//! # Filter and page size
//!
//! The filter runs before the page is cut: `per_page` counts *matching* items.
//! Every page except the last therefore holds exactly `per_page` items, and
//! the next token is the key of the `(per_page + 1)`-th match. Non-matching
//! items are never tokens. Any that lie between a page's last item and the
//! token were already rejected, and the next walk starts after them.

use std::fmt;

/// Which key a list is ordered by. This decides the token format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// `(Namespace, ID)`: jobs. Token `"<Namespace>.<ID>"`.
    NamespaceId,
    /// `(CreateIndex, ID)`: allocations, evaluations, deployments.
    /// Token `"<CreateIndex>.<ID>"`.
    CreateIndexId,
    /// `ID`: nodes, and any list queried with `prefix`. Token `"<ID>"`.
    Id,
}

impl TokenKind {
    /// The token shape for this kind, as shown in error messages.
    pub fn expected(self) -> &'static str {
        match self {
            TokenKind::NamespaceId => "<Namespace>.<ID>",
            TokenKind::CreateIndexId => "<CreateIndex>.<ID>",
            TokenKind::Id => "<ID>",
        }
    }
}

impl fmt::Display for TokenKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.expected())
    }
}

/// A parsed `next_token`, or the sort key of one item.
///
/// The derived `Ord` compares field by field (numbers as numbers, then the
/// namespace, then the id), which is the order of the table index. Keys of
/// different kinds compare by variant. That case never matters, because one
/// walk only ever uses one kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SortKey {
    /// `(namespace, id)`.
    NamespaceId(String, String),
    /// `(create_index, id)`.
    CreateIndexId(u64, String),
    /// `id`.
    Id(String),
}

impl SortKey {
    /// The kind of list this key orders.
    pub fn kind(&self) -> TokenKind {
        match self {
            SortKey::NamespaceId(..) => TokenKind::NamespaceId,
            SortKey::CreateIndexId(..) => TokenKind::CreateIndexId,
            SortKey::Id(..) => TokenKind::Id,
        }
    }

    /// The token text in Nomad's format (`"ns.id"`, `"12.abcd"`, `"id"`), so
    /// clients that store or build tokens keep working.
    pub fn to_token(&self) -> String {
        self.to_string()
    }

    /// Parse a token of the given kind.
    ///
    /// Compound tokens are split on the first dot. A namespace cannot contain
    /// a dot and a decimal index has none, but an id may, so everything after
    /// the first dot is the id. Empty parts are rejected, since no stored
    /// object has an empty namespace or id. An empty token is
    /// [`TokenError::Empty`]. Callers that follow Nomad and treat
    /// `next_token=` as absent should go through [`PageRequest::start_key`].
    pub fn parse(kind: TokenKind, token: &str) -> Result<SortKey, TokenError> {
        let expected = kind.expected();
        if token.is_empty() {
            return Err(TokenError::Empty { expected });
        }
        let split = |first: &'static str| -> Result<(&str, &str), TokenError> {
            let (head, id) = token
                .split_once('.')
                .ok_or_else(|| TokenError::MissingSeparator {
                    token: token.to_owned(),
                    expected,
                })?;
            let empty = |part| TokenError::EmptyPart {
                token: token.to_owned(),
                part,
                expected,
            };
            if head.is_empty() {
                return Err(empty(first));
            }
            if id.is_empty() {
                return Err(empty("ID"));
            }
            Ok((head, id))
        };
        match kind {
            TokenKind::Id => Ok(SortKey::Id(token.to_owned())),
            TokenKind::NamespaceId => {
                let (ns, id) = split("Namespace")?;
                Ok(SortKey::NamespaceId(ns.to_owned(), id.to_owned()))
            }
            TokenKind::CreateIndexId => {
                let (index, id) = split("CreateIndex")?;
                // `u64::from_str` also accepts a leading '+'. That is not a
                // token we ever emit, so only plain digits are allowed.
                let bad = || TokenError::BadCreateIndex {
                    token: token.to_owned(),
                    index: index.to_owned(),
                };
                if !index.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad());
                }
                let index = index.parse::<u64>().map_err(|_| bad())?;
                Ok(SortKey::CreateIndexId(index, id.to_owned()))
            }
        }
    }
}

impl fmt::Display for SortKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SortKey::NamespaceId(ns, id) => write!(f, "{ns}.{id}"),
            SortKey::CreateIndexId(index, id) => write!(f, "{index}.{id}"),
            SortKey::Id(id) => f.write_str(id),
        }
    }
}

/// A `next_token` that does not fit the list's token format.
///
/// The HTTP layer turns this into a 400 naming `next_token`. Messages quote
/// the token with Rust's debug escaping, so control characters from the
/// query string cannot reach a log line or header unescaped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The token was empty where a key was required.
    #[error("invalid next_token \"\": expected \"{expected}\"")]
    Empty {
        /// The expected format, e.g. `<CreateIndex>.<ID>`.
        expected: &'static str,
    },
    /// A compound token without the `.` between its two parts.
    #[error("invalid next_token {token:?}: expected \"{expected}\"")]
    MissingSeparator {
        /// The token as received.
        token: String,
        /// The expected format.
        expected: &'static str,
    },
    /// One side of the `.` was empty.
    #[error("invalid next_token {token:?}: empty {part}, expected \"{expected}\"")]
    EmptyPart {
        /// The token as received.
        token: String,
        /// Which part was empty: `Namespace`, `CreateIndex` or `ID`.
        part: &'static str,
        /// The expected format.
        expected: &'static str,
    },
    /// The part before the first `.` is not a decimal `u64`.
    #[error(
        "invalid next_token {token:?}: CreateIndex {index:?} is not an unsigned \
         64-bit integer, expected \"<CreateIndex>.<ID>\""
    )]
    BadCreateIndex {
        /// The token as received.
        token: String,
        /// The offending index text.
        index: String,
    },
}

/// The pagination part of a list request, after query parsing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageRequest {
    /// Maximum matching items per page. `0` means all of them.
    pub per_page: u32,
    /// Sort key of the first item to return. `None` and `Some("")` both mean
    /// "from the start", because Nomad treats an empty token as absent.
    pub next_token: Option<String>,
    /// Walk the index backwards.
    pub reverse: bool,
}

impl PageRequest {
    /// The parsed token, or `None` when the walk starts at the beginning.
    ///
    /// A table can use this to seek: `range(key..)` forwards, or
    /// `range(..=key).rev()` in reverse. [`paginate`] still skips anything
    /// before the token, so seeking is only an optimisation and cannot change
    /// the result.
    pub fn start_key(&self, kind: TokenKind) -> Result<Option<SortKey>, TokenError> {
        match self.next_token.as_deref() {
            None | Some("") => Ok(None),
            Some(token) => SortKey::parse(kind, token).map(Some),
        }
    }

    /// `per_page` as a limit, `None` meaning unlimited.
    fn limit(&self) -> Option<usize> {
        match self.per_page {
            0 => None,
            // u32 fits in usize on every supported target. If it ever did not,
            // saturating only means "more than memory can hold".
            n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// The matching items of this page, in walk order.
    pub items: Vec<T>,
    /// Token of the first item of the next page, or `None` on the last page.
    /// It goes into the `X-Nomad-NextToken` header.
    pub next_token: Option<String>,
}

/// Why a page could not be produced.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum PageError<E> {
    /// The request's `next_token` is malformed (a client error).
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The filter failed on an item (e.g. a type error in a filter expression).
    #[error("failed to read result page: {0}")]
    Filter(E),
}

/// Cut one page out of `items`.
///
/// `items` must already come in the list's order, reversed when
/// `req.reverse` is set. The caller owns the table, so it can seek with
/// [`PageRequest::start_key`] or just iterate from the start. `key` gives each
/// item's [`SortKey`], which must be of kind `kind`. `keep` is the filter. It
/// is only asked about items at or after the token, and its first `Err`
/// aborts the page with [`PageError::Filter`].
///
/// The walk skips items that sort strictly before the token (strictly after
/// it when reversed). It then collects matching items until it meets the
/// `(per_page + 1)`-th match, whose key becomes the next token. The walk stops
/// there, so a page costs O(skipped + per_page + rejected) and no more of the
/// iterator is consumed.
pub fn paginate<T, E>(
    items: impl IntoIterator<Item = T>,
    kind: TokenKind,
    req: &PageRequest,
    key: impl Fn(&T) -> SortKey,
    mut keep: impl FnMut(&T) -> Result<bool, E>,
) -> Result<Page<T>, PageError<E>> {
    // Cleared once the walk reaches the token. Items arrive in order, so
    // nothing after that point can sort before it, and later items need no
    // key (building one allocates).
    let mut seeking = req.start_key(kind)?;
    let limit = req.limit();
    let mut page = Vec::new();
    for item in items {
        if let Some(start) = &seeking {
            let k = key(&item);
            debug_assert_eq!(k.kind(), kind, "key() must return keys of `kind`");
            let before_start = if req.reverse { &k > start } else { &k < start };
            if before_start {
                continue;
            }
            seeking = None;
        }
        if !keep(&item).map_err(PageError::Filter)? {
            continue;
        }
        if limit.is_some_and(|n| page.len() >= n) {
            return Ok(Page {
                items: page,
                next_token: Some(key(&item).to_token()),
            });
        }
        page.push(item);
    }
    Ok(Page {
        items: page,
        next_token: None,
    })
}

#[cfg(test)]
mod tests;
