//! The command tree: `drover -help`, and every command path with its help
//! text, from which `drover completion` takes the words and flags (a flag
//! is an option line of the help, `  -name`), so the two cannot disagree.

use super::{acl, help, job_help, namespace, tls, usage};

/// `drover`, `drover -h`, `drover --help`.
pub const TOP: &str = r#"Usage: drover [-version] [-help] <command> [args]

  A cluster scheduler that speaks Nomad's v1 HTTP API.

Common commands:
    job           Interact with jobs: run, plan, status, stop, ...
    alloc         Interact with allocations
    node          Interact with nodes
    status        Display the status output for any object
    agent         Run a Drover agent

Other commands:
    acl           Interact with ACL policies and tokens
    completion    Print a shell completion script
    deployment    Interact with deployments
    eval          Interact with evaluations
    event         Stream the cluster's events
    namespace     Interact with namespaces
    operator      Cluster operator commands: Raft peers, snapshots
    server        Manage servers: join a cluster, list the servers
    system        Interact with the system API
    tls           Create a certificate authority and certificates
    ui            Print (or open) the address of the web UI
    version       Print the version of this binary

Run 'drover <command> -help' for a command's usage and options.

Every command that talks to an agent also takes -token, the ACL token
(or DROVER_TOKEN, then NOMAD_TOKEN), and the TLS options -ca-cert,
-client-cert, -client-key, -tls-skip-verify and -tls-server-name (or
NOMAD_CACERT, NOMAD_CLIENT_CERT, NOMAD_CLIENT_KEY, NOMAD_SKIP_VERIFY,
NOMAD_TLS_SERVER_NAME) for an agent whose address is https://.

Examples:

  $ drover agent -dev
  $ drover status"#;

/// Options every `server` and `operator` subcommand takes.
const ADDRESS_ONLY: &str = "  -address=<addr>\n";

/// Every command path and its help text, groups before their members.
pub const TREE: &[(&str, &str)] = &[
    ("acl", acl::ACL),
    ("acl bootstrap", acl::BOOTSTRAP),
    ("acl policy", acl::POLICY),
    ("acl policy apply", acl::POLICY_APPLY),
    ("acl policy delete", acl::POLICY_DELETE),
    ("acl policy info", acl::POLICY_INFO),
    ("acl policy list", acl::POLICY_LIST),
    ("acl token", acl::TOKEN),
    ("acl token create", acl::TOKEN_CREATE),
    ("acl token delete", acl::TOKEN_DELETE),
    ("acl token info", acl::TOKEN_INFO),
    ("acl token list", acl::TOKEN_LIST),
    ("acl token self", acl::TOKEN_SELF),
    // The agent's flags are clap's; `drover completion` is given them.
    ("agent", ""),
    ("alloc attach", help::ATTACH),
    ("alloc exec", help::EXEC),
    ("alloc logs", help::LOGS),
    ("alloc restart", help::RESTART),
    ("alloc signal", help::SIGNAL),
    ("alloc status", usage::ALLOC_STATUS),
    ("alloc stop", help::STOP),
    ("completion", usage::COMPLETION),
    ("deployment", usage::DEPLOYMENT),
    ("deployment fail", usage::DEPLOYMENT_FAIL),
    ("deployment list", usage::DEPLOYMENT_LIST),
    ("deployment pause", usage::DEPLOYMENT_PAUSE),
    ("deployment promote", usage::DEPLOYMENT_PROMOTE),
    ("deployment resume", usage::DEPLOYMENT_RESUME),
    ("deployment status", usage::DEPLOYMENT_STATUS),
    ("eval", usage::EVAL),
    ("eval list", usage::EVAL_LIST),
    ("eval status", usage::EVAL_STATUS),
    ("event", usage::EVENT),
    ("event stream", usage::EVENT_STREAM),
    ("job allocs", job_help::ALLOCS),
    ("job deployments", job_help::DEPLOYMENTS),
    ("job dispatch", job_help::DISPATCH),
    ("job eval", job_help::EVAL),
    ("job history", job_help::HISTORY),
    ("job init", job_help::INIT),
    ("job inspect", job_help::INSPECT),
    ("job periodic force", job_help::PERIODIC_FORCE),
    ("job plan", job_help::PLAN),
    ("job revert", job_help::REVERT),
    ("job run", job_help::RUN),
    ("job scale", job_help::SCALE),
    ("job status", job_help::STATUS),
    ("job stop", job_help::STOP),
    ("job validate", job_help::VALIDATE),
    ("namespace", namespace::USAGE),
    ("namespace apply", namespace::APPLY),
    ("namespace delete", namespace::DELETE),
    ("namespace inspect", namespace::INSPECT),
    ("namespace list", namespace::LIST),
    ("namespace status", namespace::STATUS),
    ("node", usage::NODE),
    ("node drain", usage::NODE_DRAIN),
    ("node eligibility", usage::NODE_ELIGIBILITY),
    ("node pool", usage::NODE_POOL),
    ("node pool list", usage::NODE_POOL_LIST),
    ("node status", usage::NODE_STATUS),
    ("operator raft list-peers", ADDRESS_ONLY),
    ("operator snapshot restore", ADDRESS_ONLY),
    ("operator snapshot save", ADDRESS_ONLY),
    ("server join", ADDRESS_ONLY),
    ("server members", ADDRESS_ONLY),
    ("status", usage::STATUS),
    ("system", usage::SYSTEM),
    ("system gc", usage::SYSTEM_GC),
    ("tls", tls::USAGE),
    ("tls ca", tls::CA_USAGE),
    ("tls ca create", tls::CA_CREATE),
    ("tls cert", tls::CERT_USAGE),
    ("tls cert create", tls::CERT_CREATE),
    ("ui", usage::UI),
    ("version", usage::VERSION),
];

/// The flags an option section of `help` names, without their dash.
pub fn flags_of(help: &str) -> Vec<String> {
    let mut out: Vec<String> = help
        .lines()
        .filter_map(|l| l.strip_prefix("  -"))
        .filter(|l| l.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .map(|l| {
            l.split(['=', ' ', ','])
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The words that may follow `path` (`""` for the top level).
pub fn children(path: &str) -> Vec<String> {
    let depth = if path.is_empty() {
        0
    } else {
        path.split(' ').count()
    };
    let mut out: Vec<String> = TREE
        .iter()
        .map(|(p, _)| *p)
        .filter(|p| path.is_empty() || p.starts_with(&format!("{path} ")))
        .filter_map(|p| p.split(' ').nth(depth).map(str::to_string))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// Every path that has children or flags: the states a completion walks.
pub fn paths() -> Vec<String> {
    let mut out = vec![String::new()];
    for (p, _) in TREE {
        let words: Vec<&str> = p.split(' ').collect();
        for n in 1..=words.len() {
            out.push(words[..n].join(" "));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The help text of exactly `path`, if it has one.
pub fn help_of(path: &str) -> Option<&'static str> {
    TREE.iter().find(|(p, _)| *p == path).map(|(_, h)| *h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_walks() {
        assert!(children("").contains(&"eval".to_string()));
        assert_eq!(children("eval"), vec!["list", "status"]);
        assert_eq!(children("node pool"), vec!["list"]);
        assert!(children("job").contains(&"run".to_string()));
        assert_eq!(children("job periodic"), vec!["force"]);
        let f = flags_of(job_help::RUN);
        for want in [
            "address",
            "check-index",
            "detach",
            "namespace",
            "region",
            "var",
        ] {
            assert!(f.contains(&want.to_string()), "{f:?} lacks {want}");
        }
        let f = flags_of(usage::EVAL_STATUS);
        for want in ["address", "json", "no-color", "t", "verbose"] {
            assert!(f.contains(&want.to_string()), "{f:?} lacks {want}");
        }
    }
}
