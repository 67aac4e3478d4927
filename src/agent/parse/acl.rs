//! The agent's `acl { ... }` block (Nomad's `ACLConfig`).

use super::{Entries, Walker};
use crate::agent::config::ConfigLayer;

/// Keys of Nomad's `acl` block that Drover does not act on: it caches
/// nothing across requests and has no regions to replicate from.
const NOMAD_ACL: &[&str] = &["token_ttl", "policy_ttl", "role_ttl", "replication_token"];

impl Walker<'_> {
    pub(super) fn acl(&mut self, entries: Entries, layer: &mut ConfigLayer) -> anyhow::Result<()> {
        for (key, item) in entries {
            let path = format!("acl.{key}");
            match key.as_str() {
                "enabled" => layer.acl.enabled = Some(self.bool(&path, item)?),
                "token_min_expiration_ttl" => {
                    layer.acl.token_min_expiration_ttl = Some(self.duration(&path, item)?)
                }
                "token_max_expiration_ttl" => {
                    layer.acl.token_max_expiration_ttl = Some(self.duration(&path, item)?)
                }
                k if NOMAD_ACL.contains(&k) => self.ignored(&path),
                _ => return Err(self.unknown(&path)),
            }
        }
        Ok(())
    }
}
