//! The docker driver against the real daemon (no mocks). Each test skips
//! loudly when no daemon answers (and fails under `CI`), and removes every
//! container it made, by label, even when it fails.

mod docker_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use docker_support::{
    containers_with_label, docker_or_skip, unique, wait_until, ContainerGuard, TEST_IMAGE,
};
use drover_client::driver::docker::{
    container_id, DockerConfig, DockerDriver, LABEL_ALLOC_ID, LABEL_NODE_ID,
};
use drover_client::driver::raw_exec::LogmonCommand;
use drover_client::driver::{
    Driver, DriverError, ExecRequest, LogConfig, PortMapping, Recovered, TaskConfig, TaskHandle,
    TaskIdentity, TaskResources,
};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn driver() -> DockerDriver {
    DockerDriver::new(DockerConfig {
        endpoint: None,
        gc_container: true,
        volumes_enabled: false,
        logger: LogmonCommand {
            program: env!("CARGO_BIN_EXE_drover-docker-logger").into(),
            args_prefix: Vec::new(),
        },
    })
}

/// A task in a fresh alloc dir, with a guard removing its containers.
struct Task {
    cfg: TaskConfig,
    _dir: tempfile::TempDir,
    _guard: ContainerGuard,
}

fn task(config: Value) -> Task {
    task_on_node(config, "test-node")
}

fn task_on_node(config: Value, node_id: &str) -> Task {
    let dir = tempfile::tempdir().unwrap();
    let alloc_id = unique("alloc");
    let alloc_dir = dir.path().join(&alloc_id);
    let task_dir = alloc_dir.join("web");
    for d in ["alloc/logs", "web/local", "web/secrets"] {
        std::fs::create_dir_all(alloc_dir.join(d)).unwrap();
    }
    let cfg = TaskConfig {
        alloc_id: alloc_id.clone(),
        task_name: "web".into(),
        driver_config: serde_json::from_value(config).unwrap(),
        env: BTreeMap::from([("DROVER_TEST".into(), "1".into())]),
        user: None,
        task_dir,
        alloc_dir: alloc_dir.clone(),
        logs: LogConfig {
            dir: alloc_dir.join("alloc/logs"),
            max_files: 2,
            max_file_size_mb: 1,
        },
        resources: TaskResources {
            cpu_mhz: 200,
            memory_mb: 64,
            memory_max_mb: 0,
        },
        kill_signal: None,
        kill_timeout: Duration::from_secs(5),
        identity: TaskIdentity {
            job_name: "example".into(),
            task_group: "cache".into(),
            namespace: "default".into(),
            node_id: node_id.into(),
            node_name: "node-1".into(),
        },
        ports: Vec::new(),
    };
    Task {
        cfg,
        _dir: dir,
        _guard: ContainerGuard::new(format!("{LABEL_ALLOC_ID}={alloc_id}")),
    }
}

/// A long-running shell that exits 0 on SIGTERM.
fn service(script: &str) -> Value {
    json!({
        "image": TEST_IMAGE,
        "command": "sh",
        "args": ["-c", format!("{script}; trap 'exit 0' TERM; while :; do sleep 0.1; done")],
    })
}

fn read_log(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

async fn gone(docker: &bollard::Docker, id: &str) -> bool {
    docker.inspect_container(id, None).await.is_err()
}

#[tokio::test]
async fn fingerprint_reports_engine_version() {
    let Some(docker) = docker_or_skip("fingerprint_reports_engine_version").await else {
        return;
    };
    let info = driver().fingerprint().await;
    assert!(info.detected && info.healthy, "{info:?}");
    assert_eq!(
        info.attributes.get("driver.docker").map(String::as_str),
        Some("1")
    );
    let version = docker.version().await.unwrap().version.unwrap();
    assert_eq!(info.attributes.get("driver.docker.version"), Some(&version));

    let broken = DockerDriver::new(DockerConfig {
        endpoint: Some("unix:///nonexistent/docker.sock".into()),
        ..driver_config()
    });
    let info = broken.fingerprint().await;
    assert!(!info.healthy, "{info:?}");
    assert!(
        info.health_description
            .contains("Failed to connect to docker daemon"),
        "{info:?}"
    );
}

fn driver_config() -> DockerConfig {
    DockerConfig {
        endpoint: None,
        gc_container: true,
        volumes_enabled: false,
        logger: LogmonCommand {
            program: env!("CARGO_BIN_EXE_drover-docker-logger").into(),
            args_prefix: Vec::new(),
        },
    }
}

#[tokio::test]
async fn service_container_has_limits_labels_and_logs_and_is_removed_on_destroy() {
    let Some(docker) = docker_or_skip("service_container_has_limits_labels_and_logs").await else {
        return;
    };
    let d = driver();
    let t = task(service(
        "echo hello-stdout; echo hello-stderr >&2; echo env=$DROVER_TEST",
    ));
    let h = d.start(&t.cfg).await.unwrap();
    let id = container_id(&h).unwrap();

    let info = docker.inspect_container(&id, None).await.unwrap();
    assert_eq!(
        info.name.as_deref(),
        Some(format!("/web-{}", t.cfg.alloc_id).as_str())
    );
    let hc = info.host_config.unwrap();
    assert_eq!(hc.memory, Some(64 << 20));
    assert_eq!(hc.memory_swap, Some(64 << 20));
    assert_eq!(hc.cpu_shares, Some(200));
    let labels = info.config.unwrap().labels.unwrap();
    for (k, v) in [
        ("com.hashicorp.nomad.alloc_id", t.cfg.alloc_id.as_str()),
        ("com.hashicorp.nomad.job_name", "example"),
        ("com.hashicorp.nomad.task_name", "web"),
        ("com.hashicorp.nomad.task_group_name", "cache"),
        ("com.hashicorp.nomad.namespace", "default"),
        ("com.hashicorp.nomad.node_name", "node-1"),
        ("com.hashicorp.nomad.node_id", "test-node"),
    ] {
        assert_eq!(labels.get(k).map(String::as_str), Some(v), "label {k}");
    }

    let logs = t.cfg.logs.dir.clone();
    wait_until(
        "stdout in web.stdout.0",
        Duration::from_secs(15),
        || async {
            let s = read_log(&logs, "web.stdout.0");
            (s.contains("hello-stdout") && s.contains("env=1")).then_some(())
        },
    )
    .await;
    wait_until(
        "stderr in web.stderr.0",
        Duration::from_secs(15),
        || async {
            read_log(&logs, "web.stderr.0")
                .contains("hello-stderr")
                .then_some(())
        },
    )
    .await;
    assert!(!read_log(&logs, "web.stdout.0").contains("hello-stderr"));

    let stats = d.stats(&h).await.unwrap();
    assert!(stats.rss_bytes > 0 && stats.pids >= 1, "{stats:?}");

    d.stop(&h, "SIGTERM", Duration::from_secs(5)).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), d.wait(&h))
        .await
        .unwrap();
    assert_eq!(exit.exit_code, Some(0), "{exit:?}");
    assert!(!exit.oom_killed);
    d.destroy(&h).await.unwrap();
    assert!(
        gone(&docker, &id).await,
        "gc_container removes the container"
    );
    let st = &h.driver_state;
    let pid = st["logger_pid"].as_u64().unwrap() as u32;
    let start = st["logger_start"].as_u64().unwrap();
    assert!(
        !drover_client::driver::procfs::is_alive(pid, start),
        "logger still runs"
    );
}

#[tokio::test]
async fn memory_hog_is_reported_oom_killed() {
    let Some(_docker) = docker_or_skip("memory_hog_is_reported_oom_killed").await else {
        return;
    };
    let d = driver();
    // busybox tail keeps the current (newline-free, endless) line in
    // memory, so it grows until the cgroup limit kills it.
    let t = task(json!({"image": TEST_IMAGE, "command": "tail", "args": ["/dev/zero"]}));
    let h = d.start(&t.cfg).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(60), d.wait(&h))
        .await
        .unwrap();
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!(exit.exit_code, Some(137), "{exit:?}");
    d.destroy(&h).await.unwrap();
}

#[tokio::test]
async fn dynamic_port_reaches_httpd_in_container() {
    let Some(_docker) = docker_or_skip("dynamic_port_reaches_httpd_in_container").await else {
        return;
    };
    let d = driver();
    let mut t = task(json!({
        "image": TEST_IMAGE,
        "command": "httpd",
        "args": ["-f", "-p", "8080", "-h", "/local"],
        "ports": ["http"],
    }));
    let host_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    t.cfg.ports = vec![PortMapping {
        label: "http".into(),
        value: host_port,
        to: 8080,
        host_ip: "127.0.0.1".into(),
    }];
    std::fs::write(
        t.cfg.task_dir.join("local/index.html"),
        "hello from local\n",
    )
    .unwrap();
    let h = d.start(&t.cfg).await.unwrap();
    let url = format!("http://127.0.0.1:{host_port}/index.html");
    let body = wait_until(
        "httpd answers on the host port",
        Duration::from_secs(15),
        || async {
            let r = reqwest::get(&url).await.ok()?;
            r.status().is_success().then_some(())?;
            r.text().await.ok()
        },
    )
    .await;
    assert_eq!(body, "hello from local\n");
    d.stop(&h, "SIGTERM", Duration::from_secs(2)).await.unwrap();
    d.destroy(&h).await.unwrap();
}

#[tokio::test]
async fn fresh_driver_recovers_running_container_from_handle() {
    let Some(docker) = docker_or_skip("fresh_driver_recovers_running_container_from_handle").await
    else {
        return;
    };
    let t = task(service("echo before"));
    let persisted = {
        let d = driver();
        let h = d.start(&t.cfg).await.unwrap();
        serde_json::to_string(&h).unwrap()
    };
    let h: TaskHandle = serde_json::from_str(&persisted).unwrap();
    let id = container_id(&h).unwrap();
    let logs = t.cfg.logs.dir.clone();
    wait_until("first output", Duration::from_secs(15), || async {
        read_log(&logs, "web.stdout.0")
            .contains("before")
            .then_some(())
    })
    .await;

    // The logger died with the machine's agent: recover starts another.
    let pid = h.driver_state["logger_pid"].as_u64().unwrap() as i32;
    // SAFETY: plain kill of the logger this test started.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    let start = h.driver_state["logger_start"].as_u64().unwrap();
    wait_until("old logger gone", Duration::from_secs(5), || async {
        (!drover_client::driver::procfs::is_alive(pid as u32, start)).then_some(())
    })
    .await;

    let d = driver();
    assert_eq!(d.recover(&h).await.unwrap(), Recovered::Running);
    // New output reaches the files through the new logger, and the old
    // output is not copied a second time.
    let s = d
        .exec(
            &h,
            &t.cfg,
            req(&["sh", "-c", "echo after >/proc/1/fd/1"], false),
        )
        .await
        .unwrap();
    assert_eq!(s.control.wait().await.unwrap(), 0);
    wait_until("output after recover", Duration::from_secs(15), || async {
        read_log(&logs, "web.stdout.0")
            .contains("after")
            .then_some(())
    })
    .await;
    let out = read_log(&logs, "web.stdout.0");
    assert_eq!(out.matches("after").count(), 1, "{out:?}");
    let info = docker.inspect_container(&id, None).await.unwrap();
    assert_eq!(info.id.as_deref(), Some(id.as_str()));
    assert_eq!(info.state.unwrap().running, Some(true));

    d.signal(&h, "SIGTERM").await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), d.wait(&h))
        .await
        .unwrap();
    assert_eq!(exit.exit_code, Some(0), "{exit:?}");
    assert!(matches!(
        d.signal(&h, "SIGTERM").await,
        Err(DriverError::TaskNotRunning)
    ));
    match d.recover(&h).await.unwrap() {
        Recovered::Exited(e) => assert_eq!(e.exit_code, Some(0)),
        other => panic!("{other:?}"),
    }
    d.destroy(&h).await.unwrap();
    match d.recover(&h).await.unwrap() {
        Recovered::Exited(e) => assert_eq!(e.err.as_deref(), Some("container not found")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn missing_image_fails_start_naming_it() {
    let Some(docker) = docker_or_skip("missing_image_fails_start_naming_it").await else {
        return;
    };
    let t = task(json!({"image": "drover-test/does-not-exist:1"}));
    let err = tokio::time::timeout(Duration::from_secs(20), driver().start(&t.cfg))
        .await
        .expect("start must not hang on a missing image")
        .unwrap_err();
    assert!(matches!(err, DriverError::Image(_)), "{err:?}");
    assert!(
        err.to_string()
            .contains("Failed to find docker image \"drover-test/does-not-exist:1\""),
        "{err}"
    );
    let left =
        containers_with_label(&docker, &format!("{LABEL_ALLOC_ID}={}", t.cfg.alloc_id)).await;
    assert!(left.is_empty(), "{left:?}");
}

#[tokio::test]
async fn invalid_config_is_rejected_with_a_clear_message() {
    let Some(docker) = docker_or_skip("invalid_config_is_rejected_with_a_clear_message").await
    else {
        return;
    };
    let d = driver();
    let cases = [
        (
            json!({"image": TEST_IMAGE, "ports": ["admin"]}),
            "port label \"admin\" not found in the task's network ports",
        ),
        (
            json!({"image": TEST_IMAGE, "volumes": ["/etc:/host-etc"]}),
            "volumes are disabled",
        ),
        (
            json!({"image": TEST_IMAGE, "volumes": ["../../../..:/up"]}),
            "escapes the allocation directory",
        ),
        (json!({"command": "sh"}), "missing required field \"image\""),
    ];
    for (config, needle) in cases {
        let t = task(config.clone());
        let err = d.start(&t.cfg).await.unwrap_err();
        assert!(
            matches!(
                err,
                DriverError::InvalidConfig {
                    driver: "docker",
                    ..
                }
            ),
            "{config}: {err:?}"
        );
        assert!(err.to_string().contains(needle), "{config}: {err}");
        let left =
            containers_with_label(&docker, &format!("{LABEL_ALLOC_ID}={}", t.cfg.alloc_id)).await;
        assert!(left.is_empty(), "{left:?}");
    }
}

#[tokio::test]
async fn remove_dangling_removes_unknown_allocs_only() {
    let Some(docker) = docker_or_skip("remove_dangling_removes_unknown_allocs_only").await else {
        return;
    };
    let node = unique("node");
    let _guard = ContainerGuard::new(format!("{LABEL_NODE_ID}={node}"));
    let d = driver();
    let known = task_on_node(service("true"), &node);
    let unknown = task_on_node(service("true"), &node);
    let hk = d.start(&known.cfg).await.unwrap();
    let hu = d.start(&unknown.cfg).await.unwrap();
    let keep = BTreeSet::from([known.cfg.alloc_id.clone()]);
    let removed = d.remove_dangling(&node, &keep).await.unwrap();
    assert_eq!(removed, vec![container_id(&hu).unwrap()]);
    assert!(gone(&docker, &container_id(&hu).unwrap()).await);
    assert!(!gone(&docker, &container_id(&hk).unwrap()).await);
    assert_eq!(
        d.remove_dangling(&node, &keep).await.unwrap(),
        Vec::<String>::new()
    );
    d.destroy(&hk).await.unwrap();
    d.destroy(&hu).await.unwrap();
}

async fn read_all(mut r: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut s = String::new();
    tokio::time::timeout(Duration::from_secs(10), r.read_to_string(&mut s))
        .await
        .expect("exec output ends")
        .unwrap();
    s
}

fn req(cmd: &[&str], tty: bool) -> ExecRequest {
    ExecRequest {
        command: cmd.iter().map(|s| s.to_string()).collect(),
        tty,
        tty_size: tty.then_some((24, 80)),
    }
}

#[tokio::test]
async fn exec_runs_commands_in_the_container() {
    let Some(_docker) = docker_or_skip("exec_runs_commands_in_the_container").await else {
        return;
    };
    let d = driver();
    let t = task(service("true"));
    let h = d.start(&t.cfg).await.unwrap();

    let s = d
        .exec(&h, &t.cfg, req(&["echo", "hi"], false))
        .await
        .unwrap();
    assert_eq!(read_all(s.stdout).await, "hi\n");
    assert_eq!(s.control.wait().await.unwrap(), 0);

    let s = d
        .exec(&h, &t.cfg, req(&["sh", "-c", "exit 3"], false))
        .await
        .unwrap();
    assert_eq!(s.control.wait().await.unwrap(), 3);

    let s = d
        .exec(
            &h,
            &t.cfg,
            req(
                &["sh", "-c", "echo out; echo err >&2; echo env=$DROVER_TEST"],
                false,
            ),
        )
        .await
        .unwrap();
    let (out, err) = tokio::join!(read_all(s.stdout), read_all(s.stderr.unwrap()));
    assert_eq!(out, "out\nenv=1\n");
    assert_eq!(err, "err\n");

    let mut s = d.exec(&h, &t.cfg, req(&["cat"], false)).await.unwrap();
    s.stdin.write_all(b"through stdin\n").await.unwrap();
    s.stdin.shutdown().await.unwrap();
    assert_eq!(read_all(s.stdout).await, "through stdin\n");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), s.control.wait())
            .await
            .unwrap()
            .unwrap(),
        0
    );

    let s = d
        .exec(
            &h,
            &t.cfg,
            req(
                &[
                    "sh",
                    "-c",
                    // The size is set just after the start (API 1.41); busybox
                    // stty shows no rows while it is 0x0.
                    "tty; until stty -a | grep -q rows; do sleep 0.05; done; stty -a | head -1",
                ],
                true,
            ),
        )
        .await
        .unwrap();
    assert!(s.stderr.is_none());
    let out = read_all(s.stdout).await;
    assert!(out.contains("/dev/pts/"), "{out:?}");
    assert!(out.contains("rows 24; columns 80"), "{out:?}");
    assert_eq!(s.control.wait().await.unwrap(), 0);

    let s = d
        .exec(
            &h,
            &t.cfg,
            req(
                &[
                    "sh",
                    "-c",
                    "until stty -a | grep -q 'rows 30; columns 100'; do sleep 0.05; done; echo resized",
                ],
                true,
            ),
        )
        .await
        .unwrap();
    s.control.resize(30, 100).await.unwrap();
    assert!(read_all(s.stdout).await.contains("resized"));
    assert_eq!(s.control.wait().await.unwrap(), 0);

    // Dropping a session kills what is left of its command.
    let s = d
        .exec(&h, &t.cfg, req(&["sleep", "567"], false))
        .await
        .unwrap();
    drop(s);
    wait_until("dropped exec killed", Duration::from_secs(10), || async {
        let ps = d.exec(&h, &t.cfg, req(&["ps"], false)).await.ok()?;
        let out = read_all(ps.stdout).await;
        (!out.contains("sleep 567")).then_some(())
    })
    .await;

    d.stop(&h, "SIGTERM", Duration::from_secs(5)).await.unwrap();
    d.destroy(&h).await.unwrap();
}

#[tokio::test]
async fn absent_image_is_loaded_from_the_task_tarball() {
    let Some(docker) = docker_or_skip("absent_image_is_loaded_from_the_task_tarball").await else {
        return;
    };
    use bollard::query_parameters::{RemoveImageOptions, TagImageOptions};
    use futures_util::StreamExt;

    // A tag only this test knows, saved to a tarball and then untagged,
    // so the start has to `docker load` it.
    let repo = format!("drover-test/load-{}", unique("img").to_lowercase());
    let image = format!("{repo}:1");
    let tag = TagImageOptions {
        repo: Some(repo.clone()),
        tag: Some("1".into()),
    };
    docker.tag_image(TEST_IMAGE, Some(tag)).await.unwrap();
    let mut tar = Vec::new();
    let mut export = docker.export_image(&image);
    while let Some(chunk) = export.next().await {
        tar.extend_from_slice(&chunk.unwrap());
    }
    let untag = || RemoveImageOptions {
        force: false,
        noprune: true,
        platforms: None,
    };
    docker
        .remove_image(&image, Some(untag()), None)
        .await
        .unwrap();
    assert!(docker.inspect_image(&image).await.is_err());

    let d = driver();
    let t = task(json!({
        "image": image,
        "load": "local/image.tar",
        "command": "sh",
        "args": ["-c", "echo loaded"],
    }));
    std::fs::write(t.cfg.task_dir.join("local/image.tar"), &tar).unwrap();
    let h = d.start(&t.cfg).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(20), d.wait(&h))
        .await
        .unwrap();
    assert_eq!(exit.exit_code, Some(0), "{exit:?}");
    let logs = t.cfg.logs.dir.clone();
    wait_until(
        "output of the loaded image",
        Duration::from_secs(10),
        || async {
            read_log(&logs, "web.stdout.0")
                .contains("loaded")
                .then_some(())
        },
    )
    .await;
    d.destroy(&h).await.unwrap();
    docker
        .remove_image(&image, Some(untag()), None)
        .await
        .unwrap();

    // A tarball outside the allocation is refused before any load.
    let t = task(json!({"image": image, "load": "../../../../etc/passwd"}));
    let err = d.start(&t.cfg).await.unwrap_err();
    assert!(
        err.to_string().contains("escapes the allocation directory"),
        "{err}"
    );
}

#[tokio::test]
async fn memory_max_and_cpu_hard_limit_shape_the_cgroup() {
    let Some(docker) = docker_or_skip("memory_max_and_cpu_hard_limit_shape_the_cgroup").await
    else {
        return;
    };
    let d = driver();
    let mut cfg = service("true");
    cfg["cpu_hard_limit"] = json!(true);
    cfg["labels"] = json!({"team": "infra"});
    let mut t = task(cfg);
    t.cfg.resources = TaskResources {
        cpu_mhz: 500,
        memory_mb: 64,
        memory_max_mb: 128,
    };
    t.cfg.kill_signal = Some("SIGUSR1".into());
    let h = d.start(&t.cfg).await.unwrap();
    let info = docker
        .inspect_container(&container_id(&h).unwrap(), None)
        .await
        .unwrap();
    let hc = info.host_config.unwrap();
    assert_eq!(hc.memory, Some(128 << 20));
    assert_eq!(hc.memory_reservation, Some(64 << 20));
    assert_eq!(hc.memory_swap, Some(128 << 20));
    assert_eq!(hc.cpu_period, Some(100_000));
    assert!(
        hc.cpu_quota.is_some_and(|q| q >= 1000),
        "{:?}",
        hc.cpu_quota
    );
    let config = info.config.unwrap();
    assert_eq!(config.stop_signal.as_deref(), Some("SIGUSR1"));
    assert_eq!(
        config.labels.unwrap().get("team").map(String::as_str),
        Some("infra")
    );
    // `sh` ignores SIGUSR1 only if trapped; it is not, so it dies of it.
    d.stop(&h, "SIGUSR1", Duration::from_secs(5)).await.unwrap();
    let exit = tokio::time::timeout(Duration::from_secs(10), d.wait(&h))
        .await
        .unwrap();
    assert!(exit.exit_code.is_some(), "{exit:?}");
    d.destroy(&h).await.unwrap();
}
