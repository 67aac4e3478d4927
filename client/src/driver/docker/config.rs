//! The task's `config { ... }` block for the docker driver, parsed once
//! into [`DockerTaskConfig`] before anything touches the daemon, so a bad
//! block fails the start with a message naming the field and nothing is
//! created.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::DRIVER_NAME;
use crate::driver::{DriverError, PortMapping, TaskConfig};

/// The parsed `config` block (Nomad's docker `TaskConfig`, the subset
/// Drover supports).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerTaskConfig {
    pub image: String,
    /// `command`: the first element of the container's `Cmd`.
    pub command: Option<String>,
    /// `args`: the rest of `Cmd`.
    pub args: Vec<String>,
    /// `entrypoint`: replaces the image's entrypoint when given.
    pub entrypoint: Option<Vec<String>>,
    pub labels: BTreeMap<String, String>,
    /// Port labels to publish; each exists in the task's ports.
    pub ports: Vec<String>,
    pub network_mode: Option<String>,
    /// Binds ready for the daemon: `host:container[:ro]` with an absolute
    /// host path.
    pub volumes: Vec<String>,
    pub work_dir: Option<String>,
    pub force_pull: bool,
    pub auth_soft_fail: bool,
    /// `load`: an image tarball (`docker save`) in the task dir, loaded
    /// when the image is absent.
    pub load: Option<PathBuf>,
    pub interactive: bool,
    pub cpu_hard_limit: bool,
    /// `init`: run tini as PID 1 so signals reach the command.
    pub init: bool,
}

fn invalid(message: String) -> DriverError {
    DriverError::InvalidConfig {
        driver: DRIVER_NAME,
        message,
    }
}

/// Parses and validates the config block against the task (ports, dirs).
pub fn parse(cfg: &TaskConfig, volumes_enabled: bool) -> Result<DockerTaskConfig, DriverError> {
    let block = &cfg.driver_config;
    let image = match block.get("image") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_string(),
        None | Some(Value::Null) | Some(Value::String(_)) => {
            return Err(invalid("missing required field \"image\"".into()))
        }
        Some(other) => return Err(invalid(format!("\"image\" must be a string, got {other}"))),
    };
    let mut out = DockerTaskConfig {
        image,
        command: opt_string(block, "command")?,
        args: string_list(block, "args")?.unwrap_or_default(),
        entrypoint: string_list(block, "entrypoint")?,
        labels: string_map(block, "labels")?,
        ports: string_list(block, "ports")?.unwrap_or_default(),
        network_mode: opt_string(block, "network_mode")?,
        work_dir: opt_string(block, "work_dir")?,
        force_pull: boolean(block, "force_pull")?,
        auth_soft_fail: boolean(block, "auth_soft_fail")?,
        interactive: boolean(block, "interactive")?,
        cpu_hard_limit: boolean(block, "cpu_hard_limit")?,
        init: boolean(block, "init")?,
        ..DockerTaskConfig::default()
    };
    for label in &out.ports {
        port_mapping(&cfg.ports, label)?;
    }
    if let Some(load) = opt_string(block, "load")? {
        out.load = Some(inside_alloc(cfg, "load", &load)?);
    }
    for spec in string_list(block, "volumes")?.unwrap_or_default() {
        out.volumes.push(volume_bind(cfg, &spec, volumes_enabled)?);
    }
    for key in block.keys().filter(|k| !KNOWN_KEYS.contains(&k.as_str())) {
        tracing::debug!(key, "docker driver ignores unknown config key");
    }
    Ok(out)
}

const KNOWN_KEYS: &[&str] = &[
    "image",
    "command",
    "args",
    "entrypoint",
    "labels",
    "ports",
    "network_mode",
    "volumes",
    "work_dir",
    "force_pull",
    "auth_soft_fail",
    "load",
    "interactive",
    "cpu_hard_limit",
    "init",
];

/// The task's port with this label.
pub fn port_mapping<'a>(
    ports: &'a [PortMapping],
    label: &str,
) -> Result<&'a PortMapping, DriverError> {
    ports.iter().find(|p| p.label == label).ok_or_else(|| {
        invalid(format!(
            "port label \"{label}\" not found in the task's network ports"
        ))
    })
}

fn opt_string(block: &BTreeMap<String, Value>, key: &str) -> Result<Option<String>, DriverError> {
    match block.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(format!("\"{key}\" must be a string, got {other}"))),
    }
}

fn string_list(
    block: &BTreeMap<String, Value>,
    key: &str,
) -> Result<Option<Vec<String>>, DriverError> {
    match block.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(invalid(format!(
                    "\"{key}\" must be a list of strings, got element {other}"
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(invalid(format!(
            "\"{key}\" must be a list of strings, got {other}"
        ))),
    }
}

fn string_map(
    block: &BTreeMap<String, Value>,
    key: &str,
) -> Result<BTreeMap<String, String>, DriverError> {
    // HCL blocks (`labels { a = "b" }`) may arrive as a list of maps.
    let maps: Vec<&serde_json::Map<String, Value>> = match block.get(key) {
        None | Some(Value::Null) => return Ok(BTreeMap::new()),
        Some(Value::Object(m)) => vec![m],
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => {
            items.iter().filter_map(Value::as_object).collect()
        }
        Some(other) => return Err(invalid(format!("\"{key}\" must be a map, got {other}"))),
    };
    let mut out = BTreeMap::new();
    for m in maps {
        for (k, v) in m {
            let v = match v {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => {
                    return Err(invalid(format!(
                        "\"{key}.{k}\" must be a string, got {other}"
                    )))
                }
            };
            out.insert(k.clone(), v);
        }
    }
    Ok(out)
}

fn boolean(block: &BTreeMap<String, Value>, key: &str) -> Result<bool, DriverError> {
    match block.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        // Interpolation yields strings.
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" || s.is_empty() => Ok(false),
        Some(other) => Err(invalid(format!("\"{key}\" must be a bool, got {other}"))),
    }
}

/// A path relative to the task dir that must stay inside the alloc dir.
fn inside_alloc(cfg: &TaskConfig, field: &str, rel: &str) -> Result<PathBuf, DriverError> {
    let path = normalize(&cfg.task_dir.join(rel));
    if !path.starts_with(normalize(&cfg.alloc_dir)) {
        return Err(invalid(format!(
            "\"{field}\": path {rel:?} escapes the allocation directory"
        )));
    }
    Ok(path)
}

/// `host:container[:ro|rw]` → a bind with an absolute host path.
fn volume_bind(cfg: &TaskConfig, spec: &str, volumes_enabled: bool) -> Result<String, DriverError> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [h, c] => (*h, *c, None),
        [h, c, m] if matches!(*m, "ro" | "rw") => (*h, *c, Some(*m)),
        _ => {
            return Err(invalid(format!(
                "\"volumes\": {spec:?} is not of the form \"host:container[:ro]\""
            )))
        }
    };
    if host.is_empty() || !container.starts_with('/') {
        return Err(invalid(format!(
            "\"volumes\": {spec:?} needs a host path and an absolute container path"
        )));
    }
    let host_path = if Path::new(host).is_absolute() {
        if !volumes_enabled {
            return Err(invalid(format!(
                "\"volumes\": host path {host:?} is outside the allocation directory and \
                 volumes are disabled on this node (plugin \"docker\" volumes.enabled = false)"
            )));
        }
        normalize(Path::new(host))
    } else {
        let path = normalize(&cfg.task_dir.join(host));
        if !volumes_enabled && !path.starts_with(normalize(&cfg.alloc_dir)) {
            return Err(invalid(format!(
                "\"volumes\": host path {host:?} escapes the allocation directory and \
                 volumes are disabled on this node (plugin \"docker\" volumes.enabled = false)"
            )));
        }
        path
    };
    let mut bind = format!("{}:{container}", host_path.display());
    if let Some(m) = mode {
        bind.push(':');
        bind.push_str(m);
    }
    Ok(bind)
}

/// Lexical normalization (`a/./b/../c` → `a/c`), no symlink resolution:
/// the host path may not exist yet.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn task(block: Value) -> TaskConfig {
        TaskConfig {
            alloc_id: "a1".into(),
            task_name: "web".into(),
            driver_config: serde_json::from_value(block).unwrap(),
            env: BTreeMap::new(),
            user: None,
            task_dir: "/data/alloc/a1/web".into(),
            alloc_dir: "/data/alloc/a1".into(),
            logs: crate::driver::LogConfig {
                dir: "/data/alloc/a1/alloc/logs".into(),
                max_files: 1,
                max_file_size_mb: 1,
            },
            resources: Default::default(),
            kill_signal: None,
            kill_timeout: std::time::Duration::from_secs(1),
            identity: Default::default(),
            ports: vec![PortMapping {
                label: "http".into(),
                value: 25000,
                to: 8080,
                host_ip: String::new(),
            }],
        }
    }

    #[track_caller]
    fn check(block: Value, volumes_enabled: bool, want: Result<DockerTaskConfig, &str>) {
        let got = parse(&task(block), volumes_enabled);
        match (got, want) {
            (Ok(got), Ok(want)) => assert_eq!(got, want),
            (Err(e), Err(needle)) => {
                let msg = e.to_string();
                assert!(msg.contains(needle), "{msg:?} lacks {needle:?}");
            }
            (got, want) => panic!("got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn parse_config_block() {
        check(json!({}), false, Err("missing required field \"image\""));
        check(
            json!({"image": 3}),
            false,
            Err("\"image\" must be a string"),
        );
        check(
            json!({"image": "busybox:1", "ports": ["nope"]}),
            false,
            Err("port label \"nope\" not found in the task's network ports"),
        );
        check(
            json!({"image": "b", "volumes": ["/etc:/x"]}),
            false,
            Err("volumes are disabled"),
        );
        check(
            json!({"image": "b", "volumes": ["../../../etc:/x"]}),
            false,
            Err("escapes the allocation directory"),
        );
        check(
            json!({"image": "b", "args": "x"}),
            false,
            Err("\"args\" must be a list"),
        );
        check(
            json!({
                "image": "b", "command": "sh", "args": ["-c", "x"], "ports": ["http"],
                "volumes": ["local/data:/data:ro", "/srv:/srv"], "labels": [{"a": "b"}],
                "force_pull": "false", "interactive": true,
            }),
            true,
            Ok(DockerTaskConfig {
                image: "b".into(),
                command: Some("sh".into()),
                args: vec!["-c".into(), "x".into()],
                ports: vec!["http".into()],
                volumes: vec![
                    "/data/alloc/a1/web/local/data:/data:ro".into(),
                    "/srv:/srv".into(),
                ],
                labels: BTreeMap::from([("a".into(), "b".into())]),
                interactive: true,
                ..Default::default()
            }),
        );
    }
}
