//! TLS for an agent's listeners and for the connections it makes: Nomad's
//! `tls` block (<https://developer.hashicorp.com/nomad/docs/configuration/tls>),
//! with rustls and its aws-lc-rs provider.
//!
//! One CA signs every agent's certificate. With `rpc = true` the RPC port
//! takes only peers that present a certificate from that CA (mutual TLS,
//! as Nomad's RPC listener always verifies incoming connections), and a
//! server dials other servers presenting its own. With `http = true` the
//! HTTP API is HTTPS; `verify_https_client` makes a client certificate from
//! the CA mandatory there. Without it one is still checked when a peer
//! offers it, so a client agent with a certificate from another CA is
//! refused, and the server logs why.
//!
//! Connections an agent makes to servers (Raft, forwarding, a client's
//! register and heartbeats) check that the peer's certificate chains to
//! the CA; with `verify_server_hostname` it must also name
//! `server.<region>.nomad`, as Nomad's `VerifyServerHostname` does, so a
//! client certificate cannot pose as a server. The host in the URL (an IP
//! address) is never what is checked: servers are dialled by IP.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig,
    SignatureScheme,
};

/// The `tls` block as configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// HTTPS on the HTTP API (and the client agents' HTTP API).
    pub http: bool,
    /// Mutual TLS on the RPC port.
    pub rpc: bool,
    pub ca_file: PathBuf,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
    /// Servers must present `server.<region>.nomad`.
    pub verify_server_hostname: bool,
    /// The HTTP API requires a client certificate from the CA.
    pub verify_https_client: bool,
}

impl TlsOptions {
    /// Whether TLS is on anywhere.
    pub fn enabled(&self) -> bool {
        self.http || self.rpc
    }
}

/// Why the `tls` block could not be loaded: one line naming the setting
/// and the file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("tls.{field} is required when tls.http or tls.rpc is set")]
    Missing { field: &'static str },
    #[error("tls.{field}: cannot read {path}: {source}")]
    Read {
        field: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("tls.{field}: {path} holds no PEM certificate")]
    NoCertificate { field: &'static str, path: PathBuf },
    #[error("tls.{field}: {path}: {message}")]
    Invalid {
        field: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("tls.key_file: the key in {key} does not match the certificate in {cert}")]
    KeyMismatch { key: PathBuf, cert: PathBuf },
    #[error("tls: {0}")]
    Config(String),
}

/// The loaded `tls` block: the CA, this agent's certificate and key, and
/// the checks asked for. Cheap to share behind an `Arc`.
pub struct Tls {
    pub http: bool,
    pub rpc: bool,
    verify_server_hostname: bool,
    verify_https_client: bool,
    /// `server.<region>.nomad`, what a server must present when
    /// `verify_server_hostname` is on.
    server_name: ServerName<'static>,
    roots: Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    provider: Arc<CryptoProvider>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("http", &self.http)
            .field("rpc", &self.rpc)
            .field("verify_server_hostname", &self.verify_server_hostname)
            .field("verify_https_client", &self.verify_https_client)
            .finish_non_exhaustive()
    }
}

/// Whom a connection this agent makes must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Peer {
    /// A server: with `verify_server_hostname`, its certificate must name
    /// `server.<region>.nomad`.
    Server,
    /// A client node (a request relayed to the node that runs an
    /// allocation): any certificate from the CA.
    Node,
}

/// ALPN for the RPC port: HTTP/2 only.
pub const ALPN_H2: &[&[u8]] = &[b"h2"];
/// ALPN for the HTTP API's server side: HTTP/2 or HTTP/1.1.
pub const ALPN_HTTP: &[&[u8]] = &[b"h2", b"http/1.1"];
/// ALPN for an agent's calls to an HTTP API (a client's to servers, a
/// server's to nodes): HTTP/1.1, as over plain HTTP, and what a WebSocket
/// needs.
pub const ALPN_HTTP1: &[&[u8]] = &[b"http/1.1"];

impl Tls {
    /// Reads and checks the files of `opts`: each readable, the CA and the
    /// certificate PEM certificates, the key a PEM key that matches the
    /// certificate.
    pub fn load(opts: &TlsOptions, region: &str) -> Result<Tls, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let ca = certificates("ca_file", &opts.ca_file)?;
        let mut roots = RootCertStore::empty();
        for cert in ca {
            roots.add(cert).map_err(|e| TlsError::Invalid {
                field: "ca_file",
                path: opts.ca_file.clone(),
                message: e.to_string(),
            })?;
        }
        let chain = certificates("cert_file", &opts.cert_file)?;
        let key = private_key(&opts.key_file)?;
        let certified =
            rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider)
                .map_err(|e| match e {
                    rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                        key: opts.key_file.clone(),
                        cert: opts.cert_file.clone(),
                    },
                    e => TlsError::Invalid {
                        field: "key_file",
                        path: opts.key_file.clone(),
                        message: e.to_string(),
                    },
                })?;
        drop(certified);
        let server_name = ServerName::try_from(format!("server.{region}.nomad"))
            .map_err(|e| TlsError::Config(format!("region {region:?}: {e}")))?;
        Ok(Tls {
            http: opts.http,
            rpc: opts.rpc,
            verify_server_hostname: opts.verify_server_hostname,
            verify_https_client: opts.verify_https_client,
            server_name,
            roots: Arc::new(roots),
            chain,
            key,
            provider,
        })
    }

    /// The HTTP API's server side: client certificates from the CA
    /// required with `verify_https_client`, else checked when offered.
    pub fn http_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.server_config(self.verify_https_client, ALPN_HTTP)
    }

    /// The RPC port's server side: a certificate from the CA required.
    pub fn rpc_server(&self) -> Result<Arc<ServerConfig>, TlsError> {
        self.server_config(true, ALPN_H2)
    }

    fn server_config(
        &self,
        require_client: bool,
        alpn: &[&[u8]],
    ) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(self.roots.clone(), self.provider.clone());
        let verifier = if require_client {
            verifier
        } else {
            verifier.allow_unauthenticated()
        };
        let verifier = verifier
            .build()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let mut config = ServerConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }

    /// The client side of a connection to `peer`, presenting this agent's
    /// certificate, offering `alpn`.
    pub fn client(&self, peer: Peer, alpn: &[&[u8]]) -> Result<ClientConfig, TlsError> {
        let inner =
            WebPkiServerVerifier::builder_with_provider(self.roots.clone(), self.provider.clone())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        let expect =
            (peer == Peer::Server && self.verify_server_hostname).then(|| self.server_name.clone());
        let verifier = Arc::new(CaVerifier { inner, expect });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_client_auth_cert(self.chain.clone(), self.key.clone_key())
            .map_err(|e| TlsError::Config(e.to_string()))?;
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        Ok(config)
    }

    /// The URL scheme of the HTTP API: `https` with `http = true`.
    pub fn http_scheme(tls: Option<&Tls>) -> &'static str {
        match tls {
            Some(t) if t.http => "https",
            _ => "http",
        }
    }
}

/// The TLS settings of a client that only speaks plain HTTP: no roots, so
/// an `https://` URL fails its handshake. Handed to reqwest so that it
/// never builds its own default, which loads the system's CA store on
/// every client built, and fails where there is none (a minimal
/// container).
pub fn no_tls() -> ClientConfig {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        // Invariant: aws-lc-rs's default provider supports TLS 1.2 and
        // 1.3, the safe defaults, so this cannot fail.
        .expect("aws-lc-rs supports the default TLS versions")
        .with_root_certificates(RootCertStore::empty())
        .with_no_client_auth()
}

/// The certificates of a PEM file, at least one.
fn certificates(
    field: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        field,
        path: path.to_path_buf(),
        source,
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            field,
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            field,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// The private key of a PEM file (PKCS#8, SEC1 or PKCS#1).
fn private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let pem = std::fs::read(path).map_err(|source| TlsError::Read {
        field: "key_file",
        path: path.to_path_buf(),
        source,
    })?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| TlsError::Invalid {
        field: "key_file",
        path: path.to_path_buf(),
        message: format!("no PEM private key ({e})"),
    })
}

/// Checks a server's certificate against the CA, and against the name
/// `expect` when set, whatever host the URL names; without `expect`, a
/// certificate that chains to the CA is enough (webpki checks the chain
/// before the name, so a name mismatch means the chain was good).
#[derive(Debug)]
struct CaVerifier {
    inner: Arc<WebPkiServerVerifier>,
    expect: Option<ServerName<'static>>,
}

impl ServerCertVerifier for CaVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(name) = &self.expect {
            return self.inner.verify_server_cert(
                end_entity,
                intermediates,
                name,
                ocsp_response,
                now,
            );
        }
        match self.inner.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        ) {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
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
