//! The CLI's TLS options (Nomad's): `-ca-cert`, `-client-cert`,
//! `-client-key`, `-tls-skip-verify` and `-tls-server-name`, or
//! `NOMAD_CACERT`, `NOMAD_CLIENT_CERT`, `NOMAD_CLIENT_KEY`,
//! `NOMAD_SKIP_VERIFY` and `NOMAD_TLS_SERVER_NAME` (the `DROVER_`
//! spellings first), for an agent whose API is HTTPS (`-address
//! https://...`).
//!
//! With a CA, only that CA is trusted, and the agent's certificate must
//! name the host of the address, or `-tls-server-name` when given (an
//! agent reached by an IP its certificate does not name:
//! `server.global.nomad`) (the certificates `drover tls cert
//! create` makes name `localhost` and 127.0.0.1). A client certificate is
//! presented when the agent asks for one (`verify_https_client`).

use std::sync::Arc;

use anyhow::{anyhow, bail};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::flags::{Kind, Parsed};

/// The TLS flags, to add to a command's flags.
pub const AGENT_FLAGS: &[(&str, Kind)] = &[
    ("token", Kind::Value),
    ("ca-cert", Kind::Value),
    ("client-cert", Kind::Value),
    ("client-key", Kind::Value),
    ("tls-skip-verify", Kind::Bool),
    ("tls-server-name", Kind::Value),
];

/// The flag if given, else the first variable set.
fn setting(p: &Parsed, flag: &str, vars: &[&str]) -> Option<String> {
    p.given(flag)
        .then(|| p.str(flag, ""))
        .filter(|v| !v.is_empty())
        .or_else(|| {
            vars.iter()
                .find_map(|v| std::env::var(v).ok().filter(|v| !v.is_empty()))
        })
}

/// How the CLI reaches an agent: its HTTP client, and the TLS settings
/// of a `wss://` session (`None` unless a CA or `-tls-skip-verify` says
/// whom to trust).
pub struct Transport {
    pub http: reqwest::Client,
    pub ws_tls: Option<Arc<rustls::ClientConfig>>,
    /// The ACL token (`-token`, `DROVER_TOKEN`, `NOMAD_TOKEN`), which
    /// `http` already sends; WebSocket sessions send it themselves.
    pub token: Option<String>,
}

/// The transport the flags and environment ask for, to the agent at
/// `base`.
pub fn transport(p: &Parsed, base: &str) -> anyhow::Result<Transport> {
    let token = setting(p, "token", &["DROVER_TOKEN", "NOMAD_TOKEN"]);
    let with_token = |b: reqwest::ClientBuilder| with_token(b, token.as_deref());
    let ca = setting(p, "ca-cert", &["DROVER_CACERT", "NOMAD_CACERT"]);
    let cert = setting(
        p,
        "client-cert",
        &["DROVER_CLIENT_CERT", "NOMAD_CLIENT_CERT"],
    );
    let key = setting(p, "client-key", &["DROVER_CLIENT_KEY", "NOMAD_CLIENT_KEY"]);
    let skip = if p.given("tls-skip-verify") {
        p.bool("tls-skip-verify", false)
    } else {
        match setting(p, "", &["DROVER_SKIP_VERIFY", "NOMAD_SKIP_VERIFY"]) {
            None => false,
            Some(v) => parse_bool(&v).ok_or_else(|| {
                anyhow!("NOMAD_SKIP_VERIFY: {v:?} is not a boolean (true or false)")
            })?,
        }
    };
    let server_name = setting(
        p,
        "tls-server-name",
        &["DROVER_TLS_SERVER_NAME", "NOMAD_TLS_SERVER_NAME"],
    )
    .map(|n| ServerName::try_from(n.clone()).map_err(|e| anyhow!("-tls-server-name: {n:?}: {e}")))
    .transpose()?;
    if server_name.is_some() && ca.is_none() && !skip {
        bail!("-tls-server-name needs -ca-cert (or NOMAD_CACERT)");
    }
    let identity = match (cert, key) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(&cert)
                .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                .map_err(|e| anyhow!("-client-cert: {cert}: {e}"))?;
            if chain.is_empty() {
                bail!("-client-cert: {cert} holds no PEM certificate");
            }
            let key = PrivateKeyDer::from_pem_file(&key)
                .map_err(|e| anyhow!("-client-key: {key}: {e}"))?;
            Some((chain, key))
        }
        (Some(_), None) => bail!("-client-cert needs -client-key (or NOMAD_CLIENT_KEY)"),
        (None, Some(_)) => bail!("-client-key needs -client-cert (or NOMAD_CLIENT_CERT)"),
        (None, None) => None,
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow!("setting up TLS: {e}"))?;
    let builder = if skip {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SkipVerify(provider)))
    } else if let Some(ca) = &ca {
        let mut roots = RootCertStore::empty();
        let certs = CertificateDer::pem_file_iter(ca)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| anyhow!("-ca-cert: {ca}: {e}"))?;
        if certs.is_empty() {
            bail!("-ca-cert: {ca} holds no PEM certificate");
        }
        for c in certs {
            roots.add(c).map_err(|e| anyhow!("-ca-cert: {ca}: {e}"))?;
        }
        match server_name {
            None => builder.with_root_certificates(roots),
            Some(name) => {
                let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| anyhow!("-ca-cert: {ca}: {e}"))?;
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(NamedVerifier { inner, name }))
            }
        }
    } else if !base.starts_with("https://") {
        // Plain HTTP: settings that trust nothing, so that reqwest does not
        // load the system's CA store (which a minimal container lacks).
        let http = with_token(reqwest::Client::builder())
            .use_preconfigured_tls(drover_server::tls::no_tls())
            .build()
            .map_err(|e| anyhow!("setting up the HTTP client: {e}"))?;
        return Ok(Transport {
            http,
            ws_tls: None,
            token,
        });
    } else {
        // HTTPS with no CA named: reqwest's own trust (the system's
        // roots), and no TLS for WebSocket sessions.
        let mut http = with_token(reqwest::Client::builder());
        if let Some((chain, key)) = identity {
            let mut pem = Vec::new();
            for c in &chain {
                pem.extend(pem_block("CERTIFICATE", c));
            }
            pem.extend(pem_block("PRIVATE KEY", key.secret_der()));
            http = http.identity(
                reqwest::Identity::from_pem(&pem)
                    .map_err(|e| anyhow!("-client-cert/-client-key: {e}"))?,
            );
        }
        let http = http.build().map_err(|e| anyhow!("setting up TLS: {e}"))?;
        return Ok(Transport {
            http,
            ws_tls: None,
            token,
        });
    };
    let mut config = match identity {
        Some((chain, key)) => builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| anyhow!("-client-cert/-client-key: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let mut ws = config.clone();
    ws.alpn_protocols = vec![b"http/1.1".to_vec()];
    let http = with_token(reqwest::Client::builder())
        .use_preconfigured_tls(config)
        .build()
        .map_err(|e| anyhow!("setting up TLS: {e}"))?;
    Ok(Transport {
        http,
        ws_tls: Some(Arc::new(ws)),
        token,
    })
}

/// `der` as a PEM block.
fn pem_block(label: &str, der: &[u8]) -> Vec<u8> {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// `-tls-server-name`: the CA's check, against that name rather than the
/// address's host.
#[derive(Debug)]
struct NamedVerifier {
    inner: Arc<WebPkiServerVerifier>,
    name: ServerName<'static>,
}

impl ServerCertVerifier for NamedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        self.inner
            .verify_server_cert(end_entity, intermediates, &self.name, ocsp, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// `-tls-skip-verify`: any certificate is accepted; the handshake's
/// signatures are still checked, so the session is at least consistent.
#[derive(Debug)]
struct SkipVerify(Arc<CryptoProvider>);

impl ServerCertVerifier for SkipVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Every request carries the ACL token, if one is given.
fn with_token(builder: reqwest::ClientBuilder, token: Option<&str>) -> reqwest::ClientBuilder {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(v) = token.and_then(|t| reqwest::header::HeaderValue::from_str(t).ok()) {
        headers.insert("X-Nomad-Token", v);
    }
    builder.default_headers(headers)
}
