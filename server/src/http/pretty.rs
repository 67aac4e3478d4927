//! `?pretty`: indented JSON (Nomad api-docs/index.mdx, "Formatted JSON
//! Output"; command/agent/http.go `wrap`). Any value but `0`, or none, turns
//! it on, as in Nomad. Only whole JSON answers are reformatted; streams (the
//! event stream, logs) and errors (plain text) pass unchanged, as Nomad
//! formats only what its JSON handlers return.

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The most a reformatted answer may be; larger ones pass as they are.
const MAX_BODY: usize = 64 << 20;

pub async fn layer(req: Request, next: Next) -> Response {
    let pretty = req.uri().query().is_some_and(|q| {
        form_urlencoded::parse(q.as_bytes()).any(|(k, v)| k == "pretty" && v != "0")
    });
    let resp = next.run(req).await;
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // A body whose size is known is a whole answer, not a stream.
    let size = resp.body().size_hint().exact();
    if !pretty || !is_json || size.is_none_or(|n| n > MAX_BODY as u64) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        // Only a body that fails mid-read gets here; its error is all
        // there is to say.
        Err(e) => {
            return super::error::HttpError::internal(format!("failed to read response: {e}"))
                .into_response()
        }
    };
    let out = indent(&bytes);
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(out))
}

/// `json` indented by four spaces, one member or element a line, with a
/// final newline (Nomad's `JsonHandlePretty`). Works on the bytes, so the
/// order of fields is kept, and drops the whitespace between tokens first,
/// so indenting an indented answer (forwarded from the leader) changes
/// nothing.
pub fn indent(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len() * 2);
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    let newline = |out: &mut Vec<u8>, depth: usize| {
        out.push(b'\n');
        out.extend(std::iter::repeat_n(b' ', depth * 4));
    };
    let mut i = 0;
    while i < json.len() {
        let c = json[i];
        i += 1;
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == b'\\' {
                escaped = true;
            } else if c == b'"' {
                in_string = false;
            }
            continue;
        }
        match c {
            b' ' | b'\n' | b'\r' | b'\t' => {}
            b'"' => {
                in_string = true;
                out.push(c);
            }
            b'{' | b'[' => {
                out.push(c);
                // An empty object or array stays on its line.
                let next = json[i..].iter().find(|b| !b.is_ascii_whitespace());
                if matches!(next, Some(b'}') | Some(b']')) {
                    continue;
                }
                depth += 1;
                newline(&mut out, depth);
            }
            b'}' | b']' => {
                if !matches!(out.last(), Some(b'{') | Some(b'[')) {
                    depth = depth.saturating_sub(1);
                    newline(&mut out, depth);
                }
                out.push(c);
            }
            b',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            b':' => out.extend_from_slice(b": "),
            _ => out.push(c),
        }
    }
    out.push(b'\n');
    out
}

#[cfg(test)]
mod tests {
    use super::indent;

    #[track_caller]
    fn check(json: &str, want: &str) {
        let got = String::from_utf8(indent(json.as_bytes())).unwrap();
        assert_eq!(got, want);
        let again = String::from_utf8(indent(got.as_bytes())).unwrap();
        assert_eq!(again, want, "indenting twice changes nothing");
    }

    #[test]
    fn indents_and_keeps_order() {
        check("{}", "{}\n");
        check("[]", "[]\n");
        check("\"a\"", "\"a\"\n");
        check(
            r#"{"b":1,"a":[true,null],"e":{},"s":"x, {\"y\": [1]}\\"}"#,
            "{\n    \"b\": 1,\n    \"a\": [\n        true,\n        null\n    ],\n    \"e\": {},\n    \"s\": \"x, {\\\"y\\\": [1]}\\\\\"\n}\n",
        );
    }
}
