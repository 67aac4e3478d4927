//! What each `/v1` route needs of a token: the "ACL Required" column of
//! Nomad's API documentation (website/content/api-docs/*.mdx), in one
//! table so that a test can walk it.
//!
//! A path pattern is split on `/`: `*` is one segment, `**` the rest.

use axum::http::Method;

/// Namespace capabilities, any one of which suffices.
pub type Caps = &'static [&'static str];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No token needed (status, health, regions, metrics; the bootstrap,
    /// which refuses itself once done).
    Nothing,
    /// A management token.
    Management,
    /// One of the capabilities in the request's namespace (`namespace=`
    /// or `X-Nomad-Namespace`, `default` when neither).
    Ns(Caps),
    /// One of the capabilities in the namespace of the job in the body
    /// (`Job.Namespace`), which is the one a register writes to.
    JobBodyNs(Caps),
    /// One of the capabilities in the namespace of the allocation the
    /// path names; a raw_exec task's exec also needs `alloc-node-exec`.
    AllocNs(Caps),
    /// Any capability in the namespace the path names (`AllowNamespace`).
    NamedNs,
    NodeRead,
    NodeWrite,
    /// `read` in some node pool (lists omit the rest).
    NodePoolRead,
    AgentRead,
    AgentWrite,
    OperatorRead,
    OperatorWrite,
    /// `snapshot-save` among the operator capabilities, or operator write.
    OperatorSnapshotSave,
    /// A token of any kind; anonymous is refused.
    AnyToken,
    /// Per topic (`topic=`): job-like topics need `read-job`, `Node`
    /// needs node read, anything else a management token.
    EventStream,
    /// Checked by the handler, which knows the object (a policy the token
    /// holds, a token's own accessor).
    Handler,
    /// The client nodes' own calls (`/v1/internal/node/*`), which carry a
    /// node's identity, not a user's token.
    NodeRpc,
}

pub const READ_JOB: Caps = &["read-job"];
pub const LIST_JOBS: Caps = &["list-jobs"];
pub const SUBMIT_JOB: Caps = &["submit-job"];
pub const REGISTER_JOB: Caps = &["submit-job", "register-job"];
pub const READ_JOB_SCALING: Caps = &["read-job-scaling", "read-job"];
pub const SCALE_JOB: Caps = &["scale-job", "submit-job"];
pub const ALLOC_LIFECYCLE: Caps = &["alloc-lifecycle"];
pub const ALLOC_EXEC: Caps = &["alloc-exec"];
pub const READ_FS: Caps = &["read-fs"];
pub const READ_LOGS: Caps = &["read-logs", "read-fs"];

/// Which methods a row is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum On {
    Get,
    /// `PUT` or `POST`.
    Write,
    Delete,
    Any,
}

impl On {
    fn matches(self, m: &Method) -> bool {
        match self {
            On::Get => m == Method::GET || m == Method::HEAD,
            On::Write => m == Method::PUT || m == Method::POST,
            On::Delete => m == Method::DELETE,
            On::Any => true,
        }
    }
}

/// The table: first match wins.
pub const ROUTES: &[(On, &str, Need)] = &[
    // ACLs (nomad api-docs/acl/*.mdx).
    (On::Write, "/v1/acl/bootstrap", Need::Nothing),
    (On::Get, "/v1/acl/policies", Need::Handler),
    (On::Get, "/v1/acl/policy/*", Need::Handler),
    (On::Write, "/v1/acl/policy/*", Need::Management),
    (On::Delete, "/v1/acl/policy/*", Need::Management),
    (On::Get, "/v1/acl/tokens", Need::Management),
    (On::Write, "/v1/acl/token", Need::Management),
    (On::Get, "/v1/acl/token/self", Need::AnyToken),
    (On::Get, "/v1/acl/token/*", Need::Handler),
    (On::Write, "/v1/acl/token/*", Need::Management),
    (On::Delete, "/v1/acl/token/*", Need::Management),
    // Jobs (api-docs/jobs.mdx).
    (On::Get, "/v1/jobs", Need::Ns(LIST_JOBS)),
    (On::Write, "/v1/jobs", Need::JobBodyNs(REGISTER_JOB)),
    (On::Write, "/v1/jobs/parse", Need::Ns(&["parse-job"])),
    (On::Write, "/v1/validate/job", Need::Ns(READ_JOB)),
    (On::Get, "/v1/job/*/scale", Need::Ns(READ_JOB_SCALING)),
    (On::Write, "/v1/job/*/scale", Need::Ns(SCALE_JOB)),
    (
        On::Write,
        "/v1/job/*/evaluate",
        Need::Ns(&["submit-job", "evaluate-job"]),
    ),
    (On::Write, "/v1/job/*/dispatch", Need::Ns(&["dispatch-job"])),
    (
        On::Write,
        "/v1/job/*/plan",
        Need::JobBodyNs(&["submit-job", "plan-job"]),
    ),
    (
        On::Write,
        "/v1/job/*/revert",
        Need::Ns(&["submit-job", "revert-job"]),
    ),
    (
        On::Write,
        "/v1/job/*/stable",
        Need::Ns(&["submit-job", "stable-job"]),
    ),
    (On::Write, "/v1/job/*", Need::JobBodyNs(REGISTER_JOB)),
    (On::Get, "/v1/job/**", Need::Ns(READ_JOB)),
    (On::Write, "/v1/job/**", Need::Ns(SUBMIT_JOB)),
    (
        On::Delete,
        "/v1/job/*",
        Need::Ns(&["submit-job", "purge-job", "deregister-job"]),
    ),
    // Allocations (api-docs/allocations.mdx).
    (On::Get, "/v1/allocations", Need::Ns(READ_JOB)),
    (
        On::Write,
        "/v1/allocation/*/stop",
        Need::AllocNs(ALLOC_LIFECYCLE),
    ),
    (On::Get, "/v1/allocation/**", Need::AllocNs(READ_JOB)),
    // Evaluations (api-docs/evaluations.mdx).
    (On::Get, "/v1/evaluations", Need::Ns(READ_JOB)),
    (On::Get, "/v1/evaluations/count", Need::Ns(READ_JOB)),
    (On::Delete, "/v1/evaluations", Need::Management),
    (On::Get, "/v1/evaluation/**", Need::Ns(READ_JOB)),
    // Deployments (api-docs/deployments.mdx).
    (On::Get, "/v1/deployments", Need::Ns(READ_JOB)),
    (On::Get, "/v1/deployment/**", Need::Ns(READ_JOB)),
    (
        On::Write,
        "/v1/deployment/promote/*",
        Need::Ns(&["submit-job", "promote-deployment"]),
    ),
    (
        On::Write,
        "/v1/deployment/fail/*",
        Need::Ns(&["submit-job", "fail-deployment"]),
    ),
    (
        On::Write,
        "/v1/deployment/pause/*",
        Need::Ns(&["submit-job", "pause-deployment"]),
    ),
    (
        On::Write,
        "/v1/deployment/allocation-health/*",
        Need::Ns(&["submit-job", "set-alloc-health-deployment"]),
    ),
    (On::Write, "/v1/deployment/**", Need::Ns(SUBMIT_JOB)),
    // Nodes and node pools (api-docs/nodes.mdx, node-pools.mdx).
    (On::Get, "/v1/nodes", Need::NodeRead),
    (On::Get, "/v1/node/pools", Need::NodePoolRead),
    // nomad/node_pool_endpoint.go `ListJobs`: the pool's read.
    (On::Get, "/v1/node/pool/*/jobs", Need::NodePoolRead),
    (On::Get, "/v1/node/pool/*/nodes", Need::NodeRead),
    (On::Get, "/v1/node/pool/*", Need::NodePoolRead),
    (On::Get, "/v1/node/**", Need::NodeRead),
    (On::Write, "/v1/node/**", Need::NodeWrite),
    // Search, scaling, namespaces.
    (
        On::Write,
        "/v1/search",
        Need::Ns(&["list-jobs", "read-job"]),
    ),
    (
        On::Write,
        "/v1/search/fuzzy",
        Need::Ns(&["list-jobs", "read-job"]),
    ),
    (
        On::Get,
        "/v1/scaling/policies",
        Need::Ns(&["list-scaling-policies"]),
    ),
    (
        On::Get,
        "/v1/scaling/policy/*",
        Need::Ns(&["read-scaling-policy"]),
    ),
    (On::Get, "/v1/namespaces", Need::AnyToken),
    (On::Get, "/v1/namespace/*", Need::NamedNs),
    (On::Any, "/v1/namespace/**", Need::Management),
    (On::Write, "/v1/system/gc", Need::Management),
    (
        On::Write,
        "/v1/system/reconcile/summaries",
        Need::Management,
    ),
    // The client nodes' calls.
    (On::Any, "/v1/internal/node/**", Need::NodeRpc),
    // A client-only agent's question about its caller's token: the
    // handler checks that token, not the asker's.
    (On::Write, "/v1/internal/acl/authorize", Need::Nothing),
    // The live allocation endpoints (api-docs/client.mdx).
    (On::Get, "/v1/client/stats", Need::NodeRead),
    (On::Get, "/v1/client/fs/logs/*", Need::AllocNs(READ_LOGS)),
    (On::Get, "/v1/client/fs/*/*", Need::AllocNs(READ_FS)),
    (
        On::Get,
        "/v1/client/allocation/*/stats",
        Need::AllocNs(READ_JOB),
    ),
    (
        On::Any,
        "/v1/client/allocation/*/exec",
        Need::AllocNs(ALLOC_EXEC),
    ),
    (
        On::Any,
        "/v1/client/allocation/*/attach",
        Need::AllocNs(ALLOC_EXEC),
    ),
    (
        On::Any,
        "/v1/client/allocation/*/signal",
        Need::AllocNs(ALLOC_LIFECYCLE),
    ),
    (
        On::Any,
        "/v1/client/allocation/*/restart",
        Need::AllocNs(ALLOC_LIFECYCLE),
    ),
    (On::Any, "/v1/client/**", Need::Management),
    // Agent, status, operator (agent.mdx, status.mdx, operator/*.mdx).
    (On::Get, "/v1/status/**", Need::Nothing),
    (On::Get, "/v1/agent/health", Need::Nothing),
    (On::Get, "/v1/agent/self", Need::AgentRead),
    (On::Get, "/v1/agent/members", Need::NodeRead),
    (On::Get, "/v1/agent/servers", Need::AgentRead),
    (On::Write, "/v1/agent/join", Need::AgentWrite),
    (On::Get, "/v1/regions", Need::Nothing),
    (On::Get, "/v1/metrics", Need::Nothing),
    (On::Get, "/v1/event/stream", Need::EventStream),
    // nomad/operator_endpoint.go: the Raft calls and a restore need a
    // management token, a save `snapshot-save` (or operator write).
    (On::Get, "/v1/operator/snapshot", Need::OperatorSnapshotSave),
    (On::Write, "/v1/operator/snapshot", Need::Management),
    (On::Any, "/v1/operator/raft/**", Need::Management),
    (On::Get, "/v1/operator/**", Need::OperatorRead),
    (On::Any, "/v1/operator/**", Need::OperatorWrite),
];

fn matches(pattern: &str, path: &str) -> bool {
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (Some("**"), Some(s)) => return !s.is_empty(),
            (Some("*"), Some(s)) => {
                if s.is_empty() {
                    return false;
                }
            }
            (Some(p), Some(s)) => {
                if p != s {
                    return false;
                }
            }
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// What `method path` needs. A `/v1` call no row names needs a management
/// token: a route added without a row is refused, not left open (so an
/// unknown path is a 403 before it is a 404, unlike Nomad).
pub fn need(method: &Method, path: &str) -> Need {
    ROUTES
        .iter()
        .find(|(on, pattern, _)| on.matches(method) && matches(pattern, path))
        .map_or_else(
            || {
                if path.starts_with("/v1/") {
                    Need::Management
                } else {
                    Need::Nothing
                }
            },
            |(_, _, need)| *need,
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("/v1/job/*", "/v1/job/web"));
        assert!(!matches("/v1/job/*", "/v1/job/web/allocations"));
        assert!(matches("/v1/job/**", "/v1/job/web/periodic/force"));
        assert!(!matches("/v1/job/**", "/v1/job/"));
        assert!(!matches("/v1/job/*", "/v1/job/"));
        assert_eq!(need(&Method::GET, "/v1/job/web"), Need::Ns(READ_JOB));
        assert_eq!(
            need(&Method::PUT, "/v1/job/web/periodic/force"),
            Need::Ns(SUBMIT_JOB)
        );
        assert_eq!(
            need(&Method::GET, "/v1/client/fs/logs/abc"),
            Need::AllocNs(READ_LOGS)
        );
        assert_eq!(
            need(&Method::GET, "/v1/client/fs/cat/abc"),
            Need::AllocNs(READ_FS)
        );
        assert_eq!(need(&Method::PUT, "/v1/node/x/drain"), Need::NodeWrite);
        assert_eq!(need(&Method::GET, "/v1/status/leader"), Need::Nothing);
        assert_eq!(need(&Method::GET, "/v1/acl/token/self"), Need::AnyToken);
        assert_eq!(need(&Method::GET, "/v1/nonsense"), Need::Management);
        assert_eq!(need(&Method::PATCH, "/v1/jobs"), Need::Management);
    }
}
