//! ACL writes (Nomad's `ACLTokenBootstrapRequestType`,
//! `ACLPolicyUpsertRequestType`, `ACLPolicyDeleteRequestType`,
//! `ACLTokenUpsertRequestType`, `ACLTokenDeleteRequestType`).
//!
//! Secrets never enter the log: a token travels as its row, with the
//! SHA-256 of its secret (hex) and an empty `SecretID`. The handler that
//! made the secret shows it once, in its answer.

use drover_api::{AclPolicy, AclToken};
use serde::{Deserialize, Serialize};

/// A token as stored: the token without its secret, and the secret's hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclTokenRow {
    /// `SecretID` is always empty here.
    pub token: AclToken,
    /// Lower-case hex SHA-256 of the secret.
    pub secret_hash: String,
}

/// The first management token. Refused once any bootstrap was applied
/// (Nomad's `ACL bootstrap already done`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclBootstrap {
    pub token: AclTokenRow,
    #[serde(default)]
    pub now: i64,
}

/// Create or replace policies by name (rules validated by the handler).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclPolicyUpsert {
    pub policies: Vec<AclPolicy>,
    #[serde(default)]
    pub now: i64,
}

/// Delete policies by name; all must exist, or nothing is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclPolicyDelete {
    pub names: Vec<String>,
    #[serde(default)]
    pub now: i64,
}

/// Create or replace tokens by accessor. A secret hash held by another
/// accessor is refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclTokenUpsert {
    pub tokens: Vec<AclTokenRow>,
    #[serde(default)]
    pub now: i64,
}

/// Delete tokens by accessor; all must exist, or nothing is deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AclTokenDelete {
    pub accessors: Vec<String>,
    #[serde(default)]
    pub now: i64,
}
