//! `PUT`/`POST /v1/search` and `/v1/search/fuzzy` (Nomad
//! command/agent/search_endpoint.go, nomad/search_endpoint.go and
//! nomad/search_endpoint_ce.go), in Nomad's community edition's contexts.
//!
//! Both are reads sent with a body: they go to the leader unless `stale`,
//! and neither blocks (Nomad runs them with empty query options). The
//! namespace is the `namespace` parameter, else the body's `Namespace`,
//! else `default`; `*` searches every namespace.
//!
//! Contexts Drover has no objects for (`plugins`, `volumes`,
//! `scaling_policy`, `vars`, `host_volumes`) are searched like the rest and
//! match nothing. The search settings are Nomad's defaults and not
//! configurable: [`FUZZY_LIMIT_QUERY`], [`FUZZY_LIMIT_RESULTS`],
//! [`FUZZY_MIN_TERM_LENGTH`].

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{RawQuery as AxumQuery, State};
use axum::response::Response;
use drover_api::{
    FuzzyMatch, FuzzySearchRequest, FuzzySearchResponse, Job, SearchRequest, SearchResponse,
};
use drover_state::{NamespaceSel, State as St, Table, WatchSet};

use super::blocking::{blocking, json};
use super::error::{HttpError, HttpResult};
use super::query::{QueryOptions, RawQuery};
use super::{namespaces, node_pools, App};
use crate::acl::enforce::{caller_allows, visible};
use crate::acl::Acl;

/// The most IDs a prefix search lists per context (Nomad's `truncateLimit`).
const TRUNCATE_LIMIT: usize = 20;
/// How many objects of each context a fuzzy search reads (Nomad's
/// `search.limit_query` default).
pub const FUZZY_LIMIT_QUERY: usize = 20;
/// The most fuzzy matches listed per context (`search.limit_results`).
pub const FUZZY_LIMIT_RESULTS: usize = 100;
/// The shortest text a fuzzy search takes (`search.min_term_length`).
pub const FUZZY_MIN_TERM_LENGTH: usize = 2;

/// Nomad's community-edition contexts, in its order (`ossContexts`);
/// `all` is every one of them.
const CONTEXTS: [&str; 12] = [
    "allocs",
    "jobs",
    "nodes",
    "node_pools",
    "evals",
    "deployment",
    "plugins",
    "volumes",
    "scaling_policy",
    "vars",
    "namespaces",
    "host_volumes",
];

/// Contexts whose IDs are UUIDs, indexed as bytes by Nomad's state store:
/// a prefix that is not a partial UUID finds nothing there, and the
/// context is left out of the answer (Nomad's `silenceError`).
const UUID_CONTEXTS: [&str; 4] = ["allocs", "evals", "nodes", "deployment"];

/// Contexts a fuzzy search still searches by ID prefix (its
/// `FuzzySearch` skips them for fuzzy matching).
const PREFIX_ONLY: [&str; 5] = [
    "evals",
    "deployment",
    "scaling_policy",
    "volumes",
    "host_volumes",
];

/// The contexts `context` stands for, or a 400 naming it.
fn expand(context: &str) -> HttpResult<Vec<&'static str>> {
    if context == "all" {
        return Ok(CONTEXTS.to_vec());
    }
    match CONTEXTS.iter().find(|c| **c == context) {
        Some(c) => Ok(vec![*c]),
        None => Err(HttpError::bad_request(format!(
            "context must be one of [{}] or 'all' for all contexts; got {context:?}",
            CONTEXTS.join(" ")
        ))),
    }
}

/// Nomad's `roundUUIDDownIfOdd`: unless the request searches only jobs, a
/// prefix whose length without hyphens is odd loses its last character,
/// since a UUID index takes whole bytes. Matches still start with the
/// whole prefix; the shorter one only decides where the walk starts.
fn round_down_if_odd<'a>(prefix: &'a str, requested: &str) -> &'a str {
    if requested == "jobs" {
        return prefix;
    }
    // Bytes, as Go's `len`; the cut takes a whole character, though.
    let digits = prefix.len() - prefix.matches('-').count();
    if digits.is_multiple_of(2) {
        return prefix;
    }
    prefix
        .char_indices()
        .last()
        .map_or(prefix, |(i, _)| &prefix[..i])
}

/// Whether go-memdb's UUID index takes `prefix` (`UUIDFieldIndex`
/// `PrefixFromArgs`): at most 36 characters and 4 hyphens, and an even
/// number of hex digits.
fn partial_uuid(prefix: &str) -> bool {
    let digits: Vec<char> = prefix.chars().filter(|c| *c != '-').collect();
    prefix.len() <= 36
        && prefix.matches('-').count() <= 4
        && digits.len().is_multiple_of(2)
        && digits.iter().all(char::is_ascii_hexdigit)
}

/// The namespace a search covers: `?namespace=`, else the body's, else
/// `default`.
fn namespace(q: &RawQuery, body: &str) -> String {
    match q.get("namespace") {
        Some(n) if !n.is_empty() => n.to_string(),
        _ if !body.is_empty() => body.to_string(),
        _ => "default".to_string(),
    }
}

fn selector(ns: &str) -> NamespaceSel<'_> {
    if ns == "*" {
        NamespaceSel::All
    } else {
        NamespaceSel::One(ns)
    }
}

/// Nomad's `getPrefixMatches`: of the first [`TRUNCATE_LIMIT`] IDs of the
/// walk, those that start with `prefix`; truncated when the walk had more.
fn prefix_window(mut ids: impl Iterator<Item = String>, prefix: &str) -> (Vec<String>, bool) {
    let matches = ids
        .by_ref()
        .take(TRUNCATE_LIMIT)
        .filter(|id| id.starts_with(prefix))
        .collect();
    (matches, ids.next().is_some())
}

/// Where a walk starts: the rounded prefix, and the same in lower case
/// for the UUID indexes, which decode hex in either case (stored IDs are
/// lower case).
struct Start {
    exact: String,
    lower: String,
}

impl Start {
    fn new(prefix: &str, requested: &str) -> Start {
        let exact = round_down_if_odd(prefix, requested).to_string();
        let lower = exact.to_ascii_lowercase();
        Start { exact, lower }
    }
}

/// The IDs of `context` from `start` on, in Nomad's index order, or `None`
/// when the context's index refuses the prefix (see [`UUID_CONTEXTS`]).
fn walk<'a>(
    st: &'a St,
    context: &str,
    ns: NamespaceSel<'a>,
    start: &'a Start,
) -> Option<Box<dyn Iterator<Item = String> + 'a>> {
    if UUID_CONTEXTS.contains(&context) && !partial_uuid(&start.exact) {
        return None;
    }
    let ws = &mut WatchSet::new();
    let (exact, lower) = (start.exact.as_str(), start.lower.as_str());
    Some(match context {
        "jobs" => Box::new(
            st.jobs(ws, ns, exact, None, false)
                .filter(|j| visible(&j.namespace))
                .map(|j| j.id.clone()),
        ),
        "evals" => Box::new(
            st.evals_by_prefix(ws, lower, None, false)
                .filter(move |e| ns.matches(&e.namespace) && visible(&e.namespace))
                .map(|e| e.id.clone()),
        ),
        "allocs" => Box::new(
            st.allocs_by_prefix(ws, lower, None, false)
                .filter(move |r| ns.matches(&r.alloc.namespace) && visible(&r.alloc.namespace))
                .map(|r| r.alloc.id.clone()),
        ),
        "nodes" | "node_pools" if !caller_allows(Acl::allow_node_read) => {
            Box::new(std::iter::empty())
        }
        "nodes" => Box::new(st.nodes(ws, lower, None, false).map(|n| n.id.clone())),
        "deployment" => Box::new(
            st.deployments_by_prefix(ws, lower, None, false)
                .filter(move |d| ns.matches(&d.namespace) && visible(&d.namespace))
                .map(|d| d.id.clone()),
        ),
        "node_pools" => Box::new(
            node_pools::pools(st, ws)
                .0
                .into_iter()
                .filter(move |p| p.name.starts_with(exact))
                .map(|p| p.name),
        ),
        "namespaces" => Box::new(
            namespaces::namespaces(st, exact)
                .0
                .into_iter()
                .map(|n| n.name),
        ),
        _ => Box::new(std::iter::empty()),
    })
}

/// The index a search of `context` reports: its table's.
fn context_index(st: &St, context: &str) -> u64 {
    match context {
        "jobs" => st.table_index(Table::Jobs),
        "evals" => st.table_index(Table::Evals),
        "allocs" => st.table_index(Table::Allocs),
        "nodes" => st.table_index(Table::Nodes),
        "deployment" => st.table_index(Table::Deployment),
        "node_pools" => node_pools::pools(st, &mut WatchSet::new()).1,
        "namespaces" => namespaces::namespaces(st, "").1,
        _ => 0,
    }
}

/// Options for a search: the request's, but never blocking.
fn options(q: &RawQuery) -> HttpResult<QueryOptions> {
    let mut opts = QueryOptions::from_raw(q)?;
    opts.min_index = 0;
    Ok(opts)
}

fn decode<T: serde::de::DeserializeOwned>(body: &Bytes) -> HttpResult<T> {
    if body.is_empty() {
        return Err(HttpError::bad_request("Request body is empty"));
    }
    crate::jobs::decode_json(body).map_err(|e| HttpError::bad_request(e.to_string()))
}

/// `PUT /v1/search`: per context, up to 20 IDs that start with `Prefix`
/// (`null` when none), and whether there were more. Node pools and
/// namespaces match by name.
pub async fn prefix(
    State(app): State<App>,
    AxumQuery(raw): AxumQuery,
    body: Bytes,
) -> HttpResult<Response> {
    let req: SearchRequest = decode(&body)?;
    let q = RawQuery::parse(raw.as_deref());
    let opts = options(&q)?;
    let ns = namespace(&q, &req.namespace);
    let contexts = expand(&req.context)?;
    let start = Start::new(&req.prefix, &req.context);
    let (mut resp, meta) = blocking(&app, &opts, |st, _| {
        let mut resp = SearchResponse::default();
        let mut index = 0;
        for ctx in &contexts {
            index = index.max(context_index(st, ctx));
            let Some(ids) = walk(st, ctx, selector(&ns), &start) else {
                continue;
            };
            let (matches, truncated) = prefix_window(ids, &req.prefix);
            resp.matches
                .insert(ctx.to_string(), (!matches.is_empty()).then_some(matches));
            resp.truncations.insert(ctx.to_string(), truncated);
        }
        Ok((resp, index))
    })
    .await?;
    resp.meta = meta.body();
    Ok(json(&resp, &meta))
}

/// A fuzzy match before sorting: `score` is where the text was found.
struct Scored {
    id: String,
    scope: Vec<String>,
    score: usize,
}

/// Where `text` (lower case) occurs in `name`, ignoring case.
fn fuzzy_index(name: &str, text: &str) -> Option<usize> {
    name.to_lowercase().find(text)
}

fn scored(name: &str, text: &str, scope: Vec<String>) -> Option<Scored> {
    fuzzy_index(name, text).map(|score| Scored {
        id: name.to_string(),
        scope,
        score,
    })
}

/// Nomad's `fuzzyMatchesJob`: the job's name, its groups', tasks' and
/// their drivers' image (docker), command (exec, raw_exec) or class
/// (java), each with its parents as the scope. In a fixed context order,
/// where Nomad walks a Go map.
fn job_matches(j: &Job, text: &str) -> Vec<(&'static str, Vec<Scored>)> {
    let (ns, job) = (j.namespace.clone(), j.id.clone());
    let mut sets: BTreeMap<usize, (&'static str, Vec<Scored>)> = BTreeMap::new();
    let order = ["jobs", "groups", "tasks", "images", "commands", "classes"];
    let mut add = |ctx: &'static str, m: Option<Scored>| {
        if let (Some(m), Some(at)) = (m, order.iter().position(|c| *c == ctx)) {
            sets.entry(at).or_insert((ctx, Vec::new())).1.push(m);
        }
    };
    add("jobs", scored(&j.name, text, vec![ns.clone(), job.clone()]));
    for g in &j.task_groups {
        add(
            "groups",
            scored(&g.name, text, vec![ns.clone(), job.clone()]),
        );
        for t in &g.tasks {
            let parents = vec![ns.clone(), job.clone(), g.name.clone()];
            add("tasks", scored(&t.name, text, parents.clone()));
            let (ctx, param) = match t.driver.as_str() {
                "docker" => ("images", "image"),
                "exec" | "raw_exec" => ("commands", "command"),
                "java" => ("classes", "class"),
                _ => continue,
            };
            let value = t.config.get(param).and_then(|v| v.as_str()).unwrap_or("");
            let mut scope = parents;
            scope.push(t.name.clone());
            add(ctx, scored(value, text, scope));
        }
    }
    sets.into_values().collect()
}

/// Nomad's `getFuzzyMatches` for one context: reads at most
/// [`FUZZY_LIMIT_QUERY`] objects and keeps at most [`FUZZY_LIMIT_RESULTS`]
/// matches per context. Reading the last allowed object while more exist
/// takes its first match only and marks that context truncated, as Nomad.
#[derive(Default)]
struct Fuzzy {
    found: BTreeMap<&'static str, Vec<Scored>>,
    truncated: BTreeMap<&'static str, bool>,
}

impl Fuzzy {
    /// One object's matches, grouped by context.
    fn add(&mut self, limited: bool, sets: Vec<(&'static str, Vec<Scored>)>) {
        for (ctx, matches) in sets {
            for m in matches {
                let list = self.found.entry(ctx).or_default();
                if list.len() >= FUZZY_LIMIT_RESULTS {
                    self.truncated.insert(ctx, true);
                    return;
                }
                list.push(m);
                if limited {
                    self.truncated.insert(ctx, true);
                    return;
                }
            }
        }
    }

    /// Walk the objects of one context.
    fn read<T>(
        &mut self,
        objects: impl Iterator<Item = T>,
        matches: impl Fn(T) -> Vec<(&'static str, Vec<Scored>)>,
    ) {
        let mut objects = objects.peekable();
        for i in 0..FUZZY_LIMIT_QUERY {
            let Some(o) = objects.next() else { break };
            let limited = i == FUZZY_LIMIT_QUERY - 1 && objects.peek().is_some();
            self.add(limited, matches(o));
        }
    }
}

/// One match of a single-object context, as a set.
fn single(ctx: &'static str, m: Option<Scored>) -> Vec<(&'static str, Vec<Scored>)> {
    m.map(|m| vec![(ctx, vec![m])]).unwrap_or_default()
}

/// The fuzzy matches of `context` (one that is searched by name).
fn fuzzy_context(st: &St, context: &'static str, ns: NamespaceSel<'_>, text: &str) -> Fuzzy {
    let ws = &mut WatchSet::new();
    let mut f = Fuzzy::default();
    match context {
        "jobs" => f.read(
            st.jobs(ws, ns, "", None, false)
                .filter(|j| visible(&j.namespace)),
            |j| job_matches(j, text),
        ),
        "nodes" | "node_pools" if !caller_allows(Acl::allow_node_read) => {}
        "allocs" => f.read(
            st.allocs_by_prefix(ws, "", None, false)
                .filter(|r| ns.matches(&r.alloc.namespace) && visible(&r.alloc.namespace)),
            |r| {
                let a = &r.alloc;
                let scope = vec![a.namespace.clone(), a.id.clone()];
                single("allocs", scored(&a.name, text, scope))
            },
        ),
        "nodes" => f.read(st.nodes(ws, "", None, false), |n| {
            single("nodes", scored(&n.name, text, vec![n.id.clone()]))
        }),
        "node_pools" => f.read(node_pools::pools(st, ws).0.into_iter(), |p| {
            single("node_pools", scored(&p.name, text, vec![p.name.clone()]))
        }),
        "namespaces" => f.read(namespaces::namespaces(st, "").0.into_iter(), |n| {
            single("namespaces", scored(&n.name, text, Vec::new()))
        }),
        _ => {}
    }
    f
}

/// `PUT /v1/search/fuzzy`: names that contain `Text`, ignoring case, best
/// first (earliest position, then shortest, then alphabetical): jobs and
/// what they hold (`groups`, `tasks`, `images`, `commands`, `classes`),
/// allocations, nodes, node pools and namespaces. Evaluations and
/// deployments are matched by ID prefix instead, walking from the
/// request's `prefix`. A `Text` shorter than [`FUZZY_MIN_TERM_LENGTH`]
/// bytes is a 400.
pub async fn fuzzy(
    State(app): State<App>,
    AxumQuery(raw): AxumQuery,
    body: Bytes,
) -> HttpResult<Response> {
    let req: FuzzySearchRequest = decode(&body)?;
    let q = RawQuery::parse(raw.as_deref());
    let opts = options(&q)?;
    let ns = namespace(&q, &req.namespace);
    if req.text.len() < FUZZY_MIN_TERM_LENGTH {
        return Err(HttpError::bad_request(format!(
            "fuzzy search query must be at least {FUZZY_MIN_TERM_LENGTH} characters, got {}",
            req.text.len()
        )));
    }
    let contexts = expand(&req.context)?;
    let text = req.text.to_lowercase();
    let walk_from = q
        .get("prefix")
        .filter(|p| !p.is_empty())
        .unwrap_or(&req.prefix);
    let start = Start::new(walk_from, &req.context);
    let (mut resp, meta) = blocking(&app, &opts, |st, _| {
        let mut resp = FuzzySearchResponse::default();
        let mut index = 0;
        for ctx in &contexts {
            index = index.max(context_index(st, ctx));
            if PREFIX_ONLY.contains(ctx) {
                let Some(ids) = walk(st, ctx, selector(&ns), &start) else {
                    continue;
                };
                let (ids, truncated) = prefix_window(ids, &req.text);
                let matches = ids
                    .into_iter()
                    .map(|id| FuzzyMatch {
                        id,
                        scope: Vec::new(),
                    })
                    .collect();
                resp.matches.insert(ctx.to_string(), matches);
                resp.truncations.insert(ctx.to_string(), truncated);
                continue;
            }
            resp.truncations.insert(ctx.to_string(), false);
            let found = fuzzy_context(st, ctx, selector(&ns), &text);
            for (c, mut list) in found.found {
                list.sort_by(|a, b| {
                    (a.score, a.id.len(), &a.id).cmp(&(b.score, b.id.len(), &b.id))
                });
                let list = list
                    .into_iter()
                    .map(|m| FuzzyMatch {
                        id: m.id,
                        scope: m.scope,
                    })
                    .collect();
                resp.matches.insert(c.to_string(), list);
            }
            for (c, t) in found.truncated {
                resp.truncations.insert(c.to_string(), t);
            }
        }
        Ok((resp, index))
    })
    .await?;
    resp.meta = meta.body();
    Ok(json(&resp, &meta))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_prefixes_are_rounded_down_unless_only_jobs_are_searched() {
        assert_eq!(round_down_if_odd("abc", "allocs"), "ab");
        assert_eq!(round_down_if_odd("abc", "all"), "ab");
        assert_eq!(round_down_if_odd("abc", "jobs"), "abc");
        assert_eq!(round_down_if_odd("abcd", "evals"), "abcd");
        assert_eq!(round_down_if_odd("e3671fa4-21", "evals"), "e3671fa4-21");
        assert_eq!(round_down_if_odd("e3671fa4-2", "evals"), "e3671fa4-");
        assert_eq!(
            round_down_if_odd("wé", "nodes"),
            "w",
            "no panic on a multibyte end"
        );
        assert_eq!(round_down_if_odd("", "nodes"), "");
    }

    #[test]
    fn partial_uuids() {
        for ok in [
            "",
            "ab",
            "e3671fa4-21",
            "E3671FA4",
            "e3671fa4-2113-4a2c-9e2a-0123456789ab",
        ] {
            assert!(partial_uuid(ok), "{ok}");
        }
        for bad in [
            "a",
            "web",
            "zz",
            "a-b-c-d-e-f",
            "e3671fa4-2113-4a2c-9e2a-0123456789abcd",
        ] {
            assert!(!partial_uuid(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_contexts_are_named() {
        assert_eq!(expand("all").unwrap().len(), 12);
        assert_eq!(expand("node_pools").unwrap(), ["node_pools"]);
        let e = expand("job").unwrap_err();
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(
            e.message,
            "context must be one of [allocs jobs nodes node_pools evals deployment plugins \
             volumes scaling_policy vars namespaces host_volumes] or 'all' for all contexts; \
             got \"job\""
        );
    }

    #[test]
    fn a_window_counts_what_it_skips() {
        let ids = |n: usize| (0..n).map(|i| format!("a{i:02}"));
        assert_eq!(
            prefix_window(ids(3), "a0"),
            (vec!["a00".into(), "a01".into(), "a02".into()], false)
        );
        let (m, t) = prefix_window(ids(25), "a");
        assert_eq!((m.len(), t), (20, true));
        // a20 is the 21st: outside the window, but it makes the window truncated.
        assert_eq!(prefix_window(ids(21), "a2"), (Vec::new(), true));
    }
}
