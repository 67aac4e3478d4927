//! The book's Docker Compose example, run for real: the page's
//! `compose.yaml` with the standalone `docker-compose` (v1 syntax, as
//! `docker compose` reads the same file), its containers on a Compose
//! network of their own.
//!
//! There is no registry, so the page's image (`FROM debian`, the release
//! binary copied in) cannot be built. An override file of the test's own
//! gives every service the offline busybox image of `docker_support`
//! instead, with the binary under test bind-mounted read-only where the
//! page's Dockerfile copies it (`/usr/local/bin/drover`) and the shared
//! libraries and loader `ldd` lists for it at their host paths; the
//! page's commands, flags, volumes and network are used as written.
//!
//! Without Docker, `docker-compose` or Debian's busybox-static the
//! example is skipped with a `SKIPPED` line, except under `CI`, where
//! that is a failure. Dropping a [`Compose`] runs `down -v`, so its
//! containers, network and volumes go also when an assertion fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::docker_support::{ensure_test_image, TEST_IMAGE};

/// The test's override file, beside the page's `compose.yaml`.
const OVERRIDE: &str = ".doc-compose.override.yaml";
/// The page's Compose file.
const COMPOSE_FILE: &str = "compose.yaml";
/// Where the page's Dockerfile puts the binary.
const BINARY: &str = "/usr/local/bin/drover";

/// One Compose project of a page, taken down when dropped.
pub struct Compose {
    project: String,
    dir: PathBuf,
}

/// Why the example cannot run on this machine.
pub struct Unavailable(pub String);

impl Drop for Compose {
    fn drop(&mut self) {
        let _ = self
            .compose(&["down", "-v", "--remove-orphans", "-t", "5"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

impl Compose {
    /// Prepares the project for the page's `compose.yaml` in `dir`:
    /// checks the tools, builds the offline image if missing, writes the
    /// override. `Err(Unavailable)` when something is missing that a
    /// machine may lack; `Ok(Err(why))` for a real failure.
    pub fn prepare(dir: &Path) -> Result<Result<Compose, String>, Unavailable> {
        for (tool, args) in [
            (
                "docker",
                &["version", "--format", "{{.Server.Version}}"][..],
            ),
            ("docker-compose", &["version"][..]),
        ] {
            let ok = Command::new(tool)
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(Unavailable(format!("`{tool}` is missing or not working")));
            }
        }
        if let Err(e) = build_image() {
            return match e.starts_with("no busybox") || e.starts_with("no Docker") {
                true => Err(Unavailable(e)),
                false => Ok(Err(format!("building {TEST_IMAGE}: {e}"))),
            };
        }
        Ok(Self::write_override(dir).map(|()| Compose {
            project: format!("droverdoc{}", std::process::id()),
            dir: dir.to_path_buf(),
        }))
    }

    /// The page's `docker compose ARGS` as the test runs it: the
    /// standalone tool, the test's project and override, no build (the
    /// override's image stands in), no terminal for `exec`.
    pub fn command(&self, args: &str) -> String {
        let args = args
            .replacen("up -d --build", "up -d --no-build", 1)
            .replacen("exec ", "exec -T ", 1);
        format!(
            "docker-compose -p {} -f {COMPOSE_FILE} -f {OVERRIDE} {args}",
            self.project
        )
    }

    fn compose(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker-compose");
        cmd.current_dir(&self.dir)
            .args(["-p", &self.project, "-f", COMPOSE_FILE, "-f", OVERRIDE])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// Every service of the page's file on the offline image, with the
    /// binary and its libraries mounted.
    fn write_override(dir: &Path) -> Result<(), String> {
        let page = std::fs::read_to_string(dir.join(COMPOSE_FILE))
            .map_err(|e| format!("the page wrote no {COMPOSE_FILE}: {e}"))?;
        let services = service_names(&page);
        if services.is_empty() {
            return Err(format!("{COMPOSE_FILE} names no services"));
        }
        let mut text = format!(
            "x-drover-test: &test\n  image: {TEST_IMAGE}\n  entrypoint: [drover]\n  \
             environment: [PATH=/usr/local/bin:/bin]\n  volumes:\n"
        );
        for mount in mounts(env!("CARGO_BIN_EXE_drover"))? {
            text += &format!("    - {mount}\n");
        }
        text += "services:\n";
        for s in services {
            text += &format!("  {s}: *test\n");
        }
        std::fs::write(dir.join(OVERRIDE), text).map_err(|e| format!("{OVERRIDE}: {e}"))
    }
}

/// The names under `services:` of a Compose file (two-space indent).
fn service_names(yaml: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut inside = false;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.trim().is_empty() {
            inside = line.trim_end() == "services:";
            continue;
        }
        let Some(rest) = line.strip_prefix("  ") else {
            continue;
        };
        if inside && !rest.starts_with(' ') {
            if let Some((name, _)) = rest.split_once(':') {
                names.push(name.trim().to_string());
            }
        }
    }
    names
}

fn build_image() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("a runtime: {e}"))?;
    runtime.block_on(async {
        let docker = bollard::Docker::connect_with_local_defaults()
            .map_err(|e| format!("no Docker daemon ({e})"))?;
        ensure_test_image(&docker).await
    })
}

/// `binary` at [`BINARY`] and what `ldd` lists for it at its own path,
/// read-only, as `-v`/`volumes` entries.
fn mounts(binary: &str) -> Result<Vec<String>, String> {
    let out = Command::new("ldd")
        .arg(binary)
        .output()
        .map_err(|e| format!("ldd: {e}"))?;
    let mut mounts = vec![format!("{binary}:{BINARY}:ro")];
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        // `libc.so.6 => /lib/.../libc.so.6 (0x...)`, or the loader alone;
        // the vDSO has no file.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        let real = Path::new(path)
            .canonicalize()
            .map_err(|e| format!("library {path}: {e}"))?;
        mounts.push(format!("{}:{path}:ro", real.display()));
    }
    Ok(mounts)
}

#[cfg(test)]
mod tests {
    #[test]
    fn service_names() {
        let yaml =
            "services:\n  s1: &server\n    build: .\n    command: [a]\n  c1:\n    build: .\n\
                    volumes: {s1: {}, c1: {}}\n";
        assert_eq!(super::service_names(yaml), ["s1", "c1"]);
    }
}
