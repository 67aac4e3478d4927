//! TLS end to end, real processes on 127.0.2.110–115: a PKI made by
//! `drover tls`, three servers and a client agent with mutual TLS on
//! every link (HTTPS API with client certificates required, mutual TLS
//! on the RPC port, `verify_server_hostname`), a raw_exec job run and
//! read back over HTTPS, the CLI with and without the CA, plain HTTP to
//! the HTTPS port, a client agent and an RPC peer that are refused.
//! Every wait has a deadline; every process started is killed at the end.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use common::cluster::Server;
use common::tls::{drover_in as drover, https_client, make_pki, tls_block, until};
use common::{free_port, kill_processes_under};
use reqwest::StatusCode;
use serde_json::{json, Value};

const IPS: [&str; 3] = ["127.0.2.110", "127.0.2.111", "127.0.2.112"];
const CLIENT_IP: &str = "127.0.2.113";
const ROGUE_IP: &str = "127.0.2.114";

#[track_caller]
fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// `GET url` as JSON; `None` while nothing answers 200.
async fn get(http: &reqwest::Client, url: &str) -> Option<Value> {
    let r = http.get(url).send().await.ok()?;
    if r.status() != StatusCode::OK {
        return None;
    }
    r.json().await.ok()
}

/// A client-only agent; dropping it kills it and its tasks.
struct Client {
    child: Child,
    dir: PathBuf,
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        kill_processes_under(&self.dir);
    }
}

impl Client {
    fn start(dir: &Path, ip: &str, servers: &[String], tls: &str) -> Client {
        std::fs::create_dir_all(dir).unwrap();
        let config = dir.join("client.hcl");
        std::fs::write(
            &config,
            format!(
                "bind_addr = \"{ip}\"\nports {{\n  http = {}\n}}\nclient {{\n  options = {{\n    \"driver.raw_exec.enable\" = \"1\"\n  }}\n}}\n{tls}",
                free_port()
            ),
        )
        .unwrap();
        let log = std::fs::File::create(dir.join("agent.log")).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["agent", "-client", "-log-level=info", "-servers"])
            .arg(servers.join(","))
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
        Client {
            child,
            dir: dir.to_path_buf(),
        }
    }
}

fn logs(servers: &[Server]) -> String {
    servers
        .iter()
        .map(Server::log)
        .collect::<Vec<_>>()
        .join("\n")
}

fn https(s: &Server, path: &str) -> String {
    format!("https://{}:{}{path}", s.ip, s.http)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_and_clients_run_with_mutual_tls() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    make_pki(&pki, &IPS, CLIENT_IP);
    // Another CA, and a client certificate from it.
    let other = tmp.path().join("other");
    std::fs::create_dir_all(&other).unwrap();
    ok(&drover(&other, &["tls", "ca", "create"]));
    ok(&drover(&other, &["tls", "cert", "create", "-client"]));

    // Three servers, mutual TLS everywhere.
    let rpc_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let join: Vec<String> = IPS
        .iter()
        .zip(&rpc_ports)
        .flat_map(|(ip, port)| ["-retry-join".to_string(), format!("{ip}:{port}")])
        .chain(["-bootstrap-expect".into(), "3".into()])
        .collect();
    let tls = tls_block(&pki, "server");
    let servers: Vec<Server> = (0..3)
        .map(|i| {
            let dir = tmp.path().join(format!("s{i}"));
            Server::start(&dir, IPS[i], rpc_ports[i], &join, &tls)
        })
        .collect();
    let http = https_client(&pki, true);
    for s in &servers {
        until(
            "three voters and a leader over HTTPS",
            || logs(&servers),
            || async {
                let peers = get(&http, &https(s, "/v1/status/peers")).await?;
                let leader = get(&http, &https(s, "/v1/status/leader")).await?;
                (peers.as_array()?.len() == 3 && leader.as_str().is_some_and(|l| !l.is_empty()))
                    .then_some(())
            },
        )
        .await;
    }

    // A client agent with a client certificate registers.
    let server_addrs: Vec<String> = servers
        .iter()
        .map(|s| format!("{}:{}", s.ip, s.http))
        .collect();
    let client = Client::start(
        &tmp.path().join("client"),
        CLIENT_IP,
        &server_addrs,
        &tls_block(&pki, "client"),
    );
    let client_log = || std::fs::read_to_string(client.dir.join("agent.log")).unwrap_or_default();
    let node_id = until("the client's node ready", client_log, || async {
        let nodes = get(&http, &https(&servers[0], "/v1/nodes")).await?;
        let node = nodes.as_array()?.first()?.clone();
        (node["Status"] == "ready").then(|| node["ID"].as_str().unwrap().to_string())
    })
    .await;

    // A job registered on a follower (forwarded to the leader over the
    // RPC port's TLS) runs on the client; its log is read through a
    // server, which relays to the node over HTTPS.
    let leader_rpc = get(&http, &https(&servers[0], "/v1/status/leader"))
        .await
        .unwrap();
    let follower = servers
        .iter()
        .find(|s| Some(s.rpc_addr().as_str()) != leader_rpc.as_str())
        .unwrap();
    let job = json!({"Job": {"ID": "hello", "TaskGroups": [{"Name": "g",
        "Tasks": [{"Name": "t", "Driver": "raw_exec",
            "Config": {"command": "/bin/sh", "args": ["-c", "echo hello-over-tls; exec sleep 600"]}}]}]}});
    let resp = http
        .put(https(follower, "/v1/jobs"))
        .json(&job)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "{}",
        resp.text().await.unwrap()
    );
    let alloc_id = until("the job's allocation running", client_log, || async {
        let allocs = get(&http, &https(follower, "/v1/job/hello/allocations")).await?;
        let a = allocs.as_array()?.first()?.clone();
        (a["ClientStatus"] == "running" && a["NodeID"] == node_id.as_str())
            .then(|| a["ID"].as_str().unwrap().to_string())
    })
    .await;
    let log_path = format!("/v1/client/fs/logs/{alloc_id}?task=t&type=stdout&plain=true");
    until("the task's log through a server", client_log, || async {
        let r = http.get(https(follower, &log_path)).send().await.ok()?;
        let text = r.text().await.ok()?;
        text.contains("hello-over-tls").then_some(())
    })
    .await;
    for s in &servers {
        let jobs = get(&http, &https(s, "/v1/jobs")).await.unwrap();
        assert_eq!(jobs[0]["ID"], "hello", "{jobs}");
    }

    // The CLI: with the CA and the CLI certificate, by flags and by
    // environment; without the CA, one clear line.
    let address = https(&servers[0], "");
    let ca = pki.join("nomad-agent-ca.pem").display().to_string();
    let cert = pki.join("global-cli-nomad.pem").display().to_string();
    let key = pki.join("global-cli-nomad-key.pem").display().to_string();
    let out = ok(&drover(
        tmp.path(),
        &[
            "job",
            "status",
            "-address",
            &address,
            "-ca-cert",
            &ca,
            "-client-cert",
            &cert,
            "-client-key",
            &key,
        ],
    ));
    assert!(out.contains("hello"), "{out}");
    let by_env = Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(["node", "status"])
        .env("NOMAD_ADDR", &address)
        .env("NOMAD_CACERT", &ca)
        .env("NOMAD_CLIENT_CERT", &cert)
        .env("NOMAD_CLIENT_KEY", &key)
        .env_remove("DROVER_ADDR")
        .output()
        .unwrap();
    assert!(ok(&by_env).contains(&node_id[..8]));
    let no_ca = drover(tmp.path(), &["job", "status", "-address", &address]);
    assert!(!no_ca.status.success());
    let err = String::from_utf8_lossy(&no_ca.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("certificate"), "{err}");

    // exec through a follower: the CLI's WebSocket over TLS, relayed to
    // the node over TLS.
    let exec = drover(
        tmp.path(),
        &[
            "alloc",
            "exec",
            "-address",
            &https(follower, ""),
            "-ca-cert",
            &ca,
            "-client-cert",
            &cert,
            "-client-key",
            &key,
            "-i=false",
            &alloc_id,
            "/bin/sh",
            "-c",
            "echo exec-over-tls; exit 3",
        ],
    );
    assert_eq!(
        (
            exec.status.code(),
            String::from_utf8_lossy(&exec.stdout).as_ref()
        ),
        (Some(3), "exec-over-tls\n"),
        "{}",
        String::from_utf8_lossy(&exec.stderr)
    );

    // Plain HTTP to the HTTPS port: Go's answer, by hand and by the CLI.
    let plain = reqwest::Client::new()
        .get(format!(
            "http://{}:{}/v1/jobs",
            servers[0].ip, servers[0].http
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        plain.text().await.unwrap(),
        "Client sent an HTTP request to an HTTPS server.\n"
    );
    let http_address = format!("http://{}:{}", servers[0].ip, servers[0].http);
    let out = drover(tmp.path(), &["job", "status", "-address", &http_address]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("Client sent an HTTP request to an HTTPS server."),
        "{err}"
    );

    // An RPC peer without a certificate is refused, and the server says why.
    let no_cert = reqwest::Client::builder()
        .tls_certs_only(
            reqwest::Certificate::from_pem_bundle(&std::fs::read(&ca).unwrap()).unwrap(),
        )
        .build()
        .unwrap();
    let rpc_url = format!(
        "https://{}:{}/rpc/v1/identity",
        servers[1].ip, servers[1].rpc
    );
    let refused = no_cert.post(&rpc_url).body(Vec::new()).send().await;
    assert!(refused.is_err(), "{refused:?}");
    until(
        "the server logging the refused RPC peer",
        || servers[1].log(),
        || async {
            let log = servers[1].log();
            log.lines()
                .any(|l| l.contains("TLS handshake refused") && l.contains("certificate"))
                .then_some(())
        },
    )
    .await;

    // A client agent whose certificate comes from another CA: its node
    // never registers, and the servers log why.
    let rogue_tls = tls_block(&pki, "client")
        .replace(
            &pki.join("global-client-nomad.pem").display().to_string(),
            &other.join("global-client-nomad.pem").display().to_string(),
        )
        .replace(
            &pki.join("global-client-nomad-key.pem")
                .display()
                .to_string(),
            &other
                .join("global-client-nomad-key.pem")
                .display()
                .to_string(),
        );
    let before: Vec<String> = servers.iter().map(Server::log).collect();
    let rogue = Client::start(
        &tmp.path().join("rogue"),
        ROGUE_IP,
        &server_addrs,
        &rogue_tls,
    );
    let rogue_log = || std::fs::read_to_string(rogue.dir.join("agent.log")).unwrap_or_default();
    let both = || format!("{}\n--- the rogue client:\n{}", logs(&servers), rogue_log());
    until("a server refusing the rogue client", both, || async {
        servers.iter().zip(&before).find_map(|(s, before)| {
            let log = s.log();
            log[before.len().min(log.len())..]
                .lines()
                .any(|l| {
                    l.contains("TLS handshake refused") && l.contains("invalid peer certificate")
                })
                .then_some(())
        })
    })
    .await;
    let nodes = get(&http, &https(&servers[0], "/v1/nodes")).await.unwrap();
    assert_eq!(
        nodes.as_array().unwrap().len(),
        1,
        "{nodes}\n{}",
        rogue_log()
    );
}

#[test]
fn tls_commands_write_nomads_files_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let out = ok(&drover(dir, &["tls", "ca", "create", "-days", "30"]));
    assert!(out.contains("nomad-agent-ca.pem"), "{out}");
    let again = drover(dir, &["tls", "ca", "create"]);
    assert!(!again.status.success());
    assert_eq!(
        String::from_utf8_lossy(&again.stderr).trim(),
        "Error: CA certificate file 'nomad-agent-ca.pem' already exists"
    );
    ok(&drover(
        dir,
        &["tls", "cert", "create", "-server", "-region", "east"],
    ));
    ok(&drover(dir, &["tls", "cert", "create", "-client"]));
    ok(&drover(dir, &["tls", "cert", "create", "-cli"]));
    use std::os::unix::fs::PermissionsExt;
    for (file, mode) in [
        ("nomad-agent-ca.pem", 0o644),
        ("nomad-agent-ca-key.pem", 0o600),
        ("east-server-nomad.pem", 0o644),
        ("east-server-nomad-key.pem", 0o600),
        ("global-client-nomad-key.pem", 0o600),
        ("global-cli-nomad-key.pem", 0o600),
    ] {
        let meta = std::fs::metadata(dir.join(file)).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, mode & !umask(), "{file}");
    }
    let twice = drover(dir, &["tls", "cert", "create", "-cli"]);
    assert_eq!(
        String::from_utf8_lossy(&twice.stderr).trim(),
        "Error: Certificate file 'global-cli-nomad.pem' already exists"
    );
    let none = drover(dir, &["tls", "cert", "create"]);
    assert_eq!(
        String::from_utf8_lossy(&none.stderr).trim(),
        "Error: Please provide either -server, -client, or -cli"
    );
    let bad_ip = drover(
        dir,
        &[
            "tls",
            "cert",
            "create",
            "-client",
            "-additional-ipaddress",
            "nope",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&bad_ip.stderr).trim(),
        "Error: -additional-ipaddress: \"nope\" is not an IP address"
    );
}

/// The process's umask (0o022 usually): new files get `mode & !umask`.
fn umask() -> u32 {
    let probe = tempfile::tempdir().unwrap();
    let f = probe.path().join("probe");
    std::fs::File::create(&f).unwrap();
    use std::os::unix::fs::PermissionsExt;
    0o666 & !std::fs::metadata(&f).unwrap().permissions().mode() & 0o777
}

#[test]
fn an_agent_with_a_bad_tls_block_stops_with_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    make_pki(&pki, &IPS, CLIENT_IP);
    // The server's certificate with the client's key.
    let block = tls_block(&pki, "server").replace(
        &pki.join("global-server-nomad-key.pem")
            .display()
            .to_string(),
        &pki.join("global-client-nomad-key.pem")
            .display()
            .to_string(),
    );
    let cases = [
        (block, "tls.key_file: the key in"),
        (
            tls_block(&pki, "server").replace("global-server-nomad.pem", "missing.pem"),
            "tls.cert_file: cannot read",
        ),
        (
            "tls {\n  http = true\n}\n".to_string(),
            "tls.ca_file is required when tls.http or tls.rpc is set",
        ),
        (
            "tls {\n  htp = true\n}\n".to_string(),
            "tls.htp: unknown key",
        ),
    ];
    for (config, want) in cases {
        let file = tmp.path().join("agent.hcl");
        std::fs::write(&file, config).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_drover"))
            .args(["agent", "-dev", "-config"])
            .arg(&file)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        let last = err.trim().lines().last().unwrap_or_default();
        assert!(
            last.starts_with("Error: ") && last.contains(want),
            "{want}: {err}"
        );
    }
}

/// The `tls` block for `cert` (a file prefix in `pki`), HTTPS and mutual
/// TLS on RPC, client certificates not required, server names checked
/// or not.
fn tls_block_with(pki: &Path, cert: &str, verify_server_hostname: bool) -> String {
    let p = |f: &str| pki.join(f).display().to_string();
    format!(
        "tls {{\n  http = true\n  rpc = true\n  ca_file = \"{}\"\n  cert_file = \"{}\"\n  key_file = \"{}\"\n  verify_server_hostname = {verify_server_hostname}\n}}\n",
        p("nomad-agent-ca.pem"),
        p(&format!("{cert}.pem")),
        p(&format!("{cert}-key.pem")),
    )
}

/// Servers are dialled by IP, and their certificates need not name it:
/// with `verify_server_hostname` the name `server.<region>.nomad` is
/// checked, without it only the CA. A server presenting a client's
/// certificate is refused where names are checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_names_are_checked_only_with_verify_server_hostname() {
    let tmp = tempfile::tempdir().unwrap();
    let pki = tmp.path().join("pki");
    std::fs::create_dir_all(&pki).unwrap();
    ok(&drover(&pki, &["tls", "ca", "create"]));
    // Neither names the test's addresses: 127.0.0.1 and localhost only.
    ok(&drover(&pki, &["tls", "cert", "create", "-server"]));
    ok(&drover(&pki, &["tls", "cert", "create", "-client"]));
    let ca = std::fs::read(pki.join("nomad-agent-ca.pem")).unwrap();
    let http = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .danger_accept_invalid_hostnames(true)
        .build()
        .unwrap();

    // A server with a server certificate, and one posing with a client's.
    let one = ["-bootstrap-expect".to_string(), "1".to_string()];
    let real = Server::start(
        &tmp.path().join("real"),
        "127.0.2.120",
        free_port(),
        &one,
        &tls_block_with(&pki, "global-server-nomad", false),
    );
    let fake = Server::start(
        &tmp.path().join("fake"),
        "127.0.2.123",
        free_port(),
        &one,
        &tls_block_with(&pki, "global-client-nomad", false),
    );
    for s in [&real, &fake] {
        until(
            "a leader",
            || s.log(),
            || async {
                let leader = get(&http, &https(s, "/v1/status/leader")).await?;
                leader.as_str().is_some_and(|l| !l.is_empty()).then_some(())
            },
        )
        .await;
    }

    // Clients of the real server register, names checked or not.
    let at = |s: &Server| vec![format!("{}:{}", s.ip, s.http)];
    let checked = Client::start(
        &tmp.path().join("checked"),
        "127.0.2.121",
        &at(&real),
        &tls_block_with(&pki, "global-client-nomad", true),
    );
    let unchecked = Client::start(
        &tmp.path().join("unchecked"),
        "127.0.2.122",
        &at(&real),
        &tls_block_with(&pki, "global-client-nomad", false),
    );
    let both = || format!("{}\n{}", checked_log(&checked), checked_log(&unchecked));
    until("both clients registered", both, || async {
        let nodes = get(&http, &https(&real, "/v1/nodes")).await?;
        let ready = nodes
            .as_array()?
            .iter()
            .filter(|n| n["Status"] == "ready")
            .count();
        (ready == 2).then_some(())
    })
    .await;

    // A client that checks names refuses the server with a client's
    // certificate, and says why.
    let wary = Client::start(
        &tmp.path().join("wary"),
        "127.0.2.124",
        &at(&fake),
        &tls_block_with(&pki, "global-client-nomad", true),
    );
    until(
        "the wary client refusing the fake server",
        || checked_log(&wary),
        || async {
            checked_log(&wary)
                .contains(r#"certificate not valid for name "server.global.nomad""#)
                .then_some(())
        },
    )
    .await;
    let nodes = get(&http, &https(&fake, "/v1/nodes")).await.unwrap();
    assert_eq!(nodes, json!([]), "{}", checked_log(&wary));

    // The CLI checks the address's host, or the name it is given.
    let ca = pki.join("nomad-agent-ca.pem").display().to_string();
    let address = https(&real, "");
    let by_ip = drover(
        tmp.path(),
        &["server", "members", "-address", &address, "-ca-cert", &ca],
    );
    let err = String::from_utf8_lossy(&by_ip.stderr);
    assert!(
        !by_ip.status.success() && err.contains("not valid for name"),
        "{err}"
    );
    let named = drover(
        tmp.path(),
        &[
            "server",
            "members",
            "-address",
            &address,
            "-ca-cert",
            &ca,
            "-tls-server-name",
            "server.global.nomad",
        ],
    );
    assert!(ok(&named).contains("127.0.2.120"));
}

fn checked_log(c: &Client) -> String {
    std::fs::read_to_string(c.dir.join("agent.log")).unwrap_or_default()
}
