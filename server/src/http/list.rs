//! Cutting list pages: the filter runs on the full object before the page is
//! cut, and the next token is the sort key of the first item left out.

use drover_state::filter::FilterError;
use drover_state::pagination::{paginate, PageError, SortKey, TokenKind};

use super::error::{HttpError, HttpResult};
use super::query::QueryOptions;

pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

/// Filter and page `items` (already in the list's order, starting at the
/// token). `full` gives the object the filter sees.
pub fn page<'a, T: 'a, F: serde::Serialize + ?Sized>(
    items: impl Iterator<Item = &'a T>,
    kind: TokenKind,
    opts: &QueryOptions,
    key: impl Fn(&T) -> SortKey,
    full: impl Fn(&T) -> &F,
) -> HttpResult<Listed<&'a T>> {
    // With ACLs on, objects in namespaces the token may not list are left
    // out, before the page is cut (as Nomad's paginator does).
    let acl_filtering = crate::acl::enforce::filtering();
    let keep = |item: &&T| -> Result<bool, FilterError> {
        if acl_filtering && !crate::acl::enforce::visible(&namespace_of(full(item))) {
            return Ok(false);
        }
        opts.filter
            .as_ref()
            .map_or(Ok(true), |f| f.matches(full(item)))
    };
    match paginate(items, kind, &opts.page, |t: &&T| key(t), keep) {
        Ok(p) => Ok(Listed {
            items: p.items,
            next_token: p.next_token,
        }),
        Err(PageError::Token(e)) => Err(HttpError::bad_request(e.to_string())),
        Err(PageError::Filter(e)) => Err(HttpError::bad_request(format!(
            "failed to read result page: {e}"
        ))),
    }
}

/// The `Namespace` field of a listed object; an object without one
/// (a node) belongs to no namespace and is shown as `default`'s.
fn namespace_of<F: serde::Serialize + ?Sized>(v: &F) -> String {
    serde_json::to_value(v)
        .ok()
        .and_then(|v| {
            v.get("Namespace")
                .and_then(|n| n.as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| drover_api::DEFAULT_NAMESPACE_NAME.to_string())
}

/// The token the state should start reading at, parsed from `next_token`.
pub fn start_key(opts: &QueryOptions, kind: TokenKind) -> HttpResult<Option<SortKey>> {
    opts.page
        .start_key(kind)
        .map_err(|e| HttpError::bad_request(e.to_string()))
}
