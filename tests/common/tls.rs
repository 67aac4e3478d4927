//! What the TLS tests share: a PKI made by the binary (`drover tls`), the
//! agents' `tls` block, an HTTPS client trusting only its CA, and a poll
//! with a deadline.

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use super::DEADLINE;

/// `drover <args>` in `dir`; the CLI's TLS and region variables of the
/// environment are not passed on.
pub fn drover_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drover"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env_remove("NOMAD_CACERT")
        .env_remove("NOMAD_CLIENT_CERT")
        .env_remove("NOMAD_CLIENT_KEY")
        .env_remove("NOMAD_REGION")
        .output()
        .expect("drover runs")
}

/// [`drover_in`], asserting it succeeds.
pub fn drover_ok(dir: &Path, args: &[&str]) -> Output {
    let out = drover_in(dir, args);
    assert!(
        out.status.success(),
        "drover {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A CA and server, client and CLI certificates in `dir`, made by the
/// binary; the server certificate also names `server_ips`, the client's
/// `client_ip`.
pub fn make_pki(dir: &Path, server_ips: &[&str], client_ip: &str) {
    std::fs::create_dir_all(dir).unwrap();
    drover_ok(dir, &["tls", "ca", "create"]);
    let mut server = vec!["tls", "cert", "create", "-server"];
    for ip in server_ips {
        server.extend(["-additional-ipaddress", ip]);
    }
    drover_ok(dir, &server);
    drover_ok(
        dir,
        &[
            "tls",
            "cert",
            "create",
            "-client",
            "-additional-ipaddress",
            client_ip,
        ],
    );
    drover_ok(dir, &["tls", "cert", "create", "-cli"]);
}

/// The `tls` block for an agent with `role`'s certificate: HTTPS with
/// client certificates required, mutual TLS on RPC, server names checked.
pub fn tls_block(pki: &Path, role: &str) -> String {
    let p = |f: &str| pki.join(f).display().to_string();
    format!(
        "tls {{\n  http = true\n  rpc = true\n  ca_file = \"{}\"\n  cert_file = \"{}\"\n  key_file = \"{}\"\n  verify_server_hostname = true\n  verify_https_client = true\n}}\n",
        p("nomad-agent-ca.pem"),
        p(&format!("global-{role}-nomad.pem")),
        p(&format!("global-{role}-nomad-key.pem")),
    )
}

/// An HTTPS client trusting only the test CA; it presents the CLI's
/// certificate when `with_cert`.
pub fn https_client(pki: &Path, with_cert: bool) -> reqwest::Client {
    let ca = std::fs::read(pki.join("nomad-agent-ca.pem")).unwrap();
    let mut builder = reqwest::Client::builder()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap());
    if with_cert {
        let mut identity = std::fs::read(pki.join("global-cli-nomad.pem")).unwrap();
        identity.extend(std::fs::read(pki.join("global-cli-nomad-key.pem")).unwrap());
        builder = builder.identity(reqwest::Identity::from_pem(&identity).unwrap());
    }
    builder.build().unwrap()
}

/// Polls `f` until it gives `Some`, failing with `what` and `log` after
/// the deadline.
pub async fn until<T, F, Fut>(what: &str, log: impl Fn() -> String, f: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "timed out waiting for {what}\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
