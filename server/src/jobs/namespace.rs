//! A job and its namespace: which namespace a job write names, and what
//! the namespace's `Capabilities` allow (Nomad
//! command/agent/job_endpoint.go `namespaceForJob`,
//! nomad/job_endpoint_validators.go `jobNamespaceConstraintCheckHook`).

use drover_api::{Job, Namespace, DEFAULT_NAMESPACE_NAME};

/// The namespace a job write goes to: the `namespace` query parameter
/// (the CLI's `-namespace`), else the request body's `Namespace`, else the
/// job's own, else `default`.
pub fn namespace_for_job(job_ns: &str, query_ns: Option<&str>, request_ns: &str) -> String {
    [query_ns.unwrap_or(""), request_ns, job_ns]
        .into_iter()
        .find(|n| !n.is_empty())
        .unwrap_or(DEFAULT_NAMESPACE_NAME)
        .to_string()
}

/// Whether `job` may be written into `ns` (`None`: it does not exist):
/// each task's driver and each group network's mode must be enabled
/// (every one, when the list is empty) and not disabled. The message is
/// Nomad's.
pub fn check_namespace(job: &Job, ns: Option<&Namespace>) -> Result<(), String> {
    let Some(ns) = ns else {
        return Err(format!(
            "job {:?} is in nonexistent namespace {:?}",
            job.id, job.namespace
        ));
    };
    let Some(caps) = &ns.capabilities else {
        return Ok(());
    };
    let allowed = |enabled: &Option<Vec<String>>, disabled: &Option<Vec<String>>, v: &str| {
        let enabled = enabled.as_deref().unwrap_or_default();
        let disabled = disabled.as_deref().unwrap_or_default();
        (enabled.is_empty() || enabled.iter().any(|e| e == v)) && !disabled.iter().any(|d| d == v)
    };
    let drivers: Vec<&str> = job
        .task_groups
        .iter()
        .flat_map(|tg| &tg.tasks)
        .map(|t| t.driver.as_str())
        .filter(|d| !allowed(&caps.enabled_task_drivers, &caps.disabled_task_drivers, d))
        .collect();
    if let Some(message) = refusal("used task driver", &drivers, &ns.name) {
        return Err(message);
    }
    let modes: Vec<&str> = job
        .task_groups
        .iter()
        .flat_map(|tg| &tg.networks)
        .map(|n| {
            if n.mode.is_empty() {
                "host"
            } else {
                n.mode.as_str()
            }
        })
        .filter(|m| !allowed(&caps.enabled_network_modes, &caps.disabled_network_modes, m))
        .collect();
    if let Some(message) = refusal("used group network mode", &modes, &ns.name) {
        return Err(message);
    }
    Ok(())
}

/// Nomad's one-or-many message; many are listed as Go's `%q` prints a
/// string slice: `["a" "b"]`.
fn refusal(what: &str, refused: &[&str], ns: &str) -> Option<String> {
    match refused {
        [] => None,
        [one] => Some(format!("{what} {one:?} is not allowed in namespace {ns:?}")),
        many => {
            let list: Vec<String> = many.iter().map(|m| format!("{m:?}")).collect();
            Some(format!(
                "{what}s [{}] are not allowed in namespace {ns:?}",
                list.join(" ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drover_api::{NamespaceCapabilities, NetworkResource, Task, TaskGroup};

    fn job(drivers: &[&str], modes: &[&str]) -> Job {
        Job {
            id: "web".into(),
            namespace: "team".into(),
            task_groups: vec![TaskGroup {
                name: "g".into(),
                tasks: drivers
                    .iter()
                    .map(|d| Task {
                        name: format!("t-{d}"),
                        driver: d.to_string(),
                        ..Task::default()
                    })
                    .collect(),
                networks: modes
                    .iter()
                    .map(|m| NetworkResource {
                        mode: m.to_string(),
                        ..NetworkResource::default()
                    })
                    .collect(),
                ..TaskGroup::default()
            }],
            ..Job::default()
        }
    }

    fn ns(caps: Option<NamespaceCapabilities>) -> Namespace {
        Namespace {
            name: "team".into(),
            capabilities: caps,
            ..Namespace::default()
        }
    }

    fn list(v: &[&str]) -> Option<Vec<String>> {
        Some(v.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn the_query_then_the_request_then_the_job_name_the_namespace() {
        assert_eq!(namespace_for_job("", None, ""), "default");
        assert_eq!(namespace_for_job("j", None, ""), "j");
        assert_eq!(namespace_for_job("j", None, "r"), "r");
        assert_eq!(namespace_for_job("j", Some("q"), "r"), "q");
        assert_eq!(namespace_for_job("j", Some(""), ""), "j");
    }

    #[test]
    fn capabilities_allow_and_refuse_drivers_and_network_modes() {
        let j = job(&["docker", "raw_exec"], &["", "bridge"]);
        assert_eq!(
            check_namespace(&j, None),
            Err("job \"web\" is in nonexistent namespace \"team\"".into())
        );
        assert_eq!(check_namespace(&j, Some(&ns(None))), Ok(()));
        let enabled = ns(Some(NamespaceCapabilities {
            enabled_task_drivers: list(&["docker"]),
            ..Default::default()
        }));
        assert_eq!(
            check_namespace(&j, Some(&enabled)),
            Err("used task driver \"raw_exec\" is not allowed in namespace \"team\"".into())
        );
        let disabled = ns(Some(NamespaceCapabilities {
            disabled_task_drivers: list(&["docker", "raw_exec"]),
            ..Default::default()
        }));
        assert_eq!(
            check_namespace(&j, Some(&disabled)),
            Err(
                "used task drivers [\"docker\" \"raw_exec\"] are not allowed in namespace \"team\""
                    .into()
            )
        );
        let host_only = ns(Some(NamespaceCapabilities {
            enabled_network_modes: list(&["host"]),
            ..Default::default()
        }));
        assert_eq!(
            check_namespace(&j, Some(&host_only)),
            Err("used group network mode \"bridge\" is not allowed in namespace \"team\"".into())
        );
    }
}
