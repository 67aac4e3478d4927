//! The `docker` driver (issue E), on bollard. Stub: the helper building the
//! driver replaces this file and adds its submodules beside it.

use std::collections::BTreeMap;
use std::time::Duration;

use drover_api::DriverInfo;

use super::{
    BoxFuture, Capabilities, Driver, DriverError, ExitResult, FsIsolation, Recovered, TaskConfig,
    TaskHandle, TaskStats,
};

pub mod logger;

pub const DRIVER_NAME: &str = "docker";

/// The driver's plugin configuration (`plugin "docker" { config { ... } }`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerConfig {
    /// The daemon's socket; `None` means `DOCKER_HOST` or the default
    /// `/var/run/docker.sock`.
    pub endpoint: Option<String>,
    /// `gc { container = true }`: remove a task's container once it ended.
    pub gc_container: bool,
    /// `volumes { enabled = false }`: when disabled, only paths inside the
    /// allocation directory may be mounted.
    pub volumes_enabled: bool,
    /// The program that copies a container's output into the task log
    /// files: the root binary's hidden `docker-logger` subcommand (or the
    /// `drover-docker-logger` binary of this crate) in `args_prefix`.
    pub logger: super::raw_exec::LogmonCommand,
}

pub struct DockerDriver {
    cfg: DockerConfig,
}

impl DockerDriver {
    pub fn new(cfg: DockerConfig) -> DockerDriver {
        DockerDriver { cfg }
    }
}

impl Driver for DockerDriver {
    fn name(&self) -> &'static str {
        DRIVER_NAME
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            send_signals: true,
            exec: true,
            fs_isolation: FsIsolation::Image,
        }
    }

    fn fingerprint(&self) -> BoxFuture<'_, DriverInfo> {
        let _ = &self.cfg;
        Box::pin(async {
            DriverInfo {
                attributes: BTreeMap::new(),
                detected: false,
                healthy: false,
                health_description: "docker driver not built yet".into(),
                ..Default::default()
            }
        })
    }

    fn start<'a>(&'a self, _: &'a TaskConfig) -> BoxFuture<'a, Result<TaskHandle, DriverError>> {
        Box::pin(async { Err(DriverError::NotSupported("docker")) })
    }

    fn wait<'a>(&'a self, _: &'a TaskHandle) -> BoxFuture<'a, ExitResult> {
        Box::pin(async { ExitResult::default() })
    }

    fn stop<'a>(
        &'a self,
        _: &'a TaskHandle,
        _: &'a str,
        _: Duration,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }

    fn signal<'a>(
        &'a self,
        _: &'a TaskHandle,
        _: &'a str,
    ) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async { Err(DriverError::NotSupported("docker")) })
    }

    fn recover<'a>(&'a self, _: &'a TaskHandle) -> BoxFuture<'a, Result<Recovered, DriverError>> {
        Box::pin(async { Err(DriverError::NotSupported("docker")) })
    }

    fn stats<'a>(&'a self, _: &'a TaskHandle) -> BoxFuture<'a, Result<TaskStats, DriverError>> {
        Box::pin(async { Err(DriverError::NotSupported("docker")) })
    }

    fn destroy<'a>(&'a self, _: &'a TaskHandle) -> BoxFuture<'a, Result<(), DriverError>> {
        Box::pin(async { Ok(()) })
    }
}
