//! A task's environment and `${...}` interpolation, as Nomad's
//! `client/taskenv` builds them (see Nomad's "Runtime Environment" docs).
//!
//! The environment is built in Nomad's order, later steps overriding
//! earlier ones: directories, resource limits, allocation and job identity,
//! the task's own ports, other tasks' and the group's ports, task meta, then
//! the task's `env` block. Keys under the port and meta prefixes are then
//! cleaned of characters that are not valid in a variable name.
//!
//! Interpolation replaces `${name}` where `name` is made of `[A-Za-z0-9_.-]`,
//! looking it up first in the environment, then among the node values
//! (`node.unique.id`, `node.unique.name`, `node.datacenter`, `node.class`,
//! `node.pool`, `node.region`, `attr.<attribute>`, `meta.<node meta>`).
//! Unknown names are left exactly as written. There is no escape at this
//! stage: `$${X}` is `$` followed by the value of `X`, as in Nomad, whose
//! `$${` escape belongs to HCL parsing, before the client sees the job.
//! Likewise `${env.X}` and `${env["X"]}` are HCL parse-time functions in
//! Nomad, not runtime variables, so they are left as written here too.

use std::collections::BTreeMap;
use std::path::Path;

use drover_api::{Allocation, Job, NetworkResource, Node, Port, Task, TaskGroup};

pub const ALLOC_DIR: &str = "NOMAD_ALLOC_DIR";
pub const TASK_LOCAL_DIR: &str = "NOMAD_TASK_DIR";
pub const SECRETS_DIR: &str = "NOMAD_SECRETS_DIR";
pub const MEM_LIMIT: &str = "NOMAD_MEMORY_LIMIT";
pub const MEM_MAX_LIMIT: &str = "NOMAD_MEMORY_MAX_LIMIT";
pub const CPU_LIMIT: &str = "NOMAD_CPU_LIMIT";
pub const CPU_CORES: &str = "NOMAD_CPU_CORES";
pub const ALLOC_ID: &str = "NOMAD_ALLOC_ID";
pub const SHORT_ALLOC_ID: &str = "NOMAD_SHORT_ALLOC_ID";
pub const ALLOC_NAME: &str = "NOMAD_ALLOC_NAME";
pub const ALLOC_INDEX: &str = "NOMAD_ALLOC_INDEX";
pub const TASK_NAME: &str = "NOMAD_TASK_NAME";
pub const GROUP_NAME: &str = "NOMAD_GROUP_NAME";
pub const JOB_ID: &str = "NOMAD_JOB_ID";
pub const JOB_NAME: &str = "NOMAD_JOB_NAME";
pub const JOB_PARENT_ID: &str = "NOMAD_JOB_PARENT_ID";
pub const DATACENTER: &str = "NOMAD_DC";
pub const NAMESPACE: &str = "NOMAD_NAMESPACE";
pub const REGION: &str = "NOMAD_REGION";

pub const ADDR_PREFIX: &str = "NOMAD_ADDR_";
pub const HOST_ADDR_PREFIX: &str = "NOMAD_HOST_ADDR_";
pub const IP_PREFIX: &str = "NOMAD_IP_";
pub const HOST_IP_PREFIX: &str = "NOMAD_HOST_IP_";
pub const PORT_PREFIX: &str = "NOMAD_PORT_";
pub const ALLOC_PORT_PREFIX: &str = "NOMAD_ALLOC_PORT_";
pub const HOST_PORT_PREFIX: &str = "NOMAD_HOST_PORT_";
pub const META_PREFIX: &str = "NOMAD_META_";

/// The prefixes whose keys Nomad cleans after building (nomad#2405). The
/// `HOST_ADDR`, `HOST_IP` and `ALLOC_PORT` variables are not in Nomad's list
/// and so keep their label as written; Drover does the same.
const PREFIXES_TO_CLEAN: [&str; 5] = [
    ADDR_PREFIX,
    IP_PREFIX,
    PORT_PREFIX,
    HOST_PORT_PREFIX,
    META_PREFIX,
];

/// A task's environment variables and the node values interpolation can
/// read. Immutable once built.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskEnv {
    env: BTreeMap<String, String>,
    node_attrs: BTreeMap<String, String>,
}

impl TaskEnv {
    /// Build the environment of `task` in `alloc`. `dirs` are the paths as
    /// the task sees them: the shared alloc dir, the task's `local` dir and
    /// its `secrets` dir (host paths for drivers without isolation, such as
    /// `raw_exec`). An empty path leaves its variable unset.
    pub fn build(
        alloc: &Allocation,
        job: &Job,
        tg: &TaskGroup,
        task: &Task,
        node: &Node,
        dirs: (&Path, &Path, &Path),
    ) -> TaskEnv {
        let node_attrs = node_attrs(node, &job.region);
        let mut env = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            if !v.is_empty() {
                env.insert(k.to_string(), v);
            }
        };

        let (alloc_dir, task_dir, secrets_dir) = dirs;
        set(ALLOC_DIR, alloc_dir.to_string_lossy().into_owned());
        set(TASK_LOCAL_DIR, task_dir.to_string_lossy().into_owned());
        set(SECRETS_DIR, secrets_dir.to_string_lossy().into_owned());

        // Limits: the task's ask, replaced by what was actually allocated.
        let allocated = alloc.allocated_resources.as_ref();
        let task_alloc = allocated.and_then(|r| r.tasks.get(&task.name));
        let (cpu, mem, mem_max, cores) = match task_alloc {
            Some(tr) => (
                tr.cpu.cpu_shares,
                tr.memory.memory_mb,
                tr.memory.memory_max_mb,
                id_ranges(&tr.cpu.reserved_cores),
            ),
            None => (
                task.resources.cpu,
                task.resources.memory_mb,
                task.resources.memory_max_mb,
                String::new(),
            ),
        };
        set(MEM_LIMIT, nonzero(mem));
        set(MEM_MAX_LIMIT, nonzero(mem_max));
        set(CPU_LIMIT, nonzero(cpu));
        set(CPU_CORES, cores);

        set(ALLOC_ID, alloc.id.clone());
        set(SHORT_ALLOC_ID, alloc.id.chars().take(8).collect());
        set(ALLOC_NAME, alloc.name.clone());
        set(GROUP_NAME, alloc.task_group.clone());
        set(
            ALLOC_INDEX,
            alloc_index(&alloc.name, &alloc.job_id, &alloc.task_group).to_string(),
        );
        set(TASK_NAME, task.name.clone());
        set(JOB_ID, job.id.clone());
        set(JOB_NAME, job.name.clone());
        set(JOB_PARENT_ID, job.parent_id.clone());
        set(DATACENTER, node.datacenter.clone());
        set(NAMESPACE, alloc.namespace.clone());
        set(REGION, job.region.clone());

        // This task's own ports: host values (raw_exec has no port map).
        for net in task_alloc.map_or(&[][..], |tr| &tr.networks[..]) {
            for p in net.reserved_ports.iter().chain(&net.dynamic_ports) {
                task_port_env(&mut env, p, &net.ip);
            }
        }
        if let Some(res) = allocated {
            // Other tasks' ports, then group network ports, then the
            // allocation's port mappings, each overriding the last.
            for (name, tr) in &res.tasks {
                if *name != task.name {
                    other_task_ports(&mut env, name, &tr.networks);
                }
            }
            for net in &res.shared.networks {
                for p in net.reserved_ports.iter().chain(&net.dynamic_ports) {
                    let port = if p.to > 0 { p.to } else { p.value };
                    env.insert(format!("{PORT_PREFIX}{}", p.label), port.to_string());
                    env.insert(
                        format!("{HOST_PORT_PREFIX}{}", p.label),
                        p.value.to_string(),
                    );
                }
            }
            for p in &res.shared.ports {
                let addr = join_host_port(&p.host_ip, p.value);
                let port = if p.to > 0 { p.to } else { p.value }.to_string();
                let l = &p.label;
                env.insert(format!("{ADDR_PREFIX}{l}"), addr.clone());
                env.insert(format!("{HOST_ADDR_PREFIX}{l}"), addr);
                env.insert(format!("{IP_PREFIX}{l}"), p.host_ip.clone());
                env.insert(format!("{HOST_IP_PREFIX}{l}"), p.host_ip.clone());
                env.insert(format!("{PORT_PREFIX}{l}"), port.clone());
                env.insert(format!("{ALLOC_PORT_PREFIX}{l}"), port);
                env.insert(format!("{HOST_PORT_PREFIX}{l}"), p.value.to_string());
            }
        }

        // Meta, task over group over job, under both the upper-cased and the
        // original key; keys and values are interpolated against what is
        // built so far (a snapshot, so the result does not depend on order).
        let snapshot = env.clone();
        for (k, v) in combined_meta(job, tg, task) {
            let v = replace_env(&v, &[&node_attrs, &snapshot]);
            for key in [
                format!("{META_PREFIX}{}", k.to_uppercase()),
                format!("{META_PREFIX}{k}"),
            ] {
                env.insert(replace_env(&key, &[&node_attrs, &snapshot]), v.clone());
            }
        }

        // The task's env block, interpolated against everything above (but
        // not against its own other entries, whose order Nomad leaves
        // unspecified).
        let snapshot = env.clone();
        for (k, v) in &task.env {
            env.insert(k.clone(), replace_env(v, &[&node_attrs, &snapshot]));
        }

        let env = env
            .into_iter()
            .map(|(k, v)| {
                if PREFIXES_TO_CLEAN.iter().any(|p| k.starts_with(p)) {
                    (clean_env_var(&k), v)
                } else {
                    (k, v)
                }
            })
            .collect();
        TaskEnv { env, node_attrs }
    }

    /// The variables to give the task.
    pub fn env_map(&self) -> BTreeMap<String, String> {
        self.env.clone()
    }

    /// The node values `${...}` can read besides the environment.
    pub fn node_attrs(&self) -> &BTreeMap<String, String> {
        &self.node_attrs
    }

    /// Replace `${name}` from the environment, then the node values;
    /// unknown names stay as written.
    pub fn interpolate(&self, s: &str) -> String {
        replace_env(s, &[&self.env, &self.node_attrs])
    }

    /// [`TaskEnv::interpolate`] on every string inside a driver config value
    /// (object keys are left alone).
    pub fn interpolate_value(&self, v: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match v {
            Value::String(s) => Value::String(self.interpolate(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|i| self.interpolate_value(i)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.interpolate_value(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }
}

/// Replace each `${name}` (name of `[A-Za-z0-9_.-]`, at least one) with its
/// value from the first map that has it. The scan is leftmost-first like
/// Nomad's regex: in `${a${b}}` only `${b}` is a candidate.
fn replace_env(s: &str, maps: &[&BTreeMap<String, String>]) -> String {
    let is_name = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let name_len = after.find(|c: char| !is_name(c)).unwrap_or(after.len());
        let name = &after[..name_len];
        if name_len > 0 && after[name_len..].starts_with('}') {
            match maps.iter().find_map(|m| m.get(name)) {
                Some(value) => out.push_str(value),
                None => out.push_str(&rest[start..start + 3 + name_len]),
            }
            rest = &after[name_len + 1..];
        } else {
            // Not a variable: keep the `$` and rescan from the `{`.
            out.push('$');
            rest = &rest[start + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// The node values interpolation can read.
fn node_attrs(node: &Node, region: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    if !region.is_empty() {
        m.insert("node.region".to_string(), region.to_string());
    }
    m.insert("node.unique.id".to_string(), node.id.clone());
    m.insert("node.unique.name".to_string(), node.name.clone());
    m.insert("node.class".to_string(), node.node_class.clone());
    m.insert("node.datacenter".to_string(), node.datacenter.clone());
    m.insert("node.pool".to_string(), node.node_pool.clone());
    for (k, v) in &node.attributes {
        m.insert(format!("attr.{k}"), v.clone());
    }
    for (k, v) in &node.meta {
        m.insert(format!("meta.{k}"), v.clone());
    }
    m
}

/// Job meta overlaid by group meta overlaid by task meta.
fn combined_meta(job: &Job, tg: &TaskGroup, task: &Task) -> BTreeMap<String, String> {
    let mut m = job.meta.clone();
    m.extend(tg.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    m.extend(task.meta.iter().map(|(k, v)| (k.clone(), v.clone())));
    m
}

fn task_port_env(env: &mut BTreeMap<String, String>, p: &Port, ip: &str) {
    let l = &p.label;
    let family = if ip.contains(':') {
        "NOMAD_IPv6_"
    } else {
        "NOMAD_IPv4_"
    };
    env.insert(format!("{IP_PREFIX}{l}"), ip.to_string());
    env.insert(format!("{family}{l}"), ip.to_string());
    env.insert(format!("{HOST_PORT_PREFIX}{l}"), p.value.to_string());
    env.insert(format!("{ADDR_PREFIX}{l}"), join_host_port(ip, p.value));
    env.insert(format!("{PORT_PREFIX}{l}"), p.value.to_string());
}

/// `NOMAD_{ADDR,IP,PORT}_<task>_<label>` for a sibling task's ports.
fn other_task_ports(env: &mut BTreeMap<String, String>, task: &str, nets: &[NetworkResource]) {
    for net in nets {
        for p in net.reserved_ports.iter().chain(&net.dynamic_ports) {
            let l = &p.label;
            env.insert(
                format!("{ADDR_PREFIX}{task}_{l}"),
                join_host_port(&net.ip, p.value),
            );
            env.insert(format!("{IP_PREFIX}{task}_{l}"), net.ip.clone());
            env.insert(format!("{PORT_PREFIX}{task}_{l}"), p.value.to_string());
        }
    }
}

/// Go's `net.JoinHostPort`: IPv6 hosts are bracketed.
fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Nomad's `helper.CleanEnvVar(s, '_')`: keep ASCII letters, `_`, `.` and
/// (not first) digits; replace every other byte with `_`. Multi-byte
/// characters become one `_` per byte, as in Nomad.
pub fn clean_env_var(s: &str) -> String {
    s.bytes()
        .enumerate()
        .map(|(i, c)| match c {
            b'_' | b'.' | b'a'..=b'z' | b'A'..=b'Z' => c as char,
            b'0'..=b'9' if i > 0 => c as char,
            _ => '_',
        })
        .collect()
}

/// The index in `<job>.<group>[<index>]`, read the way Nomad's
/// `AllocIndexFromName` does (by position after the job and group names);
/// 0 when the name does not have that shape.
pub fn alloc_index(alloc_name: &str, job_id: &str, group: &str) -> u64 {
    let prefix = job_id.len() + group.len() + 2;
    if alloc_name.len() <= 3 || alloc_name.len() <= prefix {
        return 0;
    }
    alloc_name
        .get(prefix..alloc_name.len() - 1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// Sorted IDs as ranges, `0-3,5`, as Nomad's `idset` prints cores. Empty
/// for no cores (Nomad prints a single space there, a cgroup-file artifact
/// that Drover does not export).
fn id_ranges(ids: &[u16]) -> String {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < ids.len() {
        let start = ids[i];
        let mut end = start;
        while i + 1 < ids.len() && ids[i + 1] == end + 1 {
            end = ids[i + 1];
            i += 1;
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

fn nonzero(n: i64) -> String {
    if n == 0 {
        String::new()
    } else {
        n.to_string()
    }
}
