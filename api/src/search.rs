//! `PUT /v1/search` and `PUT /v1/search/fuzzy` (nomad/structs/search.go).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Nanos;

/// What a read reports inside its body, where Nomad embeds `QueryMeta`
/// in the response struct (the search and scheduler configuration reads).
/// `LastContact` is a Go duration: nanoseconds, unlike the header's
/// milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct QueryMetaBody {
    #[serde(rename = "Index")]
    pub index: u64,
    #[serde(rename = "LastContact")]
    pub last_contact: Nanos,
    #[serde(rename = "KnownLeader")]
    pub known_leader: bool,
    #[serde(rename = "NextToken")]
    pub next_token: String,
}

/// `PUT /v1/search`: IDs (names for node pools and namespaces) that start
/// with `Prefix`, in one context or `all`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchRequest {
    #[serde(rename = "Prefix")]
    pub prefix: String,
    #[serde(rename = "Context")]
    pub context: String,
    /// Used when the query string names no namespace (Nomad's embedded
    /// `QueryOptions`); `*` is every namespace.
    #[serde(rename = "Namespace")]
    pub namespace: String,
}

/// Each context's matches (`null` when none matched, as Go's nil slice),
/// and whether more than the ones listed would have matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SearchResponse {
    #[serde(rename = "Matches")]
    pub matches: BTreeMap<String, Option<Vec<String>>>,
    #[serde(rename = "Truncations")]
    pub truncations: BTreeMap<String, bool>,
    #[serde(flatten)]
    pub meta: QueryMetaBody,
}

/// `PUT /v1/search/fuzzy`: names that contain `Text`, ignoring case.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FuzzySearchRequest {
    #[serde(rename = "Text")]
    pub text: String,
    #[serde(rename = "Context")]
    pub context: String,
    #[serde(rename = "Namespace")]
    pub namespace: String,
    /// The ID prefix the contexts searched by ID prefix start their walk
    /// at (Nomad's `QueryOptions.Prefix`, also `?prefix=`).
    #[serde(rename = "Prefix")]
    pub prefix: String,
}

/// One fuzzy match: the name that matched and, for what lives inside
/// something else, the IDs of its parents from the namespace down
/// (`[namespace, job, group, task]` for a task's image).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FuzzyMatch {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Scope", skip_serializing_if = "Vec::is_empty")]
    pub scope: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FuzzySearchResponse {
    #[serde(rename = "Matches")]
    pub matches: BTreeMap<String, Vec<FuzzyMatch>>,
    #[serde(rename = "Truncations")]
    pub truncations: BTreeMap<String, bool>,
    #[serde(flatten)]
    pub meta: QueryMetaBody,
}
