//! Shared support for tests that need a real Docker daemon: the daemon
//! check (loud skip, or a panic under `CI`), the offline busybox test image,
//! and a guard that removes a test's containers even when it fails.
//!
//! Used by the client's tests and, through
//! `#[path = "../client/tests/docker_support/mod.rs"] mod docker_support;`,
//! by the root crate's, so it depends only on bollard, tokio and std.
#![allow(dead_code)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bollard::query_parameters::{BuildImageOptions, ListContainersOptions, RemoveContainerOptions};
use bollard::Docker;
use futures_util::StreamExt;

/// The image tests run: static busybox on scratch, built on the machine.
pub const TEST_IMAGE: &str = "drover-test/busybox:latest";

/// Where Debian's busybox-static puts its binary.
const BUSYBOX_PATHS: &[&str] = &["/usr/bin/busybox", "/bin/busybox"];

const DOCKERFILE: &str = "FROM scratch\n\
COPY busybox /bin/busybox\n\
RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
ENV PATH=/bin\n\
CMD [\"/bin/sh\"]\n";

/// Says loudly that `test` did not run, or panics when `CI` is set (CI
/// must run every Docker test).
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: no Docker daemon ({reason}) and CI is set, so this test must not skip");
    }
    // Straight to the process's stderr: `eprintln!` would be captured by
    // the test harness and hidden for a passing test.
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: no Docker daemon ({reason})"
    );
}

/// A client to a daemon that answers and has [`TEST_IMAGE`]; `None` after
/// a loud skip (see [`skip`]).
pub async fn docker_or_skip(test: &str) -> Option<Docker> {
    let docker = match Docker::connect_with_local_defaults() {
        Ok(d) => d,
        Err(e) => {
            skip(test, &e.to_string());
            return None;
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), docker.ping()).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            skip(test, &e.to_string());
            return None;
        }
        Err(_) => {
            skip(test, "ping got no answer within 5s");
            return None;
        }
    }
    if let Err(e) = ensure_test_image(&docker).await {
        if e.starts_with("no busybox") {
            skip(test, &e);
            return None;
        }
        panic!("{test}: building {TEST_IMAGE}: {e}");
    }
    Some(docker)
}

static IMAGE: tokio::sync::OnceCell<Result<(), String>> = tokio::sync::OnceCell::const_new();

/// Builds [`TEST_IMAGE`] once per process if the daemon lacks it. Other
/// processes may build it at the same time; the daemon accepts both builds
/// and the tag ends up on one of two identical images.
pub async fn ensure_test_image(docker: &Docker) -> Result<(), String> {
    IMAGE
        .get_or_init(|| async {
            if docker.inspect_image(TEST_IMAGE).await.is_ok() {
                return Ok(());
            }
            build_test_image(docker).await
        })
        .await
        .clone()
}

async fn build_test_image(docker: &Docker) -> Result<(), String> {
    let busybox = BUSYBOX_PATHS
        .iter()
        .find_map(|p| std::fs::read(p).ok())
        .ok_or_else(|| {
            format!("no busybox binary at {BUSYBOX_PATHS:?} (install Debian's busybox-static)")
        })?;
    let mut tar = Tar::default();
    tar.file("Dockerfile", 0o644, DOCKERFILE.as_bytes());
    tar.file("busybox", 0o755, &busybox);
    let opts = BuildImageOptions {
        dockerfile: "Dockerfile".into(),
        t: Some(TEST_IMAGE.into()),
        rm: true,
        forcerm: true,
        ..Default::default()
    };
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(tar.finish().into())));
    while let Some(item) = stream.next().await {
        item.map_err(|e| e.to_string())?;
    }
    docker
        .inspect_image(TEST_IMAGE)
        .await
        .map(|_| ())
        .map_err(|e| format!("built, but not found afterwards: {e}"))
}

/// A minimal ustar writer: regular files only, names under 100 bytes.
#[derive(Default)]
pub struct Tar {
    buf: Vec<u8>,
}

impl Tar {
    pub fn file(&mut self, name: &str, mode: u32, data: &[u8]) {
        assert!(name.len() < 100, "tar name too long: {name}");
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        octal(&mut h[100..108], u64::from(mode));
        octal(&mut h[108..116], 0);
        octal(&mut h[116..124], 0);
        octal(&mut h[124..136], data.len() as u64);
        octal(&mut h[136..148], 0);
        h[156] = b'0';
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        // The checksum is computed with its own field as spaces.
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
        let field = format!("{sum:06o}\0 ");
        h[148..156].copy_from_slice(field.as_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.buf.extend(std::iter::repeat_n(0u8, 1024));
        self.buf
    }
}

/// Writes `value` as zero-padded octal with a trailing NUL.
fn octal(field: &mut [u8], value: u64) {
    let s = format!("{value:0width$o}\0", width = field.len() - 1);
    field.copy_from_slice(s.as_bytes());
}

/// Removes every container carrying `label` (`key=value`) when dropped,
/// through the docker CLI so it works from `Drop` in any context.
pub struct ContainerGuard {
    pub label: String,
}

impl ContainerGuard {
    pub fn new(label: impl Into<String>) -> ContainerGuard {
        ContainerGuard {
            label: label.into(),
        }
    }
}

impl Drop for ContainerGuard {
    fn drop(&mut self) {
        let out = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &format!("label={}", self.label)])
            .output();
        let Ok(out) = out else { return };
        let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect();
        if !ids.is_empty() {
            let _ = std::process::Command::new("docker")
                .args(["rm", "-f", "-v"])
                .args(&ids)
                .output();
        }
    }
}

/// Ids of the containers (any state) carrying `label` (`key=value`).
pub async fn containers_with_label(docker: &Docker, label: &str) -> Vec<String> {
    let filters = HashMap::from([("label".to_string(), vec![label.to_string()])]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .expect("listing containers")
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}

/// Force-removes a container, ignoring one that is already gone.
pub async fn force_remove(docker: &Docker, id: &str) {
    let _ = docker
        .remove_container(
            id,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                link: false,
            }),
        )
        .await;
}

/// Polls `check` every 50 ms until it returns `Some`, or panics after
/// `timeout` saying what was awaited.
pub async fn wait_until<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A name unique to this process and call, for alloc ids and node ids.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{nanos:x}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}
