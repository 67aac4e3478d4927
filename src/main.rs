//! The `drover` binary: the agent and the CLI in one.
//!
//! This is glue (see ARCHITECTURE.md): argument parsing here, everything
//! else in the crates. Errors reach the user as one line, `{:#}`, never a
//! backtrace.

mod agent;
mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};

/// jemalloc: the state machine's write path is allocation-heavy, and under
/// churn (event log ageing out, allocations updated) jemalloc measured
/// ~10% ahead of glibc malloc in `cargo bench -p drover-state`. mimalloc was
/// as fast but commits a 43 MiB arena eagerly, which broke the idle-RSS
/// budget of `agent -dev`.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Debug, Parser)]
#[command(
    name = "drover",
    about = "A cluster scheduler that speaks Nomad's v1 HTTP API",
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the version of this binary.
    Version,
    /// Run a Drover agent (server, client, or both with -dev).
    Agent(Box<agent::AgentArgs>),
    /// The per-task log collector a client starts (internal).
    #[command(hide = true)]
    Logmon {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Work with an allocation: exec, logs, attach, signal, restart, stop.
    #[command(disable_help_flag = true)]
    Alloc {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Work with jobs: run, plan, status, stop, inspect, history, ...
    #[command(disable_help_flag = true)]
    Job {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Manage servers: join a server to a cluster, list the servers.
    #[command(disable_help_flag = true)]
    Server {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Cluster operator commands: Raft peers, snapshots.
    #[command(disable_help_flag = true)]
    Operator {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The per-container log copier the docker driver starts (internal).
    #[command(hide = true, name = "docker-logger")]
    DockerLogger {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// `drover agent`'s long flags, from its clap definition, for completion.
fn agent_flags() -> Vec<String> {
    use clap::Args;
    let cmd = agent::AgentArgs::augment_args(clap::Command::new("agent"));
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    out.sort();
    out
}

fn version() -> String {
    format!("Drover v{}", env!("CARGO_PKG_VERSION"))
}

fn main() -> ExitCode {
    let raw: Vec<String> = std::env::args().collect();
    // `alloc` reads its own Go-style flags; the words after it (a command
    // to exec and its flags) must reach it untouched.
    if raw.get(1).map(String::as_str) == Some("alloc") {
        return cli::alloc::run(raw[2..].to_vec());
    }
    if raw.get(1).map(String::as_str) == Some("job") {
        return cli::job::run(raw[2..].to_vec());
    }
    if raw.get(1).map(String::as_str) == Some("server") {
        return cli::server::run(raw[2..].to_vec());
    }
    if raw.get(1).map(String::as_str) == Some("operator") {
        return cli::operator::run(raw[2..].to_vec());
    }
    // The agent-talking commands read Go-style flags themselves.
    let rest = raw.get(2..).unwrap_or_default();
    match raw.get(1).map(String::as_str) {
        None | Some("-h" | "-help" | "--help" | "help") => {
            cli::output::emit(cli::tree::TOP);
            return ExitCode::SUCCESS;
        }
        Some("version" | "-version" | "--version" | "-v") => {
            return cli::misc::version(rest, &version());
        }
        Some("acl") => return cli::acl::run(rest),
        Some("eval") => return cli::eval::run(rest),
        Some("deployment") => return cli::deployment::run(rest),
        Some("node") => return cli::node::run(rest),
        Some("namespace") => return cli::namespace::run(rest),
        Some("status") => return cli::misc::status(rest),
        Some("system") => return cli::misc::system(rest),
        Some("ui") => return cli::misc::ui(rest),
        Some("event") => return cli::misc::event(rest),
        Some("tls") => return cli::tls::run(rest),
        Some("completion") => return cli::completion::run(rest, &agent_flags()),
        _ => {}
    }
    let args: Vec<String> = raw.into_iter().map(agent::normalize_go_flag).collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) if e.kind() == clap::error::ErrorKind::InvalidSubcommand => {
            let word = args.get(1).cloned().unwrap_or_default();
            eprintln!("Error: unrecognized subcommand '{word}' (see 'drover -help')");
            return ExitCode::from(1);
        }
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Version => {
            println!("{}", version());
            Ok(())
        }
        Command::Agent(args) => run_agent(&args),
        Command::Alloc { args } => {
            let code = cli::alloc::run(args);
            if code == ExitCode::SUCCESS {
                Ok(())
            } else {
                Err(anyhow::anyhow!("drover alloc failed"))
            }
        }
        Command::Job { args } => {
            if cli::job::run(args) == ExitCode::SUCCESS {
                Ok(())
            } else {
                Err(anyhow::anyhow!("drover job failed"))
            }
        }
        Command::Server { args } => {
            if cli::server::run(args) == ExitCode::SUCCESS {
                Ok(())
            } else {
                Err(anyhow::anyhow!("drover server failed"))
            }
        }
        Command::Operator { args } => {
            if cli::operator::run(args) == ExitCode::SUCCESS {
                Ok(())
            } else {
                Err(anyhow::anyhow!("drover operator failed"))
            }
        }
        Command::Logmon { args } => {
            drover_client::logmon::run(args).map_err(|e| anyhow::anyhow!("logmon: {e}"))
        }
        Command::DockerLogger { args } => drover_client::driver::docker::logger::run(args)
            .map_err(|e| anyhow::anyhow!("docker-logger: {e}")),
    }
}

/// The machine's name, the default node name (Nomad uses the hostname).
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "drover".to_string())
}

fn init_logging(level: &str, json: bool) {
    // RUST_LOG wins; otherwise the agent's level for Drover and quieter
    // dependencies (openraft and sled log every heartbeat at debug; the
    // HTTP stack every connection).
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| log_filter(level));
    // Colour codes only for a person watching: a log file or journald
    // gets plain text.
    let ansi = cli_is_tty(libc::STDERR_FILENO);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// The agent's log filter: its level for Drover's own crates, and
/// dependencies held to `warn` unless the agent logs at trace.
fn log_filter(level: &str) -> String {
    let deps = if level == "trace" { "trace" } else { "warn" };
    format!(
        "{level},openraft={deps},sled={deps},hyper={deps},hyper_util={deps},h2={deps},\
         reqwest={deps},tower={deps},tower_http={deps},axum={deps},bollard={deps},\
         tungstenite={deps},tokio_tungstenite={deps},mio={deps}"
    )
}

fn cli_is_tty(fd: i32) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

fn run_agent(args: &agent::AgentArgs) -> anyhow::Result<()> {
    let (cfg, warnings) = agent::load(args, &hostname())?;
    init_logging(&cfg.log_level.as_str().to_ascii_lowercase(), cfg.log_json);
    for w in warnings {
        tracing::warn!("{w}");
    }
    raise_open_file_limit();
    let tls = agent::tls::load(&cfg.tls, &cfg.region)?;
    // The client side of the agent's own calls to servers: register,
    // heartbeats, the members relay (HTTPS API under `tls { http = true }`).
    let server_tls = match tls.as_deref() {
        Some(t) if t.http => Some(t.client(
            drover_server::tls::Peer::Server,
            drover_server::tls::ALPN_HTTP1,
        )?),
        _ => None,
    };
    let http_tls = match tls.as_deref() {
        Some(t) if t.http => Some(t.http_server()?),
        _ => None,
    };
    if !cfg.server.enabled && cfg.client.servers.is_empty() {
        anyhow::bail!(
            "a client-only agent needs servers: client {{ servers = [\"<server HTTP address>\"] }} or -servers"
        );
    }
    // Dev mode without a data dir keeps its state in a temporary directory,
    // removed on exit (Nomad's -dev is in-memory).
    let temp = match &cfg.data_dir {
        Some(_) => None,
        None => Some(
            tempfile::Builder::new()
                .prefix("drover-dev-")
                .tempdir()
                .context("creating a temporary data directory")?,
        ),
    };
    let data_dir: PathBuf = match (&cfg.data_dir, &temp) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.path().to_path_buf(),
        (None, None) => anyhow::bail!("no data directory"),
    };
    let opts = drover_server::agent::ServerOptions {
        data_dir,
        http_addr: cfg.http_addr(),
        rpc_addr: cfg.rpc_addr(),
        advertise_ip: agent::advertise::advertise_ip(cfg.bind_addr),
        retry_join: cfg.server.retry_join.clone(),
        name: cfg.name.clone(),
        region: cfg.region.clone(),
        datacenter: cfg.datacenter.clone(),
        bootstrap_expect: cfg.server.bootstrap_expect,
        retention: Default::default(),
        snapshot_every: cfg.server.raft_snapshot_threshold.map_or(10_000, u64::from),
        keep_after_snapshot: cfg.server.raft_trailing_logs.map_or(1_000, u64::from),
        num_schedulers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        min_heartbeat_ttl: std::time::Duration::from_secs(10),
        max_heartbeats_per_second: 50.0,
        heartbeat_grace: std::time::Duration::from_secs(10),
        failover_heartbeat_ttl: std::time::Duration::from_secs(300),
        http_limits: cfg.limits,
        autopilot: drover_server::cluster::Autopilot {
            server_stabilization_time: cfg
                .server
                .server_stabilization_time
                .unwrap_or(drover_server::cluster::Autopilot::default().server_stabilization_time),
        },
        gc: {
            let default = drover_server::gc_timer::GcConfig::default();
            drover_server::gc_timer::GcConfig {
                deployment_gc_threshold: cfg
                    .server
                    .deployment_gc_threshold
                    .unwrap_or(default.deployment_gc_threshold),
                deployment_gc_interval: cfg
                    .server
                    .deployment_gc_interval
                    .unwrap_or(default.deployment_gc_interval),
            }
        },
        tls: tls.clone(),
        acl: cfg.acl.clone(),
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async move {
        let signals = ShutdownSignals::install()?;
        let registry = drover_client::agent::Registry::new();
        // Exec and attach sessions are recorded with the servers once the
        // client has started and knows its node's identity.
        let recorder = std::sync::Arc::new(drover_client::session_record::SessionRecorder::new(
            cfg.acl.enabled,
        ));
        let client_api = if cfg.client.enabled {
            drover_client::http::router(registry.clone()).merge(
                drover_client::http::alloc::router(registry.clone(), recorder.clone()),
            )
        } else {
            axum::Router::new()
        };
        let local_node = std::sync::Arc::new(std::sync::OnceLock::new());
        // The client's server list, which its agent endpoints report; a
        // server agent's own client talks to itself.
        let https = server_tls.is_some();
        let servers_of = |list: Vec<String>| {
            let servers = drover_client::servers::Servers::new(list);
            std::sync::Arc::new(if https { servers.https() } else { servers })
        };
        let client_servers = servers_of(cfg.client.servers.clone());
        let local_client = cfg.client.enabled.then(|| drover_server::http::forward::LocalClient {
            routes: client_api.clone(),
            node_id: local_node.clone(),
        });
        let (server, client_http) = if cfg.server.enabled {
            let server = drover_server::agent::start_with_client(opts.clone(), local_client)
                .await
                .context("starting the server")?;
            if let Err(e) = start_join(&server, &cfg.server.start_join).await {
                server.shutdown().await;
                return Err(e);
            }
            let addr = server.http_addr;
            (Some(server), ClientHttp::Server(addr))
        } else {
            // A client-only agent answers the agent endpoints itself.
            let agent = std::sync::Arc::new(agent::client_api::ClientAgent {
                name: cfg.name.clone(),
                region: cfg.region.clone(),
                datacenter: cfg.datacenter.clone(),
                http_addr: cfg.http_addr().to_string(),
                servers: client_servers.clone(),
                node_id: local_node.clone(),
                http: drover_client::servers::http_client(server_tls.clone()),
            });
            let mut routes = client_api.merge(agent::client_api::router(agent));
            if cfg.acl.enabled {
                let acl = std::sync::Arc::new(agent::client_acl::ClientAcl::new(
                    client_servers.clone(),
                    drover_client::servers::http_client(server_tls.clone()),
                ));
                routes = routes.layer(axum::middleware::from_fn_with_state(
                    acl,
                    agent::client_acl::layer,
                ));
            }
            // `?pretty` as on a server (Nomad api-docs/index.mdx).
            let routes = routes.layer(axum::middleware::from_fn(
                drover_server::http::pretty::layer,
            ));
            let served = ClientHttp::serve(cfg.http_addr(), routes, cfg.limits, http_tls).await?;
            (None, served)
        };
        let http_addr = client_http.addr();
        let client = if cfg.client.enabled {
            let servers = if cfg.client.servers.is_empty() {
                servers_of(vec![http_addr.to_string()])
            } else {
                client_servers
            };
            let exe = std::env::current_exe().context("locating this binary for the log collector")?;
            let client_opts = drover_client::agent::ClientOptions {
                servers,
                data_dir: opts.data_dir.clone(),
                name: cfg.name.clone(),
                datacenter: cfg.datacenter.clone(),
                node_class: String::new(),
                node_pool: String::new(),
                meta: Default::default(),
                http_addr: http_addr.to_string(),
                logmon: drover_client::driver::raw_exec::LogmonCommand {
                    program: exe.clone(),
                    args_prefix: vec!["logmon".into()],
                },
                docker: drover_client::driver::docker::DockerConfig {
                    endpoint: cfg.plugins.docker_endpoint.clone(),
                    gc_container: cfg.plugins.docker_gc_container,
                    volumes_enabled: cfg.plugins.docker_volumes_enabled,
                    logger: drover_client::driver::raw_exec::LogmonCommand {
                        program: exe,
                        args_prefix: vec!["docker-logger".into()],
                    },
                },
                // Nomad enables raw_exec only on request; a dev agent asks.
                raw_exec_enabled: cfg.client.raw_exec_enabled(cfg.dev_mode, &cfg.plugins),
                batch: std::time::Duration::ZERO,
                gc_max_allocs: cfg.client.gc_max_allocs as usize,
                gc_interval: cfg.client.gc_interval,
                fingerprint_period: cfg.client.fingerprint_period()?,
                gc_disk_usage_threshold: cfg.client.gc_disk_usage_threshold,
                gc_inode_usage_threshold: cfg.client.gc_inode_usage_threshold,
                dev_mode: cfg.dev_mode,
                tls: server_tls.clone(),
            };
            let client = drover_client::agent::start(client_opts, registry)
                .await
                .context("starting the client")?;
            let _ = local_node.set(client.node_id.clone());
            recorder.link(client.recorder_link());
            Some(client)
        } else {
            None
        };
        tracing::info!(http = %http_addr, data_dir = %opts.data_dir.display(), dev = cfg.dev_mode, "{} agent started", version());
        let scheme = drover_server::tls::Tls::http_scheme(tls.as_deref());
        eprintln!("==> Drover agent started! HTTP API: {scheme}://{http_addr}");
        // A server whose data directory belongs to another cluster than
        // the one it was told to join stops, and the agent exits non-zero.
        let failed = async {
            match &server {
                Some(s) => s.cluster.failed().await,
                None => std::future::pending().await,
            }
        };
        let failed = tokio::select! {
            _ = signals.wait() => None,
            why = failed => Some(why),
        };
        tracing::info!("shutting down");
        if let Some(c) = client {
            c.shutdown().await;
        }
        client_http.shutdown().await;
        if let Some(server) = server {
            server.shutdown().await;
        }
        match failed {
            Some(why) => Err(anyhow::anyhow!(why)),
            None => Ok::<(), anyhow::Error>(()),
        }
    })?;
    drop(temp);
    Ok(())
}

/// `-join` / `start_join`: join each address once; no address joined is
/// fatal, as Nomad's `startupJoin` (`command/agent/command.go`) makes it.
async fn start_join(
    server: &drover_server::agent::RunningServer,
    addrs: &[String],
) -> anyhow::Result<()> {
    if addrs.is_empty() {
        return Ok(());
    }
    let mut errors = Vec::new();
    for addr in addrs {
        match server.cluster.join(addr).await {
            Ok(_) => return Ok(()),
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    anyhow::bail!("-join: failed to join any server: {}", errors.join(", "))
}

/// Raises the soft limit on open files to the hard limit. Every parked
/// blocking query over HTTP/1 holds a socket, and services often start with
/// a soft limit of 1024; Nomad gets the same raise from the Go runtime,
/// which does it at start (Go 1.19+). Never fails the start; the outcome
/// is logged at debug.
fn raise_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::debug!(error = %e, "reading the open-file limit failed; left as it is");
        return;
    }
    let before = limit.rlim_cur;
    if before >= limit.rlim_max {
        tracing::debug!(
            soft = before,
            hard = limit.rlim_max,
            "open-file limit already at its hard limit"
        );
        return;
    }
    limit.rlim_cur = limit.rlim_max;
    // SAFETY: setrlimit reads one rlimit through a valid pointer.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        let e = std::io::Error::last_os_error();
        tracing::debug!(error = %e, soft = before, hard = limit.rlim_max, "raising the open-file limit failed; left as it is");
        return;
    }
    tracing::debug!(
        from = before,
        to = limit.rlim_cur,
        "raised the open-file limit"
    );
}

/// Where a client's `/v1/client` API is served: on the server's listener,
/// or, for a client-only agent, on its own.
enum ClientHttp {
    Server(std::net::SocketAddr),
    Own {
        addr: std::net::SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    },
}

impl ClientHttp {
    async fn serve(
        addr: std::net::SocketAddr,
        routes: axum::Router,
        limits: drover_server::http::serve::HttpLimits,
        tls: Option<std::sync::Arc<rustls::ServerConfig>>,
    ) -> anyhow::Result<ClientHttp> {
        let listener = drover_server::http::serve::bind(addr)
            .with_context(|| format!("cannot listen on {addr}"))?;
        let addr = listener.local_addr().context("reading the bound address")?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The server's accept loop, so a client-only agent gets the same
        // connection limits (Nomad applies `limits` to both agent kinds).
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            let drain = std::time::Duration::from_secs(10);
            drover_server::http::serve::serve_tls(listener, routes, stopped, drain, limits, tls)
                .await;
        });
        Ok(ClientHttp::Own { addr, stop, task })
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            ClientHttp::Server(a) | ClientHttp::Own { addr: a, .. } => *a,
        }
    }

    async fn shutdown(self) {
        if let ClientHttp::Own { stop, task, .. } = self {
            let _ = stop.send(());
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
        }
    }
}

/// SIGINT (Ctrl-C) or SIGTERM: both shut down cleanly.
/// SIGTERM and SIGINT handlers, installed before anything starts so that a
/// signal during startup (the client's fingerprint can take a moment) is
/// a clean shutdown once started, never the default abrupt exit.
struct ShutdownSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl ShutdownSignals {
    fn install() -> anyhow::Result<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(ShutdownSignals {
            term: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            int: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}
