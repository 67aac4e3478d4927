//! Namespaces against the real agent: `/v1/namespaces` and
//! `/v1/namespace/{name}` (Nomad's api-docs/namespaces), jobs only in
//! namespaces that exist and that allow their drivers, and isolation: a
//! job in one namespace is seen from another through no list, lookup,
//! prefix, filter, search, page or event; `namespace=*` sees both; and
//! namespace writes through a follower of three servers. Each test runs
//! its own agent on 127.0.0.1 with free ports; the three servers bind
//! 127.0.2.60 to 127.0.2.62.

mod common;

use std::process::Command;

use common::{blocked_job, read_events, Agent};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

fn index(h: &reqwest::header::HeaderMap) -> u64 {
    h["X-Nomad-Index"].to_str().unwrap().parse().unwrap()
}

/// `method path` with a JSON body: status, headers and the body (JSON, or
/// the text as a string).
async fn send(
    a: &Agent,
    method: Method,
    path: &str,
    body: &Value,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = a
        .http
        .request(method, a.url(path))
        .json(body)
        .send()
        .await
        .unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, v)
}

/// Create or update a namespace, asserting it was written; the index.
async fn apply(a: &Agent, ns: Value) -> u64 {
    let (status, h, v) = send(a, Method::PUT, "/v1/namespace", &ns).await;
    assert_eq!(status, StatusCode::OK, "{ns}: {v}");
    index(&h)
}

fn names(v: &Value, field: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|x| x[field].as_str().unwrap().to_string())
        .collect()
}

/// A job of one raw_exec task that sleeps, in namespace `ns`.
fn sleeper(id: &str, ns: &str) -> Value {
    json!({"Job": {"ID": id, "Namespace": ns, "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t", "Driver": "raw_exec",
        "Config": {"command": "/bin/sleep", "args": ["300"]}}]}]}})
}

async fn register(a: &Agent, path: &str, job: &Value) -> (StatusCode, Value) {
    let (status, _, v) = send(a, Method::PUT, path, job).await;
    (status, v)
}

#[tokio::test]
async fn namespaces_are_created_read_updated_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;

    let created = apply(
        &a,
        json!({"Name": "team-a", "Description": "the a team", "Meta": {"owner": "ann"},
            "Capabilities": {"DisabledTaskDrivers": ["docker"]}}),
    )
    .await;
    let (status, v, h) = a.get("/v1/namespaces").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&v, "Name"), ["default", "team-a"]);
    assert_eq!(index(&h), created);
    let (_, v, h) = a.get("/v1/namespace/team-a").await;
    assert_eq!(index(&h), created);
    assert_eq!(v["Description"], "the a team");
    assert_eq!(v["Meta"], json!({"owner": "ann"}));
    assert_eq!(v["Capabilities"]["DisabledTaskDrivers"], json!(["docker"]));
    assert_eq!(
        (v["CreateIndex"].as_u64(), v["ModifyIndex"].as_u64()),
        (Some(created), Some(created))
    );

    // A blocking list wakes on the next write, with its index.
    let waiter = {
        let (http, url) = (
            a.http.clone(),
            a.url(&format!("/v1/namespaces?index={created}&prefix=team")),
        );
        tokio::spawn(async move {
            let r = http.get(url).send().await.unwrap();
            let at = index(r.headers());
            (at, r.json::<Value>().await.unwrap())
        })
    };
    a.wait_parked(1).await;
    let (status, h, _) = send(
        &a,
        Method::POST,
        "/v1/namespace/team-b",
        &json!({"Name": "team-b"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let second = index(&h);
    let (at, v) = waiter.await.unwrap();
    assert_eq!(at, second);
    assert_eq!(names(&v, "Name"), ["team-a", "team-b"]);

    // An update keeps CreateIndex; the body replaces the namespace.
    let updated = apply(&a, json!({"Name": "team-a", "Description": "renamed"})).await;
    let (_, v, _) = a.get("/v1/namespace/team-a").await;
    assert_eq!(
        (v["CreateIndex"].as_u64(), v["ModifyIndex"].as_u64()),
        (Some(created), Some(updated))
    );
    assert_eq!(v["Description"], "renamed");
    assert_eq!(v["Capabilities"], Value::Null);

    // Refusals name the field, and change nothing.
    for (path, body, want) in [
        (
            "/v1/namespace",
            json!({"Name": "a.b"}),
            "invalid name \"a.b\"",
        ),
        ("/v1/namespace", json!({"Name": ""}), "invalid name \"\""),
        (
            "/v1/namespace",
            json!({"Name": "long", "Description": "d".repeat(257)}),
            "description longer than 256",
        ),
        (
            "/v1/namespace",
            json!({"Name": "q", "Quota": "small"}),
            "using non-existent quota \"small\"",
        ),
        (
            "/v1/namespace",
            json!({"Name": "np", "NodePoolConfiguration": {"Default": "gpu"}}),
            "invalid node pool configuration",
        ),
        (
            "/v1/namespace/x",
            json!({"Name": "y"}),
            "Namespace name does not match request path",
        ),
        ("/v1/namespace", json!({"Name": "m", "Meta": "x"}), "Meta"),
    ] {
        let (status, _, v) = send(&a, Method::PUT, path, &body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {v}");
        assert!(v.as_str().unwrap().contains(want), "{body}: {v}");
    }
    let (_, v, _) = a.get("/v1/namespaces").await;
    assert_eq!(names(&v, "Name"), ["default", "team-a", "team-b"]);

    let (status, _, v) = send(&a, Method::DELETE, "/v1/namespace/default", &Value::Null).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::BAD_REQUEST,
            json!("can not delete default namespace")
        )
    );
    let (status, _, _) = send(&a, Method::DELETE, "/v1/namespace/nope", &Value::Null).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, h, _) = send(&a, Method::DELETE, "/v1/namespace/team-b", &Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let (_, v, lh) = a.get("/v1/namespaces").await;
    assert_eq!(names(&v, "Name"), ["default", "team-a"]);
    assert_eq!(index(&lh), index(&h));
    let (status, text) = a.get_text("/v1/namespace/team-b").await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::NOT_FOUND, "Namespace not found")
    );
}

#[tokio::test]
async fn jobs_go_only_into_namespaces_that_exist_and_allow_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;

    let mut job = blocked_job("web");
    job["Job"]["Namespace"] = "team".into();
    let (status, v) = register(&a, "/v1/jobs", &job).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::BAD_REQUEST,
            json!("job \"web\" is in nonexistent namespace \"team\"")
        )
    );
    apply(
        &a,
        json!({"Name": "team", "Capabilities": {"EnabledTaskDrivers": ["docker"]}}),
    )
    .await;
    // Validation names the namespace's refusal too, as Nomad's Job.Validate.
    let (status, v) = register(&a, "/v1/validate/job", &job).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["ValidationErrors"],
        json!(["used task driver \"raw_exec\" is not allowed in namespace \"team\""])
    );
    let (status, v) = register(&a, "/v1/jobs", &job).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::BAD_REQUEST,
            json!("used task driver \"raw_exec\" is not allowed in namespace \"team\"")
        )
    );
    apply(&a, json!({"Name": "team"})).await;

    // The `namespace` parameter wins over the job's own, then the
    // `X-Nomad-Namespace` header stands in for it.
    let (status, v) = register(&a, "/v1/jobs?namespace=team", &blocked_job("web")).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _, _) = a.get("/v1/job/web?namespace=team").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = a.get("/v1/job/web").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let r = a
        .http
        .get(a.url("/v1/job/web"))
        .header("X-Nomad-Namespace", "team")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let r = a
        .http
        .get(a.url("/v1/job/web?namespace=default"))
        .header("X-Nomad-Namespace", "team")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "the parameter wins");

    // Not deleted while it holds a job that is not dead.
    let (status, _, v) = send(&a, Method::DELETE, "/v1/namespace/team", &Value::Null).await;
    assert_eq!(
        (status, v),
        (
            StatusCode::BAD_REQUEST,
            json!("namespace \"team\" has non-terminal jobs in regions: [global]")
        )
    );
    let (status, _, v) = send(
        &a,
        Method::DELETE,
        "/v1/job/web?namespace=team&purge=true",
        &Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let (status, _, v) = send(&a, Method::DELETE, "/v1/namespace/team", &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

#[tokio::test]
async fn a_job_in_one_namespace_is_invisible_from_another() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start(dir.path()).await;
    apply(&a, json!({"Name": "a"})).await;
    apply(&a, json!({"Name": "b"})).await;
    for (id, ns) in [("web-a", "a"), ("web-b", "b")] {
        let (status, v) = register(&a, "/v1/jobs", &sleeper(id, ns)).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    for ns in ["a", "b"] {
        a.until(
            &format!("/v1/allocations?namespace={ns}"),
            "one allocation placed",
            |v| v.as_array().is_some_and(|l| l.len() == 1),
        )
        .await;
    }

    // Lists, one at a time and all together.
    let ids = |v: &Value, field: &str| names(v, field);
    for (path, field, want) in [
        ("/v1/jobs?namespace=b", "ID", vec!["web-b"]),
        ("/v1/jobs?namespace=b&prefix=web", "ID", vec!["web-b"]),
        ("/v1/jobs?namespace=b&prefix=web-a", "ID", vec![]),
        (
            "/v1/jobs?namespace=b&filter=ID%20%3D%3D%20%22web-a%22",
            "ID",
            vec![],
        ),
        ("/v1/allocations?namespace=b", "JobID", vec!["web-b"]),
        ("/v1/evaluations?namespace=b", "JobID", vec!["web-b"]),
        ("/v1/jobs?namespace=*", "ID", vec!["web-a", "web-b"]),
        (
            "/v1/jobs?namespace=*&prefix=web",
            "ID",
            vec!["web-a", "web-b"],
        ),
    ] {
        let (status, v, _) = a.get(path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let mut got = ids(&v, field);
        got.sort();
        got.dedup();
        assert_eq!(got, want, "{path}");
    }
    let (_, v, _) = a.get("/v1/allocations?namespace=*").await;
    let mut nss = names(&v, "Namespace");
    nss.sort();
    nss.dedup();
    assert_eq!(nss, ["a", "b"]);

    // One object by ID, from the wrong namespace.
    let (status, _, _) = a.get("/v1/job/web-a?namespace=b").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v, _) = a.get("/v1/job/web-a/allocations?namespace=b").await;
    assert!(v.as_array().is_none_or(|l| l.is_empty()), "{v}");

    // Pages: within b one page; across all, tokens are `ns.id`.
    let (_, v, h) = a.get("/v1/jobs?namespace=b&per_page=1").await;
    assert_eq!(ids(&v, "ID"), ["web-b"]);
    assert!(h.get("X-Nomad-NextToken").is_none());
    let (_, v, h) = a.get("/v1/jobs?namespace=*&per_page=1").await;
    assert_eq!(ids(&v, "ID"), ["web-a"]);
    let next = h["X-Nomad-NextToken"].to_str().unwrap().to_string();
    assert_eq!(next, "b.web-b");
    let (_, v, h) = a
        .get(&format!(
            "/v1/jobs?namespace=*&per_page=1&next_token={next}"
        ))
        .await;
    assert_eq!(ids(&v, "ID"), ["web-b"]);
    assert!(h.get("X-Nomad-NextToken").is_none());
    // A token of another namespace does not reach into it.
    let (_, v, _) = a
        .get("/v1/jobs?namespace=b&per_page=1&next_token=a.web-a")
        .await;
    assert_eq!(ids(&v, "ID"), ["web-b"]);

    // Search stays in the namespace asked.
    let (status, _, v) = send(
        &a,
        Method::PUT,
        "/v1/search?namespace=b",
        &json!({"Prefix": "web", "Context": "jobs"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["Matches"]["jobs"], json!(["web-b"]));
    let (_, _, v) = send(
        &a,
        Method::PUT,
        "/v1/search?namespace=*",
        &json!({"Prefix": "web", "Context": "jobs"}),
    )
    .await;
    assert_eq!(v["Matches"]["jobs"], json!(["web-a", "web-b"]));

    let (status, _, v) = send(
        &a,
        Method::PUT,
        "/v1/search/fuzzy?namespace=b",
        &json!({"Text": "web", "Context": "jobs"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(names(&v["Matches"]["jobs"], "ID"), ["web-b"]);
    let (_, v, _) = a.get("/v1/deployments?namespace=b").await;
    assert!(
        v.as_array()
            .unwrap()
            .iter()
            .all(|d| d["Namespace"] == "b" && d["JobID"] == "web-b"),
        "{v}"
    );

    // The header selects the namespace like the parameter.
    let r = a
        .http
        .get(a.url("/v1/jobs"))
        .header("X-Nomad-Namespace", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(ids(&r.json().await.unwrap(), "ID"), ["web-b"]);

    // The event stream of b, replayed from the start, holds web-b's
    // events and none of a's, which came first.
    let mut stream = a
        .http
        .get(a.url("/v1/event/stream?index=1&namespace=b"))
        .send()
        .await
        .unwrap();
    let mut seen = Vec::new();
    read_events(&mut stream, "web-b's allocation event", |e| {
        seen.push(e["Namespace"].as_str().unwrap_or("").to_string());
        e["Topic"] == "Allocation" && e["Payload"]["Allocation"]["JobID"] == "web-b"
    })
    .await;
    assert!(seen.iter().all(|ns| ns == "b" || ns.is_empty()), "{seen:?}");
    assert!(seen.iter().any(|ns| ns == "b"), "{seen:?}");
    // `*` streams every namespace's events.
    let mut stream = a
        .http
        .get(a.url("/v1/event/stream?index=1&namespace=*&topic=Job"))
        .send()
        .await
        .unwrap();
    let mut seen = std::collections::BTreeSet::new();
    read_events(&mut stream, "both jobs' events", |e| {
        seen.insert(e["Namespace"].as_str().unwrap_or("").to_string());
        seen.contains("a") && seen.contains("b")
    })
    .await;

    // Deleting a is refused while its job and allocation live; once the
    // job is stopped and dead it goes.
    let (status, _, v) = send(&a, Method::DELETE, "/v1/namespace/a", &Value::Null).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        v,
        json!(
            "namespace \"a\" has non-terminal jobs in regions: [global]; \
               namespace \"a\" has non-terminal allocations in regions: [global]"
        )
    );
    let (status, _, _) = send(
        &a,
        Method::DELETE,
        "/v1/job/web-a?namespace=a",
        &Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    a.until("/v1/job/web-a?namespace=a", "web-a dead", |v| {
        v["Status"] == "dead"
    })
    .await;
    a.until(
        "/v1/allocations?namespace=a",
        "web-a's allocation terminal",
        |v| {
            v.as_array().is_some_and(|l| {
                l.iter().all(|x| {
                    ["complete", "failed", "lost"]
                        .contains(&x["ClientStatus"].as_str().unwrap_or(""))
                })
            })
        },
    )
    .await;
    let (status, _, v) = send(&a, Method::DELETE, "/v1/namespace/a", &Value::Null).await;
    assert_eq!(status, StatusCode::OK, "{v}");
}

/// `drover namespace ...` against the agent: one line, exit status.
fn drover(a: &Agent, words: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(words)
        .env("DROVER_ADDR", &a.base)
        .env_remove("NOMAD_ADDR")
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_namespace_commands() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(dir.path(), "client { enabled = false }").await;

    let (ok, out, err) = drover(
        &a,
        &["namespace", "apply", "-description", "the web team", "web"],
    );
    assert!(ok, "{err}");
    assert_eq!(out, "Successfully applied namespace \"web\"!\n");
    // A flag left out keeps what is stored.
    let (ok, _, err) = drover(&a, &["namespace", "apply", "web"]);
    assert!(ok, "{err}");

    let (ok, out, _) = drover(&a, &["namespace", "list"]);
    assert!(ok);
    let lines: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        lines,
        [
            vec!["Name", "Description"],
            vec!["default", "Default shared namespace"],
            vec!["web", "the web team"],
        ]
    );
    let (ok, out, _) = drover(&a, &["namespace", "list", "-json"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(names(&v, "Name"), ["default", "web"]);

    let (ok, out, err) = drover(&a, &["namespace", "status", "we"]);
    assert!(ok, "{err}");
    let kv: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let want = [
        ("Name", "web"),
        ("Description", "the web team"),
        ("Quota", "<none>"),
        ("Enabled Drivers", "*"),
        ("Disabled Drivers", "<none>"),
        ("Enabled Network Modes", "*"),
        ("Disabled Network Modes", "<none>"),
    ];
    let want: Vec<(String, String)> = want
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(kv, want, "{out}");
    let (ok, out, _) = drover(&a, &["namespace", "inspect", "web"]);
    assert!(ok);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["Description"], "the web team");
    let (ok, out, _) = drover(&a, &["namespace", "inspect", "-t", "{{.Name}}", "web"]);
    assert!(ok);
    assert_eq!(out.trim(), "web");

    let (ok, _, err) = drover(&a, &["namespace", "status", "nope"]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "Error retrieving namespaces: Namespace \"nope\" matched no namespaces"
    );
    // A file is a specification (HCL, as Nomad's `namespace apply` reads).
    let spec = dir.path().join("ops.hcl");
    std::fs::write(
        &spec,
        "name = \"ops\"\ndescription = \"operators\"\nmeta {\n  pager = \"yes\"\n}\ncapabilities {\n  disabled_task_drivers = [\"raw_exec\"]\n}\n",
    )
    .unwrap();
    let (ok, out, err) = drover(&a, &["namespace", "apply", spec.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out, "Successfully applied namespace \"ops\"!\n");
    let (_, v, _) = a.get("/v1/namespace/ops").await;
    assert_eq!(v["Meta"], json!({"pager": "yes"}), "{v}");
    assert_eq!(
        v["Capabilities"]["DisabledTaskDrivers"],
        json!(["raw_exec"]),
        "{v}"
    );
    std::fs::write(&spec, "name = \"ops\"\nowner = \"x\"\n").unwrap();
    let (ok, _, err) = drover(&a, &["namespace", "apply", spec.to_str().unwrap()]);
    assert!(!ok);
    assert_eq!(
        err.trim(),
        "Failed to parse namespace: unexpected key \"owner\""
    );

    let (ok, _, err) = drover(&a, &["namespace", "apply", "bad.name"]);
    assert!(!ok);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("invalid name \"bad.name\""), "{err}");
    let (ok, _, err) = drover(&a, &["namespace", "delete", "default"]);
    assert!(!ok);
    assert!(err.contains("can not delete default namespace"), "{err}");

    // Jobs by namespace: `-namespace '*'` adds the namespace column.
    for ns in ["default", "web"] {
        let (status, v) =
            register(&a, &format!("/v1/jobs?namespace={ns}"), &blocked_job("api")).await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    let (ok, out, err) = drover(&a, &["job", "status", "-namespace", "*"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| {
            l.split("  ")
                .map(str::trim)
                .filter(|w| !w.is_empty())
                .collect()
        })
        .collect();
    assert_eq!(
        rows[0],
        [
            "ID",
            "Namespace",
            "Type",
            "Priority",
            "Status",
            "Submit Date"
        ]
    );
    assert_eq!((rows[1][0], rows[1][1]), ("api", "default"));
    assert_eq!((rows[2][0], rows[2][1]), ("api", "web"));
    // With -json each job is read in its own namespace.
    let (ok, out, err) = drover(&a, &["job", "status", "-namespace", "*", "-json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    let summaries: Vec<(&str, &str)> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            (
                j["Summary"]["JobID"].as_str().unwrap(),
                j["Summary"]["Namespace"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(summaries, [("api", "default"), ("api", "web")]);
    let (ok, out, err) = drover(&a, &["job", "status", "-namespace", "web"]);
    assert!(ok, "{err}");
    assert!(out.starts_with("ID "), "{out}");
    assert_eq!(out.lines().count(), 2, "{out}");
    let (ok, _, err) = drover(&a, &["namespace", "delete", "web"]);
    assert!(!ok);
    assert!(err.contains("non-terminal jobs"), "{err}");
    let (status, _, _) = send(
        &a,
        Method::DELETE,
        "/v1/job/api?namespace=web&purge=true",
        &Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);

    // A JSON specification from a file, with capabilities and metadata.
    let spec = dir.path().join("batch.json");
    std::fs::write(
        &spec,
        r#"{"Name": "batch", "Meta": {"owner": "ops"},
            "Capabilities": {"EnabledTaskDrivers": ["raw_exec", "docker"],
                             "DisabledNetworkModes": ["bridge"]}}"#,
    )
    .unwrap();
    let (ok, out, err) = drover(&a, &["namespace", "apply", "-json", spec.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert_eq!(out, "Successfully applied namespace \"batch\"!\n");
    let (ok, out, err) = drover(&a, &["namespace", "status", "batch"]);
    assert!(ok, "{err}");
    let kv: Vec<(String, String)> = out
        .lines()
        .filter_map(|l| l.split_once(" = "))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    for (k, v) in [
        ("Enabled Drivers", "raw_exec,docker"),
        ("Disabled Network Modes", "bridge"),
        ("owner", "ops"),
    ] {
        assert!(
            kv.contains(&(k.to_string(), v.to_string())),
            "{k} = {v} not in\n{out}"
        );
    }
    assert!(out.contains("\nMetadata\n"), "{out}");
    let (ok, _, err) = drover(&a, &["namespace", "delete", "batch"]);
    assert!(ok, "{err}");

    let (ok, out, err) = drover(&a, &["namespace", "delete", "web"]);
    assert!(ok, "{err}");
    assert_eq!(out, "Successfully deleted namespace \"web\"!\n");
    let (_, out, _) = drover(&a, &["namespace", "list"]);
    assert!(!out.contains("web"), "{out}");
}

/// Three servers on 127.0.2.60-62: namespace writes sent to a follower are
/// the leader's, every server reads them (`stale`, from its own state),
/// and all three hold the same state, namespaces table included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespace_writes_replicate_to_every_server() {
    use common::cluster::{assert_same_state, form_three};

    let tmp = tempfile::tempdir().unwrap();
    let ips = ["127.0.2.60", "127.0.2.61", "127.0.2.62"];
    let dirs: Vec<std::path::PathBuf> = (0..3).map(|i| tmp.path().join(format!("s{i}"))).collect();
    let (servers, _, leader) = form_three(&dirs, &ips, "").await;
    let follower = &servers[(leader + 1) % 3];

    let ns = json!({"Name": "team", "Description": "via a follower"});
    let (status, _, v) = follower
        .call(Method::PUT, "/v1/namespace/team", Some(&ns))
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let mut job = blocked_job("web");
    job["Job"]["Namespace"] = "team".into();
    let (status, _, v) = follower.call(Method::PUT, "/v1/jobs", Some(&job)).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for s in &servers {
        s.until(
            "/v1/namespace/team?stale",
            "the namespace on every server",
            |st, v| st == StatusCode::OK && v["Description"] == "via a follower",
        )
        .await;
    }
    let all: Vec<&common::cluster::Server> = servers.iter().collect();
    assert_same_state(&all).await;

    let (status, _, v) = follower
        .call(Method::DELETE, "/v1/namespace/team", None)
        .await;
    assert_eq!(
        (status, v),
        (
            StatusCode::BAD_REQUEST,
            json!("namespace \"team\" has non-terminal jobs in regions: [global]")
        )
    );
    let (status, _, _) = follower
        .call(
            Method::DELETE,
            "/v1/job/web?namespace=team&purge=true",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, v) = follower
        .call(Method::DELETE, "/v1/namespace/team", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    for s in &servers {
        s.until(
            "/v1/namespace/team?stale",
            "the namespace gone everywhere",
            |st, _| st == StatusCode::NOT_FOUND,
        )
        .await;
    }
    assert_same_state(&all).await;
}
