//! The container log copier process (`drover docker-logger`, or the
//! `drover-docker-logger` binary).
//!
//! Process model: one logger per container, started by the driver in its
//! own session (like raw_exec's logmon), so it survives an agent killed with
//! -9. It follows the container's log stream through the Docker API and
//! writes stdout and stderr into the task's rotating files with the same
//! code as logmon ([`crate::logmon::collect`], one thread per stream fed
//! through a channel), so `/v1/client/fs/logs` reads docker tasks exactly
//! like raw_exec ones. It exits when the stream ends, which the daemon
//! does when the container stops or is removed.
//!
//! A logger started again for a running container (the old one died with
//! the machine's agent) passes `--since` = now so the files do not get the
//! container's whole history a second time.

use std::io::{self, Read};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::mpsc;

use bollard::container::LogOutput;
use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;
use tokio::process::Command;

use crate::driver::raw_exec::LogmonCommand;
use crate::driver::{DriverError, LogConfig};
use crate::logmon::{self, LogStream, LogmonArgs};

/// The logger's settings (its command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggerArgs {
    pub container: String,
    pub dir: PathBuf,
    pub task: String,
    pub max_files: u32,
    pub max_file_size: u64,
    /// Unix nanoseconds; only output after this time is copied.
    pub since: Option<i64>,
    /// The daemon's address when not the local default.
    pub endpoint: Option<String>,
}

impl LoggerArgs {
    pub fn to_args(&self) -> Vec<String> {
        let mut out = vec![
            "--container".into(),
            self.container.clone(),
            "--dir".into(),
            self.dir.to_string_lossy().into_owned(),
            "--task".into(),
            self.task.clone(),
            "--max-files".into(),
            self.max_files.to_string(),
            "--max-file-size".into(),
            self.max_file_size.to_string(),
        ];
        if let Some(since) = self.since {
            out.extend(["--since".into(), since.to_string()]);
        }
        if let Some(endpoint) = &self.endpoint {
            out.extend(["--endpoint".into(), endpoint.clone()]);
        }
        out
    }

    fn logmon_args(&self, stream: LogStream) -> LogmonArgs {
        LogmonArgs {
            dir: self.dir.clone(),
            name: logmon::log_name(&self.task, stream),
            max_files: self.max_files.max(1),
            max_file_size: self.max_file_size.max(1),
        }
    }
}

const USAGE: &str = "usage: docker-logger --container ID --dir DIR --task NAME --max-files N \
                     --max-file-size BYTES [--since UNIX_NANOS] [--endpoint URL]";

/// Parses the logger's command line (without the program name).
pub fn parse_args<I: IntoIterator<Item = String>>(args: I) -> Result<LoggerArgs, String> {
    let (mut container, mut dir, mut task, mut max_files, mut max_size) =
        (None, None, None, None, None);
    let (mut since, mut endpoint) = (None, None);
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value ({USAGE})"))?;
        let positive = || {
            value
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("{flag} must be a positive integer, got {value:?}"))
        };
        match flag.as_str() {
            "--container" => container = Some(value.clone()),
            "--dir" => dir = Some(PathBuf::from(&value)),
            "--task" => task = Some(value.clone()),
            "--max-files" => max_files = Some(u32::try_from(positive()?).unwrap_or(u32::MAX)),
            "--max-file-size" => max_size = Some(positive()?),
            "--since" => {
                since = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| format!("--since must be unix nanoseconds, got {value:?}"))?,
                )
            }
            "--endpoint" => endpoint = Some(value.clone()),
            other => return Err(format!("unknown flag {other:?} ({USAGE})")),
        }
    }
    let missing = |f: &str| format!("missing {f} ({USAGE})");
    Ok(LoggerArgs {
        container: container.ok_or_else(|| missing("--container"))?,
        dir: dir.ok_or_else(|| missing("--dir"))?,
        task: task.ok_or_else(|| missing("--task"))?,
        max_files: max_files.ok_or_else(|| missing("--max-files"))?,
        max_file_size: max_size.ok_or_else(|| missing("--max-file-size"))?,
        since,
        endpoint,
    })
}

/// Runs the logger with its command-line arguments until the container's
/// log stream ends.
pub fn run<I: IntoIterator<Item = String>>(args: I) -> Result<(), String> {
    let args = parse_args(args)?;
    let (out_tx, out_rx) = mpsc::channel::<Vec<u8>>();
    let (err_tx, err_rx) = mpsc::channel::<Vec<u8>>();
    let writers = [
        (out_rx, args.logmon_args(LogStream::Stdout)),
        (err_rx, args.logmon_args(LogStream::Stderr)),
    ]
    .map(|(rx, la)| {
        std::thread::spawn(move || {
            logmon::collect(
                ChannelReader {
                    rx,
                    buf: Vec::new(),
                    pos: 0,
                },
                &la,
            )
        })
    });

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting runtime: {e}"))?;
    let result = rt.block_on(follow(&args, out_tx, err_tx));
    for w in writers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("docker-logger: {e}"),
            Err(_) => eprintln!("docker-logger: a writer thread panicked"),
        }
    }
    result
}

/// Copies the log stream into the two channels until it ends; dropping
/// the senders then ends the writer threads.
async fn follow(
    args: &LoggerArgs,
    out: mpsc::Sender<Vec<u8>>,
    err: mpsc::Sender<Vec<u8>>,
) -> Result<(), String> {
    let docker = super::connect(args.endpoint.as_deref()).map_err(|e| e.to_string())?;
    let since = args.since.map_or(0, |ns| {
        i32::try_from(ns / 1_000_000_000).unwrap_or(i32::MAX)
    });
    let opts = LogsOptions {
        follow: true,
        stdout: true,
        stderr: true,
        since,
        tail: "all".into(),
        ..Default::default()
    };
    let mut stream = docker.logs(&args.container, Some(opts));
    while let Some(item) = stream.next().await {
        match item {
            Ok(LogOutput::StdErr { message }) => {
                let _ = err.send(message.to_vec());
            }
            Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                let _ = out.send(message.to_vec());
            }
            Ok(LogOutput::StdIn { .. }) => {}
            Err(e) => return Err(format!("following logs of {}: {e}", args.container)),
        }
    }
    Ok(())
}

/// A blocking `Read` over chunks from a channel; EOF when all senders are
/// gone.
struct ChannelReader {
    rx: mpsc::Receiver<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.buf.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.buf = chunk;
                    self.pos = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Starts a logger for `container` in its own session; returns its pid
/// and start time (see [`crate::driver::procfs::read_stat`]). A
/// background task reaps it.
pub(super) fn spawn(
    program: &LogmonCommand,
    endpoint: Option<&str>,
    container: &str,
    task: &str,
    logs: &LogConfig,
    since: Option<i64>,
) -> Result<(u32, u64), DriverError> {
    let args = LoggerArgs {
        container: container.to_string(),
        dir: logs.dir.clone(),
        task: task.to_string(),
        max_files: logs.max_files.max(1),
        max_file_size: logs.max_file_size_bytes().max(1),
        since,
        endpoint: endpoint.map(str::to_string),
    };
    let mut cmd = Command::new(&program.program);
    cmd.args(&program.args_prefix)
        .args(args.to_args())
        .current_dir("/")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(false);
    // SAFETY: the closure runs between fork and exec and calls only
    // setsid, which is async-signal-safe, and reads errno.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        DriverError::io(
            format!("starting docker logger {}", program.program.display()),
            e,
        )
    })?;
    let pid = child.id().unwrap_or(0);
    // Not reaped before the waiter below runs, so /proc/<pid> exists.
    let start = crate::driver::procfs::read_stat(pid).map_or(0, |s| s.start_time);
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    Ok((pid, start))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_round_trip() {
        let args = LoggerArgs {
            container: "abc".into(),
            dir: "/tmp/logs".into(),
            task: "web".into(),
            max_files: 3,
            max_file_size: 1024,
            since: Some(1_700_000_000_000_000_000),
            endpoint: None,
        };
        assert_eq!(parse_args(args.to_args()), Ok(args));
        assert!(parse_args(vec!["--container".into()]).is_err());
    }
}
