//! Drover agents in Docker containers on a network the test creates, and
//! network partitions between them.
//!
//! Each agent runs in a container of its own, so it has its own network
//! namespace and address: a partition can then cut exactly the traffic
//! between two agents, while the test process on the host still reaches
//! every agent's HTTP port to watch both sides.
//!
//! **The image.** There is no registry, so nothing is pulled: the
//! containers run the offline busybox image of `docker_support`
//! (`FROM scratch` plus Debian's static busybox), with the test's own
//! `drover` binary bind-mounted read-only at `/drover`, and beside it the
//! shared libraries and dynamic loader `ldd` lists for it, at their host
//! paths. Nothing is copied, and the image does not change with the build.
//!
//! **The network.** `docker network create`, Docker choosing the subnet.
//! Agents bind `0.0.0.0` and advertise their container address; servers
//! find each other by container name (Docker's embedded DNS answers
//! inside each container on its loopback, which a partition leaves alone).
//!
//! **The partition.** For each container on one side, `iptables` rules in
//! its network namespace, inserted from the host through
//! `nsenter --net=/proc/<pid>/ns/net`: drop INPUT from and OUTPUT to each
//! address on the other side. Both directions stop, on every port (Raft
//! and forwarding on the RPC port, the client's calls on HTTP), packets of
//! connections already open included, as when a cable is pulled: DROP,
//! not REJECT, so the peers see silence and time out rather than being
//! refused. The host's bridge address matches no rule. Healing deletes
//! exactly the rules the partition inserted.
//!
//! **Cleanup.** Every container and the network carry the label
//! `drover-test=partition` and the pid of the test process. Dropping the
//! [`Lab`] removes them, also while a failed assertion unwinds; a new lab
//! first removes whatever a test process that no longer runs left behind
//! (one killed before its drop ran).
//!
//! Included by `#[path]` beside `common` and `docker_support`, whose
//! deadline and image it uses.
#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::Value;

use crate::common::DEADLINE;
use crate::docker_support::{ensure_test_image, TEST_IMAGE};

/// The label on everything a lab makes.
pub const LABEL: &str = "drover-test=partition";
/// The label carrying the pid of the test process that made it.
const PID_LABEL: &str = "drover-test.pid";
/// How long one `docker`, `nsenter` or `ldd` command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// Where the binary is mounted in every container.
const BINARY: &str = "/drover";
/// Where each agent's extra configuration file is mounted.
const CONFIG_DIR: &str = "/etc/drover";
/// Logging of every agent: the agents' own lines at info, openraft quiet.
const RUST_LOG: &str = "info,openraft=warn,sled=warn,hyper=warn,h2=warn";

/// Says loudly that `test` did not run and why, or panics under `CI`,
/// which runs as root with Docker and must run every partition test.
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("{test}: {reason}, and CI is set, so this test must not skip");
    }
    // Straight to the process's stderr: the harness captures `eprintln!`.
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test}: {reason}");
}

/// A figure for the log, uncaptured like [`skip`].
pub fn report(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

/// Runs `program args`, returns its stdout, or an error naming the command
/// and carrying its stderr.
pub async fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let what = format!("{program} {}", args.join(" "));
    let out = tokio::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(COMMAND_TIMEOUT, out)
        .await
        .map_err(|_| format!("`{what}` did not finish within {COMMAND_TIMEOUT:?}"))?
        .map_err(|e| format!("`{what}`: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`{what}` failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// [`run`] from a `Drop`: blocking, errors ignored.
fn run_blocking(program: &str, args: &[&str]) -> String {
    std::process::Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// One agent in its container.
pub struct Node {
    /// The container's name, which is also its host name on the network.
    pub name: String,
    /// Its address on the lab's network.
    pub ip: String,
    /// The host pid of its first process (the agent): its namespaces.
    pub pid: u32,
    pub http: reqwest::Client,
}

impl Node {
    pub fn base(&self) -> String {
        format!("http://{}:4646", self.ip)
    }

    /// Its RPC address, as Raft and `/v1/status/leader` name it.
    pub fn rpc_addr(&self) -> String {
        format!("{}:4647", self.ip)
    }

    /// Its HTTP address, as a client's `-servers` lists it.
    pub fn http_addr(&self) -> String {
        format!("{}:4646", self.ip)
    }

    /// `method path` with an optional JSON body: status, headers and body
    /// (JSON, or the text as a JSON string); `None` while it does not
    /// answer.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Option<(StatusCode, reqwest::header::HeaderMap, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base()));
        if let Some(b) = body {
            req = req.json(b);
        }
        let r = req.send().await.ok()?;
        let (status, headers) = (r.status(), r.headers().clone());
        let text = r.text().await.ok()?;
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Some((status, headers, body))
    }

    /// `GET path`: the body when the status is 200.
    pub async fn get(&self, path: &str) -> Option<Value> {
        match self.call(reqwest::Method::GET, path, None).await {
            Some((StatusCode::OK, _, v)) => Some(v),
            _ => None,
        }
    }

    /// The leader it names on `/v1/status/leader`: `Some("")` for none,
    /// `None` while it does not answer.
    pub async fn leader(&self) -> Option<String> {
        self.get("/v1/status/leader")
            .await
            .and_then(|v| v.as_str().map(str::to_string))
    }

    fn netns(&self) -> String {
        format!("--net=/proc/{}/ns/net", self.pid)
    }

    /// `iptables args` inside its network namespace.
    async fn iptables(&self, args: &[&str]) -> Result<String, String> {
        let netns = self.netns();
        let mut all = vec![netns.as_str(), "iptables", "-w"];
        all.extend_from_slice(args);
        run("nsenter", &all).await
    }
}

/// A Docker network and the containers on it, removed when dropped.
pub struct Lab {
    pub network: String,
    prefix: String,
    mounts: Vec<String>,
    config: tempfile::TempDir,
    containers: std::sync::Mutex<Vec<String>>,
    /// The rules a partition inserted: in whose namespace, which rule.
    cuts: std::sync::Mutex<Vec<(String, Vec<String>)>>,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let names = self
            .containers
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        if !names.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(names.iter().map(String::as_str));
            run_blocking("docker", &args);
        }
        run_blocking("docker", &["network", "rm", &self.network]);
    }
}

impl Lab {
    /// A fresh network for `test`, once Docker, `nsenter` and `iptables`
    /// answer and the image is there; `None` after a loud [`skip`].
    pub async fn start(test: &str) -> Option<Lab> {
        match Self::try_start().await {
            Ok(lab) => Some(lab),
            Err(reason) => {
                skip(test, &reason);
                None
            }
        }
    }

    async fn try_start() -> Result<Lab, String> {
        run("docker", &["version", "--format", "{{.Server.Version}}"])
            .await
            .map_err(|e| format!("no Docker daemon ({e})"))?;
        for (tool, arg) in [("nsenter", "--version"), ("iptables", "--version")] {
            run(tool, &[arg])
                .await
                .map_err(|e| format!("{tool} is not usable ({e})"))?;
        }
        let docker = bollard::Docker::connect_with_local_defaults()
            .map_err(|e| format!("no Docker daemon ({e})"))?;
        ensure_test_image(&docker)
            .await
            .map_err(|e| format!("no test image {TEST_IMAGE} ({e})"))?;
        remove_leftovers().await;

        let mounts = mounts(env!("CARGO_BIN_EXE_drover")).await?;
        static LABS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = LABS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let prefix = format!("drover-part-{}-{n}", std::process::id());
        let config = tempfile::tempdir().map_err(|e| format!("a temporary directory: {e}"))?;
        let pid_label = format!("{PID_LABEL}={}", std::process::id());
        run(
            "docker",
            &[
                "network", "create", "--label", LABEL, "--label", &pid_label, &prefix,
            ],
        )
        .await
        .map_err(|e| format!("cannot create a Docker network ({e})"))?;
        // The lab owns the network from here: dropping it removes it.
        Ok(Lab {
            network: prefix.clone(),
            prefix,
            mounts,
            config,
            containers: Default::default(),
            cuts: Default::default(),
        })
    }

    /// The container (and host) name of the agent called `name`.
    pub fn host(&self, name: &str) -> String {
        format!("{}-{name}", self.prefix)
    }

    /// Starts `drover agent <args>` in container `<prefix>-<name>` with
    /// `config` (HCL, may be empty) as an extra configuration file, and
    /// waits until its HTTP API answers.
    pub async fn agent(&self, name: &str, args: &[&str], config: &str) -> Node {
        let full = self.host(name);
        let config_file = format!("{name}.hcl");
        std::fs::write(self.config.path().join(&config_file), config).unwrap();
        self.containers.lock().unwrap().push(full.clone());
        let labels = [
            LABEL.to_string(),
            format!("{PID_LABEL}={}", std::process::id()),
        ];
        let mut cmd: Vec<String> = ["run", "-d", "--name", &full, "--hostname", &full]
            .into_iter()
            .map(String::from)
            .collect();
        cmd.extend(["--network".to_string(), self.network.clone()]);
        for label in labels {
            cmd.extend(["--label".to_string(), label]);
        }
        for env in ["NO_COLOR=1".to_string(), format!("RUST_LOG={RUST_LOG}")] {
            cmd.extend(["-e".to_string(), env]);
        }
        let config_mount = format!("{}:{CONFIG_DIR}:ro", self.config.path().display());
        for mount in self.mounts.iter().chain([&config_mount]) {
            cmd.extend(["-v".to_string(), mount.clone()]);
        }
        cmd.extend([TEST_IMAGE, BINARY, "agent"].map(String::from));
        cmd.extend(args.iter().map(|a| a.to_string()));
        let config_arg = format!("{CONFIG_DIR}/{config_file}");
        let own = [
            "-bind",
            "0.0.0.0",
            "-log-level=info",
            "-data-dir",
            "/data",
            "-config",
        ];
        cmd.extend(own.map(String::from));
        cmd.push(config_arg);
        let cmd: Vec<&str> = cmd.iter().map(String::as_str).collect();
        if let Err(e) = run("docker", &cmd).await {
            panic!("starting {full}: {e}");
        }
        let inspect = run(
            "docker",
            &[
                "inspect",
                "-f",
                "{{.State.Pid}} {{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                &full,
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("inspecting {full}: {e}"));
        let mut fields = inspect.split_whitespace();
        let pid = fields.next().and_then(|p| p.parse::<u32>().ok());
        let (Some(pid), Some(ip)) = (pid, fields.next()) else {
            panic!("{full} has no pid and address: {inspect:?}");
        };
        let node = Node {
            name: full,
            ip: ip.to_string(),
            pid,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        };
        self.until(&format!("{} to answer", node.name), DEADLINE, || async {
            node.get("/v1/agent/self").await.map(|_| ())
        })
        .await;
        node
    }

    /// Whether rules can be set in `node`'s namespace (root, a kernel with
    /// netfilter in namespaces); the reason when not.
    pub async fn firewall_usable(&self, node: &Node) -> Result<(), String> {
        node.iptables(&["-S", "INPUT"])
            .await
            .map(|_| ())
            .map_err(|e| format!("cannot set iptables rules in a container's namespace ({e})"))
    }

    /// Cut every node of `side` off from every node of `others`, both
    /// directions (see the module doc).
    pub async fn cut(&self, side: &[&Node], others: &[&Node]) {
        for node in side {
            for other in others {
                for rule in [
                    ["INPUT", "-s", other.ip.as_str(), "-j", "DROP"],
                    ["OUTPUT", "-d", other.ip.as_str(), "-j", "DROP"],
                ] {
                    let mut args = vec!["-I"];
                    args.extend(rule);
                    node.iptables(&args)
                        .await
                        .unwrap_or_else(|e| panic!("cutting {}: {e}", node.name));
                    let rule = rule.iter().map(|s| s.to_string()).collect();
                    self.cuts.lock().unwrap().push((node.netns(), rule));
                }
            }
        }
    }

    /// Delete every rule [`Lab::cut`] inserted.
    pub async fn heal(&self) {
        let cuts = std::mem::take(&mut *self.cuts.lock().unwrap());
        for (netns, rule) in cuts {
            let mut args = vec![netns.as_str(), "iptables", "-w", "-D"];
            args.extend(rule.iter().map(String::as_str));
            run("nsenter", &args)
                .await
                .unwrap_or_else(|e| panic!("healing: {e}"));
        }
    }

    /// Poll `check` every 50 ms until it gives a value; after `timeout`,
    /// fail naming `what`, with every agent's recent output.
    pub async fn until<T, F, Fut>(&self, what: &str, timeout: Duration, mut check: F) -> T
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
                panic!(
                    "timed out after {timeout:?} waiting for {what}\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every container's recent output.
    pub fn logs(&self) -> String {
        let names = self
            .containers
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default();
        names
            .iter()
            .map(|n| {
                let out = std::process::Command::new("docker")
                    .args(["logs", "--tail", "60", n])
                    .output();
                let text = out
                    .map(|o| {
                        format!(
                            "{}{}",
                            String::from_utf8_lossy(&o.stdout),
                            String::from_utf8_lossy(&o.stderr)
                        )
                    })
                    .unwrap_or_default();
                format!("---- {n}\n{text}")
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// The `-v` arguments that put `binary` at [`BINARY`] and the shared
/// libraries and loader it needs at their own paths, all read-only.
async fn mounts(binary: &str) -> Result<Vec<String>, String> {
    let ldd = run("ldd", &[binary])
        .await
        .map_err(|e| format!("cannot list the binary's libraries ({e})"))?;
    let mut mounts = vec![format!("{binary}:{BINARY}:ro")];
    for line in ldd.lines() {
        // `libc.so.6 => /lib/.../libc.so.6 (0x...)`, or the loader alone:
        // `/lib64/ld-linux-x86-64.so.2 (0x...)`; the vDSO has no file.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        let Some(path) = path.filter(|p| p.starts_with('/')) else {
            continue;
        };
        // Mounted from the file a symlink names, at the path asked for.
        let real = Path::new(path)
            .canonicalize()
            .map_err(|e| format!("library {path}: {e}"))?;
        mounts.push(format!("{}:{path}:ro", real.display()));
    }
    Ok(mounts)
}

/// Removes the containers and networks labelled by a test process that no
/// longer runs.
async fn remove_leftovers() {
    let dead = |line: &str| -> Option<String> {
        let (id, pid) = line.split_once(' ')?;
        let pid: u32 = pid.trim().parse().ok()?;
        let gone = pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists();
        gone.then(|| id.to_string())
    };
    let filter = format!("label={LABEL}");
    let format = format!("{{{{.ID}}}} {{{{.Label \"{PID_LABEL}\"}}}}");
    let listed = run(
        "docker",
        &["ps", "-a", "--filter", &filter, "--format", &format],
    )
    .await;
    let containers: Vec<String> = listed
        .unwrap_or_default()
        .lines()
        .filter_map(dead)
        .collect();
    if !containers.is_empty() {
        let mut args = vec!["rm", "-f", "-v"];
        args.extend(containers.iter().map(String::as_str));
        let _ = run("docker", &args).await;
    }
    let listed = run(
        "docker",
        &["network", "ls", "--filter", &filter, "--format", &format],
    )
    .await;
    for network in listed.unwrap_or_default().lines().filter_map(dead) {
        let _ = run("docker", &["network", "rm", &network]).await;
    }
}

/// The processes in `node`'s network namespace whose command line is
/// `argv` exactly, as (host pid, start time in clock ticks): the same pair
/// later means the very same process.
pub fn processes_in(node: &Node, argv: &[&str]) -> Vec<(u32, u64)> {
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    let Some(want_ns) = ns(&node.pid.to_string()) else {
        return Vec::new();
    };
    let want: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(pid) = name.parse::<u32>() else {
            continue;
        };
        if ns(&name).as_ref() != Some(&want_ns) {
            continue;
        }
        if std::fs::read(entry.path().join("cmdline")).ok().as_deref() != Some(&want[..]) {
            continue;
        }
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        // Field 22 (starttime), counted after the parenthesised name.
        let start = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(19))
            .and_then(|v| v.parse::<u64>().ok());
        if let Some(start) = start {
            found.push((pid, start));
        }
    }
    found.sort();
    found
}
