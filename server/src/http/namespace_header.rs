//! `X-Nomad-Namespace`: a request header that names the namespace of a
//! request, for clients that set it once rather than on every URL. A
//! Drover extension: Nomad reads only the `namespace` query parameter
//! (command/agent/http.go `parseNamespace`), which still wins when both
//! are given, so no Nomad call changes meaning. The header becomes that
//! parameter before any handler runs, so every namespaced endpoint reads
//! one place.

use axum::extract::Request;
use axum::http::Uri;

pub const HEADER: &str = "x-nomad-namespace";

/// Rewrite `req`'s URI as [`rewritten`] says. Called by the region
/// layer, the first that reads the query, rather than as a layer of its
/// own: every layer adds its future to each parked blocking query.
pub fn rewrite(req: &mut Request) {
    if let Some(uri) = rewritten(req.uri(), req.headers()) {
        *req.uri_mut() = uri;
    }
}

/// The request's URI with `namespace=<header>`, when the header is set
/// and the query names no namespace (an empty `namespace=` names none).
fn rewritten(uri: &Uri, headers: &axum::http::HeaderMap) -> Option<Uri> {
    let ns = headers.get(HEADER)?.to_str().ok()?.trim();
    if ns.is_empty() {
        return None;
    }
    let pairs: Vec<(String, String)> = form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if pairs.iter().any(|(k, v)| k == "namespace" && !v.is_empty()) {
        return None;
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs.iter().filter(|(k, _)| k != "namespace") {
        query.append_pair(k, v);
    }
    query.append_pair("namespace", ns);
    format!("{}?{}", uri.path(), query.finish()).parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderMap;

    fn check(uri: &str, header: Option<&str>, want: Option<&str>) {
        let mut h = HeaderMap::new();
        if let Some(v) = header {
            h.insert(HEADER, v.parse().unwrap());
        }
        let got = rewritten(&uri.parse().unwrap(), &h).map(|u| u.to_string());
        assert_eq!(got.as_deref(), want, "{uri} {header:?}");
    }

    #[test]
    fn the_header_fills_in_a_missing_namespace_parameter() {
        check("/v1/jobs", None, None);
        check("/v1/jobs", Some("team"), Some("/v1/jobs?namespace=team"));
        check(
            "/v1/jobs?prefix=a",
            Some("*"),
            Some("/v1/jobs?prefix=a&namespace=*"),
        );
        // The query parameter wins; an empty one counts as none.
        check("/v1/jobs?namespace=b", Some("team"), None);
        check(
            "/v1/jobs?namespace=&index=3",
            Some("team"),
            Some("/v1/jobs?index=3&namespace=team"),
        );
        check("/v1/jobs", Some(""), None);
    }
}
