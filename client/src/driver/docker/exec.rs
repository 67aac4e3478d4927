//! `exec` through the Docker exec API: the command runs in the container's
//! namespaces and environment. The daemon's multiplexed output stream is
//! split into two in-memory pipes (one with a tty, where the terminal
//! merges them), and the exit code is read by polling `inspect_exec`, since
//! the stream ending says only that the output is done.
//!
//! The daemon does not kill an exec whose client went away, so dropping
//! the session kills the exec's process (its host pid, from
//! `inspect_exec`) when it still runs.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::ExecConfig;
use bollard::query_parameters::{AttachContainerOptionsBuilder, ResizeExecOptions};
use bollard::Docker;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::daemon_error;
use crate::driver::{BoxFuture, DriverError, ExecControl, ExecRequest, ExecSession};

const PIPE_CAPACITY: usize = 64 * 1024;
const POLL: Duration = Duration::from_millis(50);

pub async fn start(
    docker: &Docker,
    container: &str,
    req: ExecRequest,
) -> Result<ExecSession, DriverError> {
    let created = docker
        .create_exec(
            container,
            ExecConfig {
                attach_stdin: Some(true),
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                tty: Some(req.tty),
                cmd: Some(req.command.clone()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            } => DriverError::TaskNotRunning,
            _ => daemon_error("creating exec", e),
        })?;
    let id = created.id;
    let started = docker
        .start_exec(
            &id,
            Some(StartExecOptions {
                detach: false,
                tty: req.tty,
                output_capacity: None,
            }),
        )
        .await
        .map_err(|e| daemon_error("starting exec", e))?;
    let StartExecResults::Attached { mut output, input } = started else {
        return Err(DriverError::Daemon(
            "exec started detached although attached was asked".into(),
        ));
    };
    let control = DockerExec {
        docker: docker.clone(),
        id: id.clone(),
        tty: req.tty,
        exited: Arc::new(AtomicBool::new(false)),
    };
    if let (true, Some((rows, cols))) = (req.tty, req.tty_size) {
        // API 1.41 has no size on create, so the first size follows the
        // start; a command that already exited cannot be resized, which
        // is no error.
        if let Err(e) = control.resize_now(rows, cols).await {
            tracing::debug!(exec = %id, error = %e, "initial exec resize failed");
        }
    }

    let (stdout_r, mut stdout_w) = tokio::io::duplex(PIPE_CAPACITY);
    let (stderr_r, mut stderr_w) = tokio::io::duplex(PIPE_CAPACITY);
    let tty = req.tty;
    tokio::spawn(async move {
        // A reader that went away is no reason to stop draining: the
        // daemon would block the command on a full pipe.
        let (mut out_ok, mut err_ok) = (true, true);
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdErr { message }) if !tty => {
                    if err_ok {
                        err_ok = stderr_w.write_all(&message).await.is_ok();
                    }
                }
                Ok(LogOutput::StdIn { .. }) => {}
                Ok(other) => {
                    if out_ok {
                        out_ok = stdout_w.write_all(&other.into_bytes()).await.is_ok();
                    }
                }
                Err(_) => break,
            }
        }
        let _ = stdout_w.shutdown().await;
        let _ = stderr_w.shutdown().await;
    });

    Ok(ExecSession {
        stdin: input,
        stdout: Box::pin(stdout_r),
        stderr: (!tty).then(|| Box::pin(stderr_r) as _),
        control: Box::new(control),
    })
}

struct DockerExec {
    docker: Docker,
    id: String,
    tty: bool,
    /// Set once `wait` saw the exit, so `drop` has nothing to kill.
    exited: Arc<AtomicBool>,
}

impl DockerExec {
    async fn resize_now(&self, rows: u16, cols: u16) -> Result<(), DriverError> {
        if !self.tty {
            return Ok(());
        }
        let opts = ResizeExecOptions {
            h: i32::from(rows),
            w: i32::from(cols),
        };
        self.docker
            .resize_exec(&self.id, opts)
            .await
            .map_err(|e| daemon_error("resizing exec", e))
    }
}

impl ExecControl for DockerExec {
    fn resize(&self, rows: u16, cols: u16) -> BoxFuture<'_, Result<(), DriverError>> {
        Box::pin(self.resize_now(rows, cols))
    }

    fn wait(&self) -> BoxFuture<'_, Result<i32, DriverError>> {
        Box::pin(async move {
            loop {
                let info = self
                    .docker
                    .inspect_exec(&self.id)
                    .await
                    .map_err(|e| daemon_error("inspecting exec", e))?;
                if info.running != Some(true) {
                    // A never-started exec has no code; report -1 as a failure.
                    if let Some(code) = info.exit_code {
                        self.exited.store(true, Ordering::SeqCst);
                        return Ok(i32::try_from(code).unwrap_or(-1));
                    }
                }
                tokio::time::sleep(POLL).await;
            }
        })
    }
}

impl Drop for DockerExec {
    fn drop(&mut self) {
        if self.exited.load(Ordering::SeqCst) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let docker = self.docker.clone();
        let id = self.id.clone();
        rt.spawn(async move {
            // The daemon answers start before the process runs, so a
            // session dropped at once may find it not started yet.
            for _ in 0..100 {
                let Ok(info) = docker.inspect_exec(&id).await else {
                    return;
                };
                match (info.running, info.pid) {
                    (Some(true), Some(pid)) if pid > 1 => {
                        if let Ok(pid) = libc::pid_t::try_from(pid) {
                            // SAFETY: kill has no memory preconditions; the
                            // pid is the exec's process on the host, running
                            // a moment ago.
                            unsafe {
                                libc::kill(pid, libc::SIGKILL);
                            }
                        }
                        return;
                    }
                    _ if info.exit_code.is_some() => return,
                    _ => tokio::time::sleep(POLL).await,
                }
            }
        });
    }
}

/// Drover's attach extension: a writer into the stdin of a container
/// created with `OpenStdin` (and `StdinOnce = false`, so the stream stays
/// open after this writer goes away). Only stdin is attached; the output
/// comes from the task's log files.
pub async fn attach_stdin(
    docker: &Docker,
    container: &str,
) -> Result<Pin<Box<dyn AsyncWrite + Send>>, DriverError> {
    let opts = AttachContainerOptionsBuilder::default()
        .stdin(true)
        .stream(true)
        .build();
    let attached = docker
        .attach_container(container, Some(opts))
        .await
        .map_err(|e| match &e {
            bollard::errors::Error::DockerResponseServerError {
                status_code: 409, ..
            } => DriverError::TaskNotRunning,
            _ => daemon_error("attaching to the container", e),
        })?;
    Ok(Box::pin(StdinAttach {
        input: attached.input,
        _output: attached.output,
    }))
}

/// The attach connection's two halves: dropping both closes it, which
/// detaches from the container's stdin without closing it.
struct StdinAttach {
    input: Pin<Box<dyn AsyncWrite + Send>>,
    _output:
        Pin<Box<dyn futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Send>>,
}

impl AsyncWrite for StdinAttach {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.input.as_mut().poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.input.as_mut().poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.input.as_mut().poll_shutdown(cx)
    }
}
