//! ACL policies and tokens as Nomad's `api/acl.go` has them on the wire
//! (`/v1/acl/*`).
//!
//! `CreateTime` and `ExpirationTime` are Go `time.Time` values (RFC 3339
//! text; an unset `ExpirationTime` is `null`, a nil pointer);
//! `ExpirationTTL` is a duration in integer nanoseconds.

use serde::{Deserialize, Serialize};

/// A token of type `management` may do anything; a `client` token what its
/// policies allow (Nomad's `ACLManagementToken`, `ACLClientToken`).
pub const ACL_MANAGEMENT_TOKEN: &str = "management";
pub const ACL_CLIENT_TOKEN: &str = "client";

/// A named set of rules (`PUT /v1/acl/policy/:name`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AclPolicy {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    /// The HCL source of the rules, kept as written.
    #[serde(rename = "Rules")]
    pub rules: String,
    /// Nomad's workload-identity binding; stored and served as given.
    #[serde(rename = "JobACL")]
    pub job_acl: Option<JobAcl>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// Which job a policy is attached to (Nomad's `JobACL`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobAcl {
    #[serde(rename = "Namespace")]
    pub namespace: String,
    #[serde(rename = "JobID")]
    pub job_id: String,
    #[serde(rename = "Group")]
    pub group: String,
    #[serde(rename = "Task")]
    pub task: String,
}

/// `GET /v1/acl/policies`: a policy without its rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AclPolicyListStub {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Description")]
    pub description: String,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

impl AclPolicy {
    pub fn stub(&self) -> AclPolicyListStub {
        AclPolicyListStub {
            name: self.name.clone(),
            description: self.description.clone(),
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

/// A token (`/v1/acl/token*`). The `SecretID` is what a caller presents;
/// the `AccessorID` names the token in lists and audit without revealing
/// it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AclToken {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "SecretID")]
    pub secret_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    /// `client` or `management`.
    #[serde(rename = "Type")]
    pub token_type: String,
    #[serde(rename = "Policies", deserialize_with = "crate::null_default")]
    pub policies: Vec<String>,
    /// ACL roles are not supported: always empty.
    #[serde(rename = "Roles", deserialize_with = "crate::null_default")]
    pub roles: Vec<serde_json::Value>,
    #[serde(rename = "Global")]
    pub global: bool,
    /// Unix nanoseconds.
    #[serde(rename = "CreateTime", with = "go_time")]
    pub create_time: i64,
    /// Unix nanoseconds; `None` never expires.
    #[serde(rename = "ExpirationTime", with = "go_time_ptr")]
    pub expiration_time: Option<i64>,
    /// Nanoseconds; on create, sets `ExpirationTime` from `CreateTime`.
    #[serde(rename = "ExpirationTTL")]
    pub expiration_ttl: i64,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

/// `GET /v1/acl/tokens`: a token without its secret.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AclTokenListStub {
    #[serde(rename = "AccessorID")]
    pub accessor_id: String,
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "Type")]
    pub token_type: String,
    #[serde(rename = "Policies", deserialize_with = "crate::null_default")]
    pub policies: Vec<String>,
    #[serde(rename = "Roles", deserialize_with = "crate::null_default")]
    pub roles: Vec<serde_json::Value>,
    #[serde(rename = "Global")]
    pub global: bool,
    #[serde(rename = "CreateTime", with = "go_time")]
    pub create_time: i64,
    #[serde(rename = "ExpirationTime", with = "go_time_ptr")]
    pub expiration_time: Option<i64>,
    #[serde(rename = "CreateIndex")]
    pub create_index: u64,
    #[serde(rename = "ModifyIndex")]
    pub modify_index: u64,
}

impl AclToken {
    pub fn is_management(&self) -> bool {
        self.token_type == ACL_MANAGEMENT_TOKEN
    }

    /// Whether the token has expired at `now` (unix ns): an expiry at or
    /// before `now` is past, as Nomad's `IsExpired`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expiration_time.is_some_and(|t| t <= now)
    }

    pub fn stub(&self) -> AclTokenListStub {
        AclTokenListStub {
            accessor_id: self.accessor_id.clone(),
            name: self.name.clone(),
            token_type: self.token_type.clone(),
            policies: self.policies.clone(),
            roles: self.roles.clone(),
            global: self.global,
            create_time: self.create_time,
            expiration_time: self.expiration_time,
            create_index: self.create_index,
            modify_index: self.modify_index,
        }
    }
}

/// `POST /v1/acl/bootstrap`'s optional body: an operator-chosen secret
/// for the bootstrap token.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AclBootstrapRequest {
    #[serde(rename = "BootstrapSecret")]
    pub bootstrap_secret: String,
}

/// The first text frame of an exec or attach WebSocket opened with
/// `?ws_handshake=true` (Nomad's `wsHandshakeMessage`): browsers cannot
/// set headers on a WebSocket.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WsHandshake {
    pub version: u32,
    pub auth_token: String,
}

/// A Go `time.Time` as RFC 3339 text; the zero time reads as 0.
mod go_time {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::time::format_rfc3339(*v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw.as_deref() {
            None | Some("") => Ok(0),
            Some(t) if t.starts_with("0001-01-01T00:00:00") => Ok(0),
            Some(t) => crate::time::parse_rfc3339(t)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time {t:?}"))),
        }
    }
}

/// A Go `*time.Time`: `null` when unset.
mod go_time_ptr {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(n) => s.serialize_str(&crate::time::format_rfc3339(*n)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        let raw: Option<String> = Option::deserialize(d)?;
        match raw.as_deref() {
            None | Some("") => Ok(None),
            Some(t) if t.starts_with("0001-01-01T00:00:00") => Ok(None),
            Some(t) => crate::time::parse_rfc3339(t)
                .map(Some)
                .ok_or_else(|| serde::de::Error::custom(format!("invalid RFC 3339 time {t:?}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_reads_nomads_json_and_writes_null_expiry() {
        let t: AclToken = serde_json::from_str(
            r#"{"AccessorID":"a","SecretID":"s","Name":"n","Type":"client",
                "Policies":null,"Roles":null,"Global":false,
                "CreateTime":"2023-11-14T22:13:20.5Z","ExpirationTime":null,
                "ExpirationTTL":60000000000,"CreateIndex":1,"ModifyIndex":2}"#,
        )
        .unwrap();
        assert_eq!(t.create_time, 1_700_000_000_500_000_000);
        assert_eq!(t.expiration_time, None);
        assert!(t.policies.is_empty());
        let v = serde_json::to_value(&t).unwrap();
        assert_eq!(v["ExpirationTime"], serde_json::Value::Null);
        assert_eq!(v["CreateTime"], "2023-11-14T22:13:20.5Z");
        assert!(!t.is_expired(i64::MAX));
    }
}
