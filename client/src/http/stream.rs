//! `/v1/client/fs/logs` and `/v1/client/fs/stream`: a file (or a task's
//! rotated log files, read as one sequence) sent as `StreamFrame` JSON
//! objects back to back, or as raw bytes with `plain=true`.
//!
//! Reading is done by a [`Tail`] that keeps its file open and reads big
//! chunks on the blocking pool; an async pump sends what it reads through a
//! small bounded channel into the response body, so a slow reader holds back
//! the disk reads instead of filling memory. While following, the pump polls
//! every [`POLL`] and sends a heartbeat `{}` after [`HEARTBEAT`] of silence.
//!
//! Extension: `lines=N` on the logs endpoint starts N lines before the end
//! of the stream (across rotated files), like `tail -n`; it replaces
//! `origin` and `offset` and works with `follow` and `plain`.
//!
//! Unlike Nomad (hashicorp/nomad#4663), a follow ends: once the task (for
//! `stream`, every task of the allocation) is dead for good, the pump waits
//! one more quiet poll so the collector's last bytes are sent, then ends.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use drover_api::{FILE_EVENT_DELETED, FILE_EVENT_TRUNCATED};
use tokio::sync::mpsc;

use super::fs::blocking;
use super::{
    lookup_dir, parse_bool, parse_origin, parse_u64, required, Allocs, HttpError, HttpResult,
    Params,
};
use crate::allocdir::{AllocDir, LOG_DIR_NAME, SHARED_ALLOC_NAME};
use crate::logmon::{self, LogStream, Origin};

/// Bytes read per frame. Nomad uses 64 KiB; bigger frames cost nothing to a
/// streaming JSON decoder and make large logs an order of magnitude faster.
const FRAME_SIZE: usize = 512 * 1024;
/// How often a follow looks for new bytes, a newer log file or a dead task
/// (Nomad polls for the next log file every 100 ms too).
const POLL: Duration = Duration::from_millis(100);
/// Silence after which a follow sends `{}`, as Nomad.
const HEARTBEAT: Duration = Duration::from_secs(1);
/// Frames in flight between the reader and the response body.
const CHANNEL_FRAMES: usize = 8;

/// How the bytes are sent and when the read ends.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadPlan {
    /// Raw bytes instead of frames (no heartbeats either).
    pub plain: bool,
    /// Keep reading at the end until the tasks are dead.
    pub follow: bool,
    /// Stop after this many bytes (`readat`).
    pub limit: Option<u64>,
}

/// `GET /v1/client/fs/logs/{alloc_id}?task=&type=&follow=&offset=&origin=&plain=&lines=`
pub(super) async fn logs(
    State(allocs): State<Allocs>,
    Path(alloc_id): Path<String>,
    Query(params): Query<Params>,
) -> HttpResult<Response> {
    // Parameters are checked in Nomad's order, before the allocation.
    let task = required(&params, "task", "must provide task name")?.to_string();
    let follow = parse_bool(&params, "follow", false)?;
    let plain = parse_bool(&params, "plain", false)?;
    let stream = params
        .get("type")
        .and_then(|t| LogStream::parse(t))
        .ok_or_else(|| HttpError::bad_request("must provide log type (stdout/stderr)"))?;
    let offset = parse_u64(&params, "offset")?;
    let origin = parse_origin(&params)?;
    let lines = match params.get("lines").map(String::as_str) {
        None | Some("") => None,
        Some(v) => Some(v.parse::<u64>().map_err(|_| {
            HttpError::bad_request(format!(
                "error parsing lines: {v:?} is not a non-negative integer"
            ))
        })?),
    };

    let dir = lookup_dir(&allocs, &alloc_id)?;
    let tasks = allocs
        .tasks(&alloc_id)
        .ok_or_else(|| HttpError::unknown_alloc(&alloc_id))?;
    if !tasks.contains(&task) {
        return Err(HttpError::bad_request(format!(
            "unknown task name {task:?}"
        )));
    }
    let plan = ReadPlan {
        plain,
        follow,
        limit: None,
    };
    let tail = {
        let task = task.clone();
        blocking(move || {
            let logs_dir = dir.logs_dir();
            let (origin, offset) = match lines {
                None => (origin, offset),
                Some(n) => {
                    let at = logmon::tail_lines_offset(&logs_dir, &task, stream, n)
                        .map_err(|e| HttpError::internal(format!("reading log files: {e}")))?;
                    (Origin::Start, at)
                }
            };
            open_logs(&logs_dir, &task, stream, origin, offset, &plan)
        })
        .await?
    };
    let content_type = if plain {
        "text/plain"
    } else {
        "application/json"
    };
    Ok(respond(
        tail,
        allocs,
        alloc_id,
        vec![task],
        plan,
        content_type,
    ))
}

/// `GET /v1/client/fs/stream/{alloc_id}?path=&offset=&origin=&follow=`
/// (`follow` defaults to true here, as in Nomad).
pub(super) async fn stream(
    State(allocs): State<Allocs>,
    Path(alloc_id): Path<String>,
    Query(params): Query<Params>,
) -> HttpResult<Response> {
    let path = required(&params, "path", "must provide a file name")?.to_string();
    let follow = parse_bool(&params, "follow", true)?;
    let offset = parse_u64(&params, "offset")?;
    let origin = parse_origin(&params)?;
    let dir = lookup_dir(&allocs, &alloc_id)?;
    let tasks = allocs
        .tasks(&alloc_id)
        .ok_or_else(|| HttpError::unknown_alloc(&alloc_id))?;
    let plan = ReadPlan {
        plain: false,
        follow,
        limit: None,
    };
    let tail = blocking(move || open_file(&dir, &path, origin, offset, &plan)).await?;
    Ok(respond(
        tail,
        allocs,
        alloc_id,
        tasks,
        plan,
        "application/json",
    ))
}

/// Starts the pump and answers with its output as the body. A follow ends
/// when every task in `tasks` is dead.
pub(super) fn respond(
    tail: Tail,
    allocs: Allocs,
    alloc_id: String,
    tasks: Vec<String>,
    plan: ReadPlan,
    content_type: &str,
) -> Response {
    let (tx, rx) = mpsc::channel::<Bytes>(CHANNEL_FRAMES);
    let tasks_dead = move || tasks.iter().all(|t| allocs.task_dead(&alloc_id, t));
    tokio::spawn(pump(tail, tx, plan, tasks_dead));
    let body = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, io::Error>(b), rx))
    });
    (
        [(header::CONTENT_TYPE, content_type.to_string())],
        Body::from_stream(body),
    )
        .into_response()
}

async fn pump<D>(mut tail: Tail, tx: mpsc::Sender<Bytes>, plan: ReadPlan, tasks_dead: D)
where
    D: Fn() -> bool + Send + 'static,
{
    let mut last_sent = Instant::now();
    let mut dead_seen = false;
    loop {
        let stepped = tokio::task::spawn_blocking(move || {
            let step = tail.step();
            (tail, step)
        })
        .await;
        let step;
        (tail, step) = match stepped {
            Ok(done) => done,
            Err(e) => {
                tracing::warn!(error = %e, "log reader task failed");
                return;
            }
        };
        match step {
            Ok(Step::Frame(bytes)) => {
                if tx.send(bytes).await.is_err() {
                    return; // the client went away
                }
                last_sent = Instant::now();
            }
            Ok(Step::End) => return,
            Ok(Step::Idle) => {
                // At the end of what exists. A follow stops one quiet poll
                // after the tasks were seen dead, so bytes the collector
                // wrote after the exit still go out.
                if !plan.follow || dead_seen {
                    return;
                }
                dead_seen = tasks_dead();
                if !plan.plain && last_sent.elapsed() >= HEARTBEAT {
                    if tx.send(Bytes::from_static(b"{}")).await.is_err() {
                        return;
                    }
                    last_sent = Instant::now();
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = tx.closed() => return,
                }
            }
            Err(e) => {
                // The status line is gone already; the body just ends.
                tracing::warn!(file = %tail.rel, error = %e, "reading for a client fs stream");
                return;
            }
        }
    }
}

/// What the reader is positioned in.
#[derive(Debug)]
enum Source {
    /// One file of the allocation directory, at `path` on the host.
    File { path: PathBuf },
    /// A task stream's rotated files `<dir>/<name>.<index>`.
    Logs {
        dir: PathBuf,
        name: String,
        index: u64,
    },
}

pub(super) enum Step {
    /// Bytes for the response body: a frame, or raw data.
    Frame(Bytes),
    /// Nothing new right now.
    Idle,
    /// Nothing more will come.
    End,
}

/// A reader over an open file that moves on to the next log file when the
/// writer rotates.
#[derive(Debug)]
pub(super) struct Tail {
    source: Source,
    file: File,
    /// `File` of the frames: the path as the user gave it, or
    /// `alloc/logs/<name>.<index>`.
    rel: String,
    offset: u64,
    remaining: Option<u64>,
    plain: bool,
    /// A file event for the next frame.
    event: &'static str,
    ended: bool,
    buf: Vec<u8>,
}

impl Tail {
    fn new(source: Source, file: File, rel: String, offset: u64, plan: &ReadPlan) -> Tail {
        Tail {
            source,
            file,
            rel,
            offset,
            remaining: plan.limit,
            plain: plan.plain,
            event: "",
            ended: false,
            buf: Vec::new(),
        }
    }

    /// Reads the next chunk, or says why there is none. Blocking.
    pub(super) fn step(&mut self) -> io::Result<Step> {
        if self.ended || self.remaining == Some(0) {
            return Ok(Step::End);
        }
        let n = self.fill()?;
        if n > 0 || !self.event.is_empty() {
            return Ok(Step::Frame(self.frame(n)));
        }
        // At the end of the current file.
        if self.file.metadata()?.len() < self.offset {
            self.file.seek(SeekFrom::Start(0))?;
            self.offset = 0;
            self.event = FILE_EVENT_TRUNCATED;
            return self.step();
        }
        match &self.source {
            Source::File { path } => match fs::symlink_metadata(path) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    self.ended = true;
                    if self.plain {
                        return Ok(Step::End);
                    }
                    self.event = FILE_EVENT_DELETED;
                    Ok(Step::Frame(self.frame(0)))
                }
                _ => Ok(Step::Idle),
            },
            Source::Logs { dir, name, index } => {
                let (dir, name, index) = (dir.clone(), name.clone(), *index);
                let newer: Vec<u64> = log_indices(&dir, &name)?
                    .into_iter()
                    .filter(|i| *i > index)
                    .collect();
                if newer.is_empty() {
                    return Ok(Step::Idle);
                }
                // The writer has moved on, so this file is final; bytes it
                // wrote between our last read and the rotation come first.
                let n = self.fill()?;
                if n > 0 {
                    return Ok(Step::Frame(self.frame(n)));
                }
                for next in newer {
                    match File::open(dir.join(format!("{name}.{next}"))) {
                        Ok(file) => {
                            self.file = file;
                            self.offset = 0;
                            self.rel = log_rel(&name, next);
                            self.source = Source::Logs {
                                dir,
                                name,
                                index: next,
                            };
                            return self.step();
                        }
                        // Rotated away before we got to it: skip ahead.
                        Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(e),
                    }
                }
                Ok(Step::Idle)
            }
        }
    }

    /// Reads until the frame is full or the file ends; returns the count.
    fn fill(&mut self) -> io::Result<usize> {
        let want = self.remaining.map_or(FRAME_SIZE, |r| {
            FRAME_SIZE.min(usize::try_from(r).unwrap_or(FRAME_SIZE))
        });
        self.buf.resize(want, 0);
        let mut n = 0;
        while n < want {
            match self.file.read(&mut self.buf[n..want]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        self.offset += n as u64;
        if let Some(r) = self.remaining.as_mut() {
            *r -= n as u64;
        }
        Ok(n)
    }

    /// The first `n` bytes of the buffer as body bytes; takes the event.
    fn frame(&mut self, n: usize) -> Bytes {
        let event = std::mem::take(&mut self.event);
        if self.plain {
            return Bytes::copy_from_slice(&self.buf[..n]);
        }
        let offset = i64::try_from(self.offset).unwrap_or(i64::MAX);
        Bytes::from(encode_frame(offset, &self.buf[..n], &self.rel, event))
    }
}

/// A `StreamFrame` as JSON, written directly (the data is base64-encoded in
/// place, no intermediate struct). Fields are omitted when empty, as Go's
/// `omitempty`; `drover_api::StreamFrame` reads it back.
pub fn encode_frame(offset: i64, data: &[u8], file: &str, event: &str) -> Vec<u8> {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4 + file.len() + 64);
    out.push('{');
    let mut sep = "";
    if offset != 0 {
        out.push_str(&format!("\"Offset\":{offset}"));
        sep = ",";
    }
    if !data.is_empty() {
        out.push_str(sep);
        out.push_str("\"Data\":\"");
        base64::engine::general_purpose::STANDARD.encode_string(data, &mut out);
        out.push('"');
        sep = ",";
    }
    for (key, value) in [("File", file), ("FileEvent", event)] {
        if !value.is_empty() {
            out.push_str(sep);
            out.push_str(&format!("\"{key}\":"));
            // A string always serializes.
            out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "\"\"".into()));
            sep = ",";
        }
    }
    out.push('}');
    out.into_bytes()
}

fn log_rel(name: &str, index: u64) -> String {
    format!("{SHARED_ALLOC_NAME}/{LOG_DIR_NAME}/{name}.{index}")
}

fn log_indices(dir: &std::path::Path, name: &str) -> io::Result<Vec<u64>> {
    // `log_files` is keyed by task and stream; `name` is `<task>.<stream>`.
    let prefix = format!("{name}.");
    let mut out = Vec::new();
    for entry in fs::read_dir(dir)? {
        let file_name = entry?.file_name();
        let Some(rest) = file_name.to_str().and_then(|f| f.strip_prefix(&prefix)) else {
            continue;
        };
        if !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(i) = rest.parse() {
                out.push(i);
            }
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Positions a reader in a task's logs: the kept files, oldest first, are
/// one sequence and `offset` counts from its start or back from its end
/// (clamped), as Nomad's `findClosest`.
pub(super) fn open_logs(
    logs_dir: &std::path::Path,
    task: &str,
    stream: LogStream,
    origin: Origin,
    offset: u64,
    plan: &ReadPlan,
) -> HttpResult<Tail> {
    let logs_dir = logs_dir.to_path_buf();
    let name = logmon::log_name(task, stream);
    // A file can be rotated away between the listing and the open; retry.
    for _ in 0..5 {
        let files = logmon::log_files(&logs_dir, task, stream)
            .map_err(|e| HttpError::internal(format!("failed to list log files: {e}")))?;
        let total: u64 = files.iter().map(|f| f.size).sum();
        let mut skip = match origin {
            Origin::Start => offset.min(total),
            Origin::End => total.saturating_sub(offset),
        };
        let Some(last) = files.len().checked_sub(1) else {
            return Err(HttpError::not_found(format!(
                "log entry for task {task:?} and log type {:?} not found",
                stream.as_str()
            )));
        };
        let mut chosen = None;
        for (i, f) in files.iter().enumerate() {
            if skip < f.size || i == last {
                chosen = Some((f, skip.min(f.size)));
                break;
            }
            skip -= f.size;
        }
        let Some((f, at)) = chosen else { continue };
        // Errors name the file inside the allocation, never the host path.
        let rel = log_rel(&name, f.index);
        let mut file = match File::open(&f.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(HttpError::internal(format!("opening {rel}: {e}"))),
        };
        file.seek(SeekFrom::Start(at))
            .map_err(|e| HttpError::internal(format!("seeking {rel}: {e}")))?;
        let source = Source::Logs {
            dir: logs_dir.clone(),
            name: name.clone(),
            index: f.index,
        };
        return Ok(Tail::new(source, file, rel, at, plan));
    }
    Err(HttpError::internal(format!(
        "log files of task {task:?} kept rotating away while opening them"
    )))
}

/// Opens a file of the allocation directory for streaming, refusing paths
/// that leave it (checked again on the opened descriptor, so a symlink
/// swapped in between is caught) and directories.
pub(super) fn open_file(
    dir: &AllocDir,
    rel: &str,
    origin: Origin,
    offset: u64,
    plan: &ReadPlan,
) -> HttpResult<Tail> {
    let path = dir.resolve(rel)?;
    let io_error = |e: io::Error| match e.kind() {
        io::ErrorKind::NotFound => {
            HttpError::not_found(format!("{rel:?} not found in the alloc directory"))
        }
        _ => HttpError::internal(format!("{rel:?}: {e}")),
    };
    let mut file = File::open(&path).map_err(io_error)?;
    let fd_path = PathBuf::from(format!("/proc/self/fd/{}", file.as_raw_fd()));
    if let (Ok(opened), Ok(root)) = (fs::read_link(&fd_path), fs::canonicalize(dir.alloc_dir())) {
        if !opened.starts_with(&root) {
            return Err(HttpError::bad_request(format!(
                "path {rel:?} escapes the alloc directory"
            )));
        }
    }
    let meta = file.metadata().map_err(io_error)?;
    if meta.is_dir() {
        return Err(HttpError::bad_request(format!(
            "file {rel:?} is a directory"
        )));
    }
    let at = match origin {
        Origin::Start => offset.min(meta.len()),
        Origin::End => meta.len().saturating_sub(offset),
    };
    file.seek(SeekFrom::Start(at)).map_err(io_error)?;
    Ok(Tail::new(
        Source::File { path },
        file,
        rel.to_string(),
        at,
        plan,
    ))
}
