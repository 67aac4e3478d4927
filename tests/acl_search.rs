//! Searches with ACLs on show only what the token may read, whichever
//! namespace the body or the query names. Address 127.0.2.24.

mod common;

use common::acl::acl_agent_with;
use reqwest::StatusCode;
use serde_json::{json, Value};

#[tokio::test]
async fn a_search_shows_only_what_the_token_may_read() {
    let (_dir, a, mgmt) = acl_agent_with("127.0.2.24", "", "client {\n  enabled = false\n}").await;
    let http = reqwest::Client::new();
    // Jobs live only in namespaces that exist.
    let r = a
        .http
        .put(a.url("/v1/namespace/team"))
        .json(&json!({"Name": "team"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for (id, ns) in [("web-mine", "default"), ("web-theirs", "team")] {
        let job = json!({"Job": {"ID": id, "Namespace": ns, "Datacenters": ["nowhere"],
            "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec"}]}]}});
        let r = a
            .http
            .put(a.url("/v1/jobs"))
            .json(&job)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let rules = "namespace \"default\" { policy = \"read\" }";
    let r = a
        .http
        .put(a.url("/v1/acl/policy/r"))
        .json(&json!({"Rules": rules}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let t: Value = a
        .http
        .put(a.url("/v1/acl/token"))
        .json(&json!({"Type": "client", "Policies": ["r"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let reader = t["SecretID"].as_str().unwrap().to_string();
    let search = |path: &'static str, body: Value, token: String| {
        let http = http.clone();
        let url = a.url(path);
        async move {
            let r = http
                .put(url)
                .header("X-Nomad-Token", token)
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let cases = [
        (
            "/v1/search?namespace=*",
            json!({"Prefix": "web", "Context": "all"}),
        ),
        (
            "/v1/search",
            json!({"Prefix": "web", "Context": "jobs", "Namespace": "team"}),
        ),
        (
            "/v1/search/fuzzy?namespace=*",
            json!({"Text": "web", "Context": "all"}),
        ),
    ];
    for (path, body) in cases {
        let (s, all) = search(path, body.clone(), mgmt.clone()).await;
        assert_eq!(s, StatusCode::OK, "{all}");
        assert!(all.to_string().contains("web-theirs"), "{path}: {all}");
        let (s, mine) = search(path, body, reader.clone()).await;
        assert_eq!(s, StatusCode::OK, "{mine}");
        assert!(!mine.to_string().contains("web-theirs"), "{path}: {mine}");
    }
    let (_, mine) = search(
        "/v1/search?namespace=*",
        json!({"Prefix": "web", "Context": "all"}),
        reader.clone(),
    )
    .await;
    assert!(mine.to_string().contains("web-mine"), "{mine}");
    // The namespaces list shows only the namespaces a token may use
    // (Nomad's `Namespace.ListNamespaces` asks `AllowNamespace` of each).
    for (token, want) in [(&mgmt, vec!["default", "team"]), (&reader, vec!["default"])] {
        let names: Vec<String> = http
            .get(a.url("/v1/namespaces"))
            .header("X-Nomad-Token", token.as_str())
            .send()
            .await
            .unwrap()
            .json::<Vec<Value>>()
            .await
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap_or_default().to_string())
            .collect();
        assert_eq!(names, want);
    }
}
