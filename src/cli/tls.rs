//! `drover tls ca create` and `drover tls cert create`: a small PKI for a
//! cluster's `tls` block, made with rcgen, with the file names, subject
//! alternative names and extended key usages `nomad tls` gives
//! (`command/tls_ca_create.go`, `command/tls_cert_create.go`): a CA
//! `<domain>-agent-ca.pem`, and certificates `<region>-<role>-<domain>.pem`
//! naming `<role>.<region>.<domain>` and `localhost` (and 127.0.0.1 for
//! servers and clients), good for both server and client authentication
//! so one certificate serves an agent's listeners and its connections.
//!
//! Keys are ECDSA P-256, written with mode 0600; nothing is overwritten.

use std::io::Write;
use std::net::IpAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose,
    GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, SanType,
};

use super::command::dispatch;
use super::flags::{self, FlagError, Kind, Parsed};
use super::output::emit;

pub const USAGE: &str = r#"Usage: drover tls <subcommand> [options]

  Create a certificate authority and certificates for the agents' and the
  CLI's TLS (the agent's tls block), as 'nomad tls' does. Meant for test
  and small clusters.

Subcommands:
    ca      Create a certificate authority
    cert    Create a certificate signed by the certificate authority

Examples:

  $ drover tls ca create
  $ drover tls cert create -server"#;

pub const CA_USAGE: &str = r#"Usage: drover tls ca <subcommand> [options]

  Work with the certificate authority.

Subcommands:
    create    Create a new certificate authority"#;

pub const CERT_USAGE: &str = r#"Usage: drover tls cert <subcommand> [options]

  Work with certificates signed by the certificate authority.

Subcommands:
    create    Create a new certificate"#;

pub const CA_CREATE: &str = r#"Usage: drover tls ca create [options]

  Create a new certificate authority in the current directory:
  <domain>-agent-ca.pem and its key <domain>-agent-ca-key.pem (mode 0600).
  Existing files are never overwritten.

CA Create Options:

  -additional-domain=<domain>
    A DNS zone the CA may sign names in besides -domain and localhost.
    Only with -name-constraint. May be given several times.

  -common-name=<name>
    The CA's common name. Defaults to "Drover Agent CA" and a number of
    its own.

  -days=<n>
    How many days the CA is valid for. Defaults to 1825 (5 years).

  -domain=<domain>
    The cluster's domain, used in the file names. Defaults to "nomad";
    another domain needs -name-constraint.

  -name-constraint
    Restrict the CA to names under -domain, localhost, nomad and each
    -additional-domain.

Examples:

  $ drover tls ca create"#;

pub const CERT_CREATE: &str = r#"Usage: drover tls cert create [options]

  Create a certificate and key signed by the certificate authority, in the
  current directory: <region>-<role>-<domain>.pem and
  <region>-<role>-<domain>-key.pem (mode 0600), for one of the roles
  -server, -client or -cli. The certificate names <role>.<region>.<domain>
  and localhost; server and client certificates also 127.0.0.1. Existing
  files are never overwritten.

Certificate Create Options:

  -additional-dnsname=<name>
    Another DNS name for the certificate. May be given several times.

  -additional-ipaddress=<ip>
    Another IP address for the certificate. May be given several times.

  -ca=<file>
    The CA certificate. Defaults to #DOMAIN#-agent-ca.pem.

  -cli
    Create a certificate for the CLI.

  -client
    Create a certificate for a client agent.

  -days=<n>
    How many days the certificate is valid for. Defaults to 365.

  -domain=<domain>
    The cluster's domain. Defaults to "nomad".

  -key=<file>
    The CA's key. Defaults to #DOMAIN#-agent-ca-key.pem.

  -region=<region>
    The region the certificate is for. Defaults to "global".

  -server
    Create a certificate for a server agent.

Examples:

  $ drover tls cert create -server -additional-ipaddress 10.0.0.5"#;

/// `drover tls ...`.
pub fn run(args: &[String]) -> ExitCode {
    dispatch("tls", args, USAGE, &[("ca", ca), ("cert", cert)])
}

fn ca(args: &[String]) -> ExitCode {
    dispatch("tls ca", args, CA_USAGE, &[("create", ca_create)])
}

fn cert(args: &[String]) -> ExitCode {
    dispatch("tls cert", args, CERT_USAGE, &[("create", cert_create)])
}

/// Parses `args` against `spec`, prints help or a flag error, runs `body`.
fn frame(
    name: &str,
    args: &[String],
    spec: &[(&'static str, Kind)],
    help: &str,
    body: impl FnOnce(&Parsed) -> anyhow::Result<()>,
) -> ExitCode {
    let parsed = match flags::parse(args, spec) {
        Ok(p) => p,
        Err(FlagError::Help) => {
            emit(help);
            return ExitCode::SUCCESS;
        }
        Err(FlagError::Bad(msg)) => {
            eprintln!("Error: {msg} (see 'drover {name} -help')");
            return ExitCode::from(1);
        }
    };
    if !parsed.args.is_empty() {
        eprintln!("Error: this command takes no arguments (see 'drover {name} -help')");
        return ExitCode::from(1);
    }
    match body(&parsed) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn ca_create(args: &[String]) -> ExitCode {
    let spec = [
        ("additional-domain", Kind::Value),
        ("common-name", Kind::Value),
        ("days", Kind::Value),
        ("domain", Kind::Value),
        ("name-constraint", Kind::Bool),
    ];
    frame("tls ca create", args, &spec, CA_CREATE, |p| {
        let days = days(p, 1825)?;
        let domain = p.str("domain", "nomad");
        let constraint = p.bool("name-constraint", false);
        let extra = p.all("additional-domain");
        if domain != "nomad" && !constraint {
            bail!("-domain {domain:?} needs -name-constraint");
        }
        if !extra.is_empty() && !constraint {
            bail!("-additional-domain needs -name-constraint");
        }
        let cert_file = format!("{domain}-agent-ca.pem");
        let key_file = format!("{domain}-agent-ca-key.pem");
        refuse_existing(&cert_file, "CA certificate")?;
        refuse_existing(&key_file, "CA key")?;

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        // A name of its own by default (Nomad adds the serial), so that
        // two CAs made this way never share an issuer name.
        let unique: String = key.public_key_raw()[1..7]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let name = p.str("common-name", &format!("Drover Agent CA {unique}"));
        dn.push(DnType::CommonName, name);
        dn.push(DnType::OrganizationName, "Drover");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params, days);
        if constraint {
            let mut zones = vec![domain.clone(), "localhost".into(), "nomad".into()];
            zones.extend(extra);
            zones.dedup();
            params.name_constraints = Some(NameConstraints {
                permitted_subtrees: zones.into_iter().map(GeneralSubtree::DnsName).collect(),
                excluded_subtrees: Vec::new(),
            });
        }
        let cert = params.self_signed(&key)?;
        write_new(&cert_file, cert.pem().as_bytes(), 0o644)?;
        println!("==> CA certificate saved to: {cert_file}");
        write_new(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
        println!("==> CA certificate key saved to: {key_file}");
        Ok(())
    })
}

fn cert_create(args: &[String]) -> ExitCode {
    let spec = [
        ("additional-dnsname", Kind::Value),
        ("additional-ipaddress", Kind::Value),
        ("ca", Kind::Value),
        ("cli", Kind::Bool),
        ("client", Kind::Bool),
        ("days", Kind::Value),
        ("domain", Kind::Value),
        ("key", Kind::Value),
        ("region", Kind::Value),
        ("server", Kind::Bool),
    ];
    frame("tls cert create", args, &spec, CERT_CREATE, |p| {
        let role = match (
            p.bool("server", false),
            p.bool("client", false),
            p.bool("cli", false),
        ) {
            (true, false, false) => Role::Server,
            (false, true, false) => Role::Client,
            (false, false, true) => Role::Cli,
            _ => bail!("Please provide either -server, -client, or -cli"),
        };
        let days = days(p, 365)?;
        let domain = p.str("domain", "nomad");
        let region = match p.str("region", "") {
            r if !r.is_empty() => r,
            _ => std::env::var("NOMAD_REGION")
                .ok()
                .filter(|r| !r.is_empty())
                .unwrap_or_else(|| "global".into()),
        };
        let ca_file = p
            .str("ca", "#DOMAIN#-agent-ca.pem")
            .replacen("#DOMAIN#", &domain, 1);
        let ca_key_file = p
            .str("key", "#DOMAIN#-agent-ca-key.pem")
            .replacen("#DOMAIN#", &domain, 1);
        let mut ips = Vec::new();
        for ip in p.all("additional-ipaddress") {
            let ip = ip.trim();
            let parsed: IpAddr = ip
                .parse()
                .map_err(|_| anyhow!("-additional-ipaddress: {ip:?} is not an IP address"))?;
            ips.push(parsed);
        }
        let mut names: Vec<String> = p
            .all("additional-dnsname")
            .iter()
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty())
            .collect();
        let role_name = role.name();
        let common_name = format!("{role_name}.{region}.{domain}");
        names.push(common_name.clone());
        names.push("localhost".into());
        if role != Role::Cli {
            ips.push(IpAddr::from([127, 0, 0, 1]));
        }
        let prefix = format!("{region}-{role_name}-{domain}");
        let cert_file = format!("{prefix}.pem");
        let key_file = format!("{prefix}-key.pem");
        refuse_existing(&cert_file, "Certificate")?;
        refuse_existing(&key_file, "Key")?;

        let ca_pem = std::fs::read_to_string(&ca_file)
            .with_context(|| format!("Error reading CA {ca_file}"))?;
        let ca_key = std::fs::read_to_string(&ca_key_file)
            .with_context(|| format!("Error reading CA key {ca_key_file}"))?;
        let ca_key =
            KeyPair::from_pem(&ca_key).map_err(|e| anyhow!("CA key {ca_key_file}: {e}"))?;
        let issuer =
            Issuer::from_ca_cert_pem(&ca_pem, ca_key).map_err(|e| anyhow!("CA {ca_file}: {e}"))?;
        if role == Role::Server {
            eprintln!(
                "==> WARNING: Server Certificates grants authority to become a\n    \
                 server and access all state in the cluster. Do not distribute\n    \
                 them to hosts that are not server nodes. Store them as\n    \
                 securely as CA keys."
            );
        }
        println!("==> Using CA file {ca_file} and CA key {ca_key_file}");

        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::new(names)?;
        params
            .subject_alt_names
            .extend(ips.into_iter().map(SanType::IpAddress));
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        params.distinguished_name = dn;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params, days);
        let cert = params.signed_by(&key, &issuer)?;
        let title = role.title();
        write_new(&cert_file, cert.pem().as_bytes(), 0o644)?;
        println!("==> {title} Certificate saved to {cert_file}");
        write_new(&key_file, key.serialize_pem().as_bytes(), 0o600)?;
        println!("==> {title} Certificate key saved to {key_file}");
        Ok(())
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Server,
    Client,
    Cli,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Server => "server",
            Role::Client => "client",
            Role::Cli => "cli",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Role::Server => "Server",
            Role::Client => "Client",
            Role::Cli => "CLI",
        }
    }
}

/// `-days`: a positive whole number.
fn days(p: &Parsed, default: i64) -> anyhow::Result<i64> {
    let days = match p.int("days") {
        Ok(d) => d.unwrap_or(default),
        Err(FlagError::Bad(msg)) => bail!("{msg}"),
        Err(FlagError::Help) => default,
    };
    if days <= 0 {
        bail!("-days must be a positive number of days, not {days}");
    }
    Ok(days)
}

/// Valid from a minute ago (clocks drift) for `days` days.
fn validity(params: &mut CertificateParams, days: i64) {
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(days);
}

fn refuse_existing(file: &str, what: &str) -> anyhow::Result<()> {
    if Path::new(file).exists() {
        bail!("{what} file '{file}' already exists");
    }
    Ok(())
}

/// Writes a file that must not exist yet, with `mode`.
fn write_new(file: &str, data: &[u8], mode: u32) -> anyhow::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(file)
        .with_context(|| format!("writing {file}"))?;
    f.write_all(data)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("writing {file}"))
}
