//! The agent's `tls` block (Nomad's `TLSConfig`,
//! <https://developer.hashicorp.com/nomad/docs/configuration/tls>): read
//! from config files, merged key by key, then loaded with rustls when the
//! agent starts, so a missing file, a key that does not match its
//! certificate or a file that is not PEM stops the agent with one line
//! naming the key.

use std::path::PathBuf;
use std::sync::Arc;

use drover_server::tls::{Tls, TlsOptions};

use super::parse::{Entries, Walker};

/// `tls { ... }` as one config file says it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsLayer {
    pub http: Option<bool>,
    pub rpc: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verify_server_hostname: Option<bool>,
    pub verify_https_client: Option<bool>,
}

/// Keys of Nomad's `tls` block that Drover reads but does not act on.
const NOMAD_TLS: &[&str] = &[
    "rpc_upgrade_mode",
    "tls_cipher_suites",
    "tls_min_version",
    "tls_prefer_server_cipher_suites",
];

impl Walker<'_> {
    /// `tls { ... }`.
    pub(super) fn tls(&mut self, entries: Entries, layer: &mut TlsLayer) -> anyhow::Result<()> {
        for (key, item) in entries {
            let path = format!("tls.{key}");
            match key.as_str() {
                "http" => layer.http = Some(self.bool(&path, item)?),
                "rpc" => layer.rpc = Some(self.bool(&path, item)?),
                "ca_file" => layer.ca_file = self.string(&path, item)?.map(PathBuf::from),
                "cert_file" => layer.cert_file = self.string(&path, item)?.map(PathBuf::from),
                "key_file" => layer.key_file = self.string(&path, item)?.map(PathBuf::from),
                "verify_server_hostname" => {
                    layer.verify_server_hostname = Some(self.bool(&path, item)?)
                }
                "verify_https_client" => layer.verify_https_client = Some(self.bool(&path, item)?),
                k if NOMAD_TLS.contains(&k) => self.ignored(&path),
                _ => return Err(self.unknown(&path)),
            }
        }
        Ok(())
    }
}

/// Lays `layer` over `opts`: what the layer says wins, key by key.
pub fn merge(mut opts: TlsOptions, layer: TlsLayer) -> TlsOptions {
    fn set<T>(target: &mut T, value: Option<T>) {
        if let Some(value) = value {
            *target = value;
        }
    }
    set(&mut opts.http, layer.http);
    set(&mut opts.rpc, layer.rpc);
    set(&mut opts.ca_file, layer.ca_file);
    set(&mut opts.cert_file, layer.cert_file);
    set(&mut opts.key_file, layer.key_file);
    set(
        &mut opts.verify_server_hostname,
        layer.verify_server_hostname,
    );
    set(&mut opts.verify_https_client, layer.verify_https_client);
    opts
}

/// The loaded `tls` block, or `None` when neither `http` nor `rpc` is on.
/// Each of the three files is required then, as in Nomad.
pub fn load(opts: &TlsOptions, region: &str) -> anyhow::Result<Option<Arc<Tls>>> {
    if !opts.enabled() {
        return Ok(None);
    }
    for (field, path) in [
        ("ca_file", &opts.ca_file),
        ("cert_file", &opts.cert_file),
        ("key_file", &opts.key_file),
    ] {
        if path.as_os_str().is_empty() {
            return Err(drover_server::tls::TlsError::Missing { field }.into());
        }
    }
    Ok(Some(Arc::new(Tls::load(opts, region)?)))
}
