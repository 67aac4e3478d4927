//! Images and container creation: making sure the task's image is on the
//! node (never pulling unless asked: the node may reach no registry, and a
//! pull that cannot succeed must not hang a start), and turning a task into
//! Docker's create body the way Nomad's docker driver does.

use std::collections::HashMap;

use bollard::models::{ContainerCreateBody, HostConfig, PortBinding};
use bollard::query_parameters::{CreateImageOptions, ImportImageOptions};
use bollard::Docker;
use futures_util::StreamExt;

use super::config::{port_mapping, DockerTaskConfig};
use super::{daemon_error, is_not_found};
use crate::driver::{DriverError, Signal, TaskConfig};

/// Labels Drover (like Nomad) puts on every container it creates.
pub const LABEL_ALLOC_ID: &str = "com.hashicorp.nomad.alloc_id";
pub const LABEL_JOB_NAME: &str = "com.hashicorp.nomad.job_name";
pub const LABEL_TASK_NAME: &str = "com.hashicorp.nomad.task_name";
pub const LABEL_TASK_GROUP: &str = "com.hashicorp.nomad.task_group_name";
pub const LABEL_NAMESPACE: &str = "com.hashicorp.nomad.namespace";
pub const LABEL_NODE_NAME: &str = "com.hashicorp.nomad.node_name";
/// Drover's addition: dangling-container cleanup touches only the
/// containers of its own node, even when several agents share a daemon.
pub const LABEL_NODE_ID: &str = "com.hashicorp.nomad.node_id";

/// Makes sure `tc.image` is present: already there, loaded from `load`,
/// or (only with `force_pull`) pulled.
pub async fn ensure_image(docker: &Docker, tc: &DockerTaskConfig) -> Result<(), DriverError> {
    let not_found = |why: String| {
        DriverError::Image(format!(
            "Failed to find docker image \"{}\": {why}",
            tc.image
        ))
    };
    if tc.force_pull {
        pull(docker, &tc.image).await?;
    }
    let first = match docker.inspect_image(&tc.image).await {
        Ok(_) => return Ok(()),
        Err(e) if is_not_found(&e) => e,
        Err(e) => return Err(daemon_error("inspecting image", e)),
    };
    let Some(tarball) = &tc.load else {
        return Err(not_found(format!(
            "{} (not on this node, no \"load\" tarball given, and force_pull is off)",
            super::error_message(&first)
        )));
    };
    let bytes = tokio::fs::read(tarball).await.map_err(|e| {
        DriverError::Image(format!(
            "Failed to load docker image \"{}\" from {}: {e}",
            tc.image,
            tarball.display()
        ))
    })?;
    let mut stream = docker.import_image(
        ImportImageOptions::default(),
        bollard::body_full(bytes.into()),
        None,
    );
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(DriverError::Image(format!(
                "Failed to load docker image \"{}\" from {}: {}",
                tc.image,
                tarball.display(),
                super::error_message(&e)
            )));
        }
    }
    match docker.inspect_image(&tc.image).await {
        Ok(_) => Ok(()),
        Err(e) => Err(not_found(format!(
            "not in the loaded tarball {}: {}",
            tarball.display(),
            super::error_message(&e)
        ))),
    }
}

async fn pull(docker: &Docker, image: &str) -> Result<(), DriverError> {
    let (repo, tag) = split_tag(image);
    let opts = CreateImageOptions {
        from_image: Some(repo.to_string()),
        tag: Some(tag.to_string()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(DriverError::Image(format!(
                "Failed to pull docker image \"{image}\": {}",
                super::error_message(&e)
            )));
        }
    }
    Ok(())
}

/// `repo[:tag]` → (repo, tag), where a `:` inside a registry host:port is
/// not a tag separator.
fn split_tag(image: &str) -> (&str, &str) {
    let name = image.split('@').next().unwrap_or(image);
    match name.rfind(':') {
        Some(i) if !name[i..].contains('/') => (&name[..i], &name[i + 1..]),
        _ => (name, "latest"),
    }
}

/// The container's name, Nomad's `<task>-<alloc_id>`.
pub fn container_name(cfg: &TaskConfig) -> String {
    format!("{}-{}", cfg.task_name, cfg.alloc_id)
}

/// The labels that identify the allocation, then the task's own.
pub fn labels(cfg: &TaskConfig, tc: &DockerTaskConfig) -> HashMap<String, String> {
    let id = &cfg.identity;
    let mut out: HashMap<String, String> = tc.labels.clone().into_iter().collect();
    for (k, v) in [
        (LABEL_ALLOC_ID, &cfg.alloc_id),
        (LABEL_JOB_NAME, &id.job_name),
        (LABEL_TASK_NAME, &cfg.task_name),
        (LABEL_TASK_GROUP, &id.task_group),
        (LABEL_NAMESPACE, &id.namespace),
        (LABEL_NODE_NAME, &id.node_name),
        (LABEL_NODE_ID, &id.node_id),
    ] {
        out.insert(k.to_string(), v.clone());
    }
    out
}

/// Builds the create body (see the field comments for Nomad's rules).
pub fn create_body(
    cfg: &TaskConfig,
    tc: &DockerTaskConfig,
) -> Result<ContainerCreateBody, DriverError> {
    let stop_signal = Signal::parse(cfg.kill_signal.as_deref().unwrap_or("SIGTERM"))?;

    let mut cmd = Vec::new();
    cmd.extend(tc.command.clone());
    cmd.extend(tc.args.iter().cloned());

    // Memory: a hard limit of memory_max with memory as the reservation
    // when oversubscribed, no swap beyond it.
    let res = &cfg.resources;
    let mib = |m: u64| i64::try_from(m.saturating_mul(1024 * 1024)).unwrap_or(i64::MAX);
    let (memory, reservation) = if res.memory_max_mb > res.memory_mb {
        (Some(mib(res.memory_max_mb)), Some(mib(res.memory_mb)))
    } else if res.memory_mb > 0 {
        (Some(mib(res.memory_mb)), None)
    } else {
        (None, None)
    };
    let cpu_shares = i64::try_from(res.cpu_mhz.max(2)).unwrap_or(i64::MAX);
    let (cpu_period, cpu_quota) = if tc.cpu_hard_limit {
        let period = 100_000i64;
        let quota = (res.cpu_mhz as f64 / mhz_per_core() * period as f64) as i64;
        (Some(period), Some(quota.max(1000)))
    } else {
        (None, None)
    };

    let mut binds = vec![
        format!("{}:/alloc", cfg.alloc_dir.join("alloc").display()),
        format!("{}:/local", cfg.task_dir.join("local").display()),
        format!("{}:/secrets", cfg.task_dir.join("secrets").display()),
    ];
    binds.extend(tc.volumes.iter().cloned());

    let mut exposed = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for label in &tc.ports {
        let p = port_mapping(&cfg.ports, label)?;
        let to = if p.to == 0 { p.value } else { p.to };
        let host_ip = if p.host_ip.is_empty() {
            "0.0.0.0".to_string()
        } else {
            p.host_ip.clone()
        };
        for proto in ["tcp", "udp"] {
            let key = format!("{to}/{proto}");
            exposed.push(key.clone());
            bindings.insert(
                key,
                Some(vec![PortBinding {
                    host_ip: Some(host_ip.clone()),
                    host_port: Some(p.value.to_string()),
                }]),
            );
        }
    }

    let env: Vec<String> = cfg.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let user = cfg.user.clone().filter(|u| !u.is_empty());

    Ok(ContainerCreateBody {
        image: Some(tc.image.clone()),
        cmd: (!cmd.is_empty()).then_some(cmd),
        entrypoint: tc.entrypoint.clone(),
        env: Some(env),
        labels: Some(labels(cfg, tc)),
        working_dir: tc.work_dir.clone(),
        user,
        stop_signal: Some(stop_signal.name.to_string()),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        open_stdin: tc.interactive.then_some(true),
        attach_stdin: tc.interactive.then_some(true),
        // Stdin stays open when an attached writer goes away, so the next
        // attach (Drover's extension) writes to the same stream.
        stdin_once: tc.interactive.then_some(false),
        host_config: Some(HostConfig {
            memory,
            memory_reservation: reservation,
            memory_swap: memory,
            cpu_shares: Some(cpu_shares),
            cpu_period,
            cpu_quota,
            binds: Some(binds),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            network_mode: tc.network_mode.clone(),
            init: tc.init.then_some(true),
            ..Default::default()
        }),
        ..Default::default()
    })
}

/// MHz of one core, from `/proc/cpuinfo` (the node's total compute is
/// cores × this, as Nomad's CPU fingerprint computes it).
fn mhz_per_core() -> f64 {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("cpu MHz"))
                .and_then(|l| l.split(':').nth(1))
                .and_then(|v| v.trim().parse::<f64>().ok())
        })
        .filter(|m| *m > 0.0)
        .unwrap_or(1000.0)
}

/// The label set of a container, for tests and cleanup.
pub fn alloc_of(labels: &Option<HashMap<String, String>>) -> Option<&str> {
    labels.as_ref()?.get(LABEL_ALLOC_ID).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_tags() {
        assert_eq!(split_tag("busybox"), ("busybox", "latest"));
        assert_eq!(split_tag("a/b:1.2"), ("a/b", "1.2"));
        assert_eq!(split_tag("reg:5000/a/b"), ("reg:5000/a/b", "latest"));
    }
}
