//! The allocations a client runs, as the `/v1/client` API sees them: the
//! [`Registry`] of alloc runners, and its [`ClientControl`] and
//! [`ClientAllocs`] implementations (signal, restart, stats, exec, attach,
//! files). The agent ([`crate::agent`]) fills it; the HTTP routes may be
//! served before the client has started.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use drover_api::{AllocResourceUsage, CpuStats, MemoryStats, ResourceUsage, TaskResourceUsage};

use crate::http::alloc::{BoxFuture, ClientControl, ControlError};
use crate::http::ClientAllocs;
use crate::runner::AllocRunner;

/// The allocations this client runs, shared with the `/v1/client` API
/// (which may be served before the client has started).
#[derive(Default)]
pub struct Registry {
    runners: Mutex<BTreeMap<String, AllocRunner>>,
    /// The client's data directory, whose disk the host stats report.
    pub(crate) data_dir: Mutex<Option<PathBuf>>,
    cpu: crate::hoststats::CpuSampler,
}

impl Registry {
    pub fn new() -> Arc<Registry> {
        Arc::new(Registry::default())
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AllocRunner>> {
        self.runners.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The runner of an allocation this client runs.
    pub fn get(&self, alloc_id: &str) -> Option<AllocRunner> {
        self.lock().get(alloc_id).cloned()
    }
}

fn control_error(e: crate::runner::RunnerError) -> ControlError {
    use crate::runner::RunnerError as E;
    match e {
        E::UnknownTask(_) | E::UnknownSignal(_) | E::TaskNotRunning(_) | E::NoTaskRunning(_) => {
            ControlError::BadRequest(e.to_string())
        }
        E::Driver(d @ crate::driver::DriverError::TaskNotRunning) => {
            ControlError::BadRequest(d.to_string())
        }
        E::Driver(d @ crate::driver::DriverError::NotSupported(_)) => {
            ControlError::BadRequest(d.to_string())
        }
        E::Driver(d) => ControlError::Internal(d.to_string()),
    }
}

fn usage_of(s: &crate::driver::TaskStats) -> ResourceUsage {
    ResourceUsage {
        memory_stats: MemoryStats {
            rss: s.rss_bytes,
            measured: vec!["RSS".into()],
            ..Default::default()
        },
        cpu_stats: CpuStats {
            percent: s.cpu_percent,
            total_ticks: s.cpu_ticks as f64,
            user_mode: s.cpu_user_ticks as f64,
            system_mode: s.cpu_system_ticks as f64,
            measured: vec![
                "Percent".into(),
                "System Mode".into(),
                "User Mode".into(),
                "Total Ticks".into(),
            ],
            ..Default::default()
        },
    }
}

impl ClientControl for Registry {
    fn host_stats(&self) -> BoxFuture<'_, Result<drover_api::HostStats, ControlError>> {
        Box::pin(async move {
            let dir = self
                .data_dir
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
                .unwrap_or_else(|| PathBuf::from("/"));
            Ok(self.cpu.read(&dir))
        })
    }

    fn exec<'a>(
        &'a self,
        alloc_id: &'a str,
        task: &'a str,
        req: crate::driver::ExecRequest,
    ) -> BoxFuture<'a, Result<crate::driver::ExecSession, ControlError>> {
        Box::pin(async move {
            let r = self
                .get(alloc_id)
                .ok_or_else(|| ControlError::UnknownAlloc(alloc_id.to_string()))?;
            r.exec(task, req).await.map_err(control_error)
        })
    }

    fn attach<'a>(
        &'a self,
        alloc_id: &'a str,
        task: &'a str,
    ) -> BoxFuture<'a, Result<crate::http::attach::AttachTarget, ControlError>> {
        Box::pin(async move {
            let r = self
                .get(alloc_id)
                .ok_or_else(|| ControlError::UnknownAlloc(alloc_id.to_string()))?;
            let (driver, handle, config) = r.attach_parts(task).map_err(control_error)?;
            Ok(crate::http::attach::AttachTarget {
                driver,
                handle,
                config,
            })
        })
    }

    fn signal<'a>(
        &'a self,
        alloc_id: &'a str,
        task: Option<&'a str>,
        signal: &'a str,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            let r = self
                .get(alloc_id)
                .ok_or_else(|| ControlError::UnknownAlloc(alloc_id.to_string()))?;
            r.signal(task, signal).await.map_err(control_error)
        })
    }

    fn restart<'a>(
        &'a self,
        alloc_id: &'a str,
        task: Option<&'a str>,
        all_tasks: bool,
    ) -> BoxFuture<'a, Result<(), ControlError>> {
        Box::pin(async move {
            let r = self
                .get(alloc_id)
                .ok_or_else(|| ControlError::UnknownAlloc(alloc_id.to_string()))?;
            r.restart(task, all_tasks).await.map_err(control_error)
        })
    }

    fn stats<'a>(
        &'a self,
        alloc_id: &'a str,
    ) -> BoxFuture<'a, Result<AllocResourceUsage, ControlError>> {
        Box::pin(async move {
            let r = self
                .get(alloc_id)
                .ok_or_else(|| ControlError::UnknownAlloc(alloc_id.to_string()))?;
            let per_task = r.stats().await.map_err(control_error)?;
            let mut out = AllocResourceUsage::default();
            let mut total = crate::driver::TaskStats::default();
            for (name, s) in &per_task {
                total.rss_bytes += s.rss_bytes;
                total.cpu_percent += s.cpu_percent;
                total.cpu_ticks += s.cpu_ticks;
                total.cpu_user_ticks += s.cpu_user_ticks;
                total.cpu_system_ticks += s.cpu_system_ticks;
                out.timestamp = out.timestamp.max(s.timestamp);
                out.tasks.insert(
                    name.clone(),
                    TaskResourceUsage {
                        resource_usage: usage_of(s),
                        timestamp: s.timestamp,
                        pids: None,
                    },
                );
            }
            out.resource_usage = usage_of(&total);
            Ok(out)
        })
    }
}

impl ClientAllocs for Registry {
    fn alloc_dir(&self, alloc_id: &str) -> Option<crate::allocdir::AllocDir> {
        self.get(alloc_id).map(|r| r.alloc_dir().clone())
    }

    fn tasks(&self, alloc_id: &str) -> Option<Vec<String>> {
        self.get(alloc_id)
            .map(|r| r.client_state().task_states.keys().cloned().collect())
    }

    fn task_dead(&self, alloc_id: &str, task: &str) -> bool {
        self.get(alloc_id).is_none_or(|r| {
            r.client_state()
                .task_states
                .get(task)
                .is_none_or(|t| t.state == drover_api::TaskStateValue::Dead)
        })
    }
}
