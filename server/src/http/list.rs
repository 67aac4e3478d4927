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
pub fn page<'a, T: 'a, F: serde::Serialize + Namespaced + ?Sized>(
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
        if acl_filtering && !crate::acl::enforce::visible(full(item).namespace()) {
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

/// What the ACL check of a list reads of each object: its namespace, as a
/// field, where serializing the whole object to find it would cost a
/// token that is not a management token several times the list itself.
pub trait Namespaced {
    fn namespace(&self) -> &str;
}

macro_rules! namespaced_by_field {
    ($($t:ty),*) => {$(
        impl Namespaced for $t {
            fn namespace(&self) -> &str {
                &self.namespace
            }
        }
    )*};
}

namespaced_by_field!(
    drover_api::Job,
    drover_api::Allocation,
    drover_api::Evaluation,
    drover_api::Deployment
);

/// Objects of no namespace are shown as `default`'s.
macro_rules! namespaced_as_default {
    ($($t:ty),*) => {$(
        impl Namespaced for $t {
            fn namespace(&self) -> &str {
                drover_api::DEFAULT_NAMESPACE_NAME
            }
        }
    )*};
}

namespaced_as_default!(drover_api::Node, drover_api::NodePool, drover_api::AclToken);

/// The token the state should start reading at, parsed from `next_token`.
pub fn start_key(opts: &QueryOptions, kind: TokenKind) -> HttpResult<Option<SortKey>> {
    opts.page
        .start_key(kind)
        .map_err(|e| HttpError::bad_request(e.to_string()))
}
