//! ACLs and mutual TLS at once, real processes on 127.0.3.10–11: a PKI
//! made by `drover tls`, one server agent and one client-only agent, both
//! with `acl { enabled = true }` and HTTPS that requires a client
//! certificate from the CA (`verify_https_client`), mutual TLS on RPC and
//! `verify_server_hostname`. Over HTTPS: bootstrap, a request without a
//! token refused, a read-only token that reads but cannot register, a
//! raw_exec job registered with the management token and run on the
//! client-only agent, its log read through the server (and on the client
//! agent itself) only with a token that may read logs, and a caller
//! without a client certificate refused at the handshake. Nomad's
//! behaviour: <https://developer.hashicorp.com/nomad/tutorials/access-control>
//! and <https://developer.hashicorp.com/nomad/tutorials/transport-security/security-enable-tls>.
//! Every wait has a deadline; every process started is killed at the end.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::cluster::Server;
use common::tls::{https_client, make_pki, tls_block, until};
use common::{free_port_on, kill_processes_under};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SERVER_IP: &str = "127.0.3.10";
const CLIENT_IP: &str = "127.0.3.11";

const ACL: &str = "acl {\n  enabled = true\n}\n";

/// A client-only agent with raw_exec, ACLs and `tls`, joined to
/// `servers`; dropping it kills it and its tasks.
struct ClientAgent {
    child: Child,
    dir: PathBuf,
    http: u16,
}

impl Drop for ClientAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_processes_under(&self.dir);
    }
}

impl ClientAgent {
    fn start(dir: &Path, servers: &str, tls: &str) -> ClientAgent {
        std::fs::create_dir_all(dir).unwrap();
        let http = free_port_on(CLIENT_IP);
        let config = dir.join("client.hcl");
        std::fs::write(
            &config,
            format!(
                "bind_addr = \"{CLIENT_IP}\"\nports {{\n  http = {http}\n}}\nclient {{\n  options = {{\n    \"driver.raw_exec.enable\" = \"1\"\n  }}\n}}\n{ACL}{tls}"
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("agent.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["agent", "-client", "-log-level=info", "-servers", servers])
            .arg("-data-dir")
            .arg(dir.join("data"))
            .arg("-config")
            .arg(&config)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("drover starts");
        ClientAgent {
            child,
            dir: dir.to_path_buf(),
            http,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("agent.log")).unwrap_or_default()
    }
}

/// `method url` with `token` (none: anonymous) and an optional JSON body;
/// the status and body text, or the transport error.
async fn call(
    http: &reqwest::Client,
    token: Option<&str>,
    method: Method,
    url: &str,
    body: Option<&Value>,
) -> Result<(StatusCode, String), reqwest::Error> {
    let mut req = http.request(method, url);
    if let Some(t) = token {
        req = req.header("X-Nomad-Token", t);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let r = req.send().await?;
    Ok((r.status(), r.text().await?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acls_and_mutual_tls_together_from_bootstrap_to_task_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    make_pki(&pki, &[SERVER_IP], CLIENT_IP);
    let http = https_client(&pki, true);

    let one = ["-bootstrap-expect".to_string(), "1".to_string()];
    let server = Server::start(
        &tmp.path().join("server"),
        SERVER_IP,
        free_port_on(SERVER_IP),
        &one,
        &format!("{ACL}{}", tls_block(&pki, "server")),
    );
    let at = |path: &str| format!("https://{SERVER_IP}:{}{path}", server.http);
    // The status endpoints need no token, as in Nomad.
    until(
        "a leader over HTTPS",
        || server.log(),
        || async {
            let (s, leader) = call(&http, None, Method::GET, &at("/v1/status/leader"), None)
                .await
                .ok()?;
            (s == StatusCode::OK && leader.len() > 2).then_some(())
        },
    )
    .await;

    // Bootstrap over HTTPS gives the management token, once.
    let (s, boot) = call(&http, None, Method::POST, &at("/v1/acl/bootstrap"), None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{boot}");
    let boot: Value = serde_json::from_str(&boot).unwrap();
    assert_eq!(boot["Type"], "management", "{boot}");
    let mgmt = boot["SecretID"].as_str().unwrap().to_string();
    let m = Some(mgmt.as_str());
    let (s, again) = call(&http, None, Method::POST, &at("/v1/acl/bootstrap"), None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");

    // No anonymous policy: without a token, a protected read is refused.
    let (s, body) = call(&http, None, Method::GET, &at("/v1/jobs"), None)
        .await
        .unwrap();
    assert_eq!(
        (s, body.as_str()),
        (StatusCode::FORBIDDEN, "Permission denied")
    );

    // A client token that may read the default namespace.
    let policy = json!({"Name": "default-read", "Description": "read default",
        "Rules": "namespace \"default\" { policy = \"read\" }"});
    let (s, b) = call(
        &http,
        m,
        Method::PUT,
        &at("/v1/acl/policy/default-read"),
        Some(&policy),
    )
    .await
    .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let token = json!({"Name": "reader", "Type": "client", "Policies": ["default-read"]});
    let (s, b) = call(&http, m, Method::PUT, &at("/v1/acl/token"), Some(&token))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let t: Value = serde_json::from_str(&b).unwrap();
    let read = t["SecretID"].as_str().unwrap().to_string();
    let r = Some(read.as_str());

    // It reads; it cannot register.
    let (s, jobs) = call(&http, r, Method::GET, &at("/v1/jobs"), None)
        .await
        .unwrap();
    assert_eq!((s, jobs.as_str()), (StatusCode::OK, "[]"));
    let job = json!({"Job": {"ID": "hello", "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sh",
                "args": ["-c", "echo hello-acl-tls; exec sleep 600"]}}]}]}});
    let (s, b) = call(&http, r, Method::PUT, &at("/v1/jobs"), Some(&job))
        .await
        .unwrap();
    assert_eq!(
        (s, b.as_str()),
        (StatusCode::FORBIDDEN, "Permission denied")
    );

    // A client-only agent joins over mutual TLS, ACLs on too.
    let client = ClientAgent::start(
        &tmp.path().join("client"),
        &format!("{SERVER_IP}:{}", server.http),
        &tls_block(&pki, "client"),
    );
    let both = || format!("{}\n--- the client agent:\n{}", server.log(), client.log());
    let node_id = until("the client's node ready", both, || async {
        let (s, nodes) = call(&http, m, Method::GET, &at("/v1/nodes"), None)
            .await
            .ok()?;
        let nodes: Value = serde_json::from_str(&nodes).ok()?;
        let node = nodes.as_array()?.first()?.clone();
        (s == StatusCode::OK && node["Status"] == "ready" && node["Address"] == CLIENT_IP)
            .then(|| node["ID"].as_str().unwrap().to_string())
    })
    .await;

    // The management token registers; the task runs on the client agent.
    let (s, b) = call(&http, m, Method::PUT, &at("/v1/jobs"), Some(&job))
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{b}");
    let alloc_id = until("the allocation running on the client", both, || async {
        let (_, allocs) = call(
            &http,
            m,
            Method::GET,
            &at("/v1/job/hello/allocations"),
            None,
        )
        .await
        .ok()?;
        let allocs: Value = serde_json::from_str(&allocs).ok()?;
        let a = allocs.as_array()?.first()?.clone();
        (a["ClientStatus"] == "running" && a["NodeID"] == node_id.as_str())
            .then(|| a["ID"].as_str().unwrap().to_string())
    })
    .await;
    let (s, jobs) = call(&http, r, Method::GET, &at("/v1/jobs"), None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{jobs}");
    let jobs: Value = serde_json::from_str(&jobs).unwrap();
    assert_eq!(
        common::job_id_set(&jobs).into_iter().collect::<Vec<_>>(),
        ["hello"]
    );
    let (s, job) = call(&http, r, Method::GET, &at("/v1/job/hello"), None)
        .await
        .unwrap();
    assert_eq!(s, StatusCode::OK, "{job}");

    // The task's log, through the server (relayed to the node over
    // HTTPS) and on the client agent itself: not with the read token (no
    // read-logs), with the management token.
    let logs = format!("/v1/client/fs/logs/{alloc_id}?task=t&type=stdout&plain=true");
    let client_at = |path: &str| format!("https://{CLIENT_IP}:{}{path}", client.http);
    for url in [at(&logs), client_at(&logs)] {
        let (s, b) = call(&http, r, Method::GET, &url, None).await.unwrap();
        assert_eq!(
            (s, b.as_str()),
            (StatusCode::FORBIDDEN, "Permission denied"),
            "{url}"
        );
        let (s, b) = call(&http, None, Method::GET, &url, None).await.unwrap();
        assert_eq!(s, StatusCode::FORBIDDEN, "{url}: {b}");
        until(&format!("the task's log at {url}"), both, || async {
            let (s, text) = call(&http, m, Method::GET, &url, None).await.ok()?;
            (s == StatusCode::OK && text == "hello-acl-tls\n").then_some(())
        })
        .await;
    }

    // Without a client certificate a caller is refused at the handshake,
    // by the server and by the client agent, even with the management
    // token; each says why.
    let no_cert = https_client(&pki, false);
    let agents: [(&str, String, &dyn Fn() -> String); 2] = [
        ("the server", at("/v1/jobs"), &|| server.log()),
        ("the client agent", client_at("/v1/agent/self"), &|| {
            client.log()
        }),
    ];
    for (name, url, log) in agents {
        let before = log().len();
        let refused = call(&no_cert, m, Method::GET, &url, None).await;
        assert!(refused.is_err(), "{name}: {refused:?}");
        until(
            &format!("{name} logging the refused handshake"),
            log,
            || async {
                log()[before..]
                    .lines()
                    .any(|l| {
                        l.contains("TLS handshake refused")
                            && l.contains("peer sent no certificates")
                    })
                    .then_some(())
            },
        )
        .await;
    }
}
