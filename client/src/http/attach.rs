//! `GET /v1/client/allocation/:id/attach?task=T`: a Drover extension (Nomad
//! has no attach). A WebSocket onto a running task itself, not a new
//! command, speaking the exec endpoint's frames (see [`super::ws`]).
//!
//! - Output: `{"stdout":{"data":..}}` / `{"stderr":{"data":..}}` frames of
//!   what the task writes from the moment of the attach on, read by
//!   following the task's log files from their current end. So any number
//!   of sessions can watch, the driver needs nothing for it, and it works
//!   the same for a task recovered after an agent restart.
//! - Input: stdin frames go to the task's stdin when the job asked for it
//!   with `config { interactive = true }` (raw_exec: a FIFO, docker: the
//!   container's open stdin; see [`crate::driver::Driver::attach_stdin`]).
//!   One writer per task at a time: the first session that sends stdin data
//!   becomes the writer until it disconnects or sends `{"stdin":{"close":
//!   true}}`; another session that sends stdin data meanwhile is closed
//!   with 1008 `stdin already attached`. Sessions that never send stdin are
//!   readers and are never refused. A close frame only detaches the writer;
//!   the task's stdin stays open, so it never reads EOF because of us.
//!   Stdin data to a task that is not interactive: 1008 `task is not
//!   interactive`.
//! - `tty_size` frames are accepted and ignored (tasks have no terminal).
//! - `{}` heartbeats every 10 s, both ways, as exec.
//! - When the task exits, the output that is left is sent, then
//!   `{"exited":true,"result":{"exit_code":N}}` (an empty `result` when the
//!   code is unknown, as for a task recovered after an agent restart) and
//!   close 1000. A task that is not running: close 1008 with the reason; an
//!   unknown task: 1008 `unknown task name`; an unknown allocation: 404
//!   before the upgrade.
//!
//! Sessions are recorded and watched as exec's are ([`super::audit`]).
//!
//! The writer lock lives in the agent's memory: after an agent restart
//! nobody holds it, which is right, since every session died with the
//! agent.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::alloc::{ClientControl, ControlError};
use super::audit::{AuditError, OpenSession, SessionAudit, SessionEnd, SessionStart};
use super::stream::{open_logs, ReadPlan, Step, Tail};
use super::ws::{
    close, data_frame, drain, exited_frame, limits, receive, refuse, write_frames, Ending,
    Received, CHUNK, CLOSE_GRACE, CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_POLICY,
};
use super::HttpError;
use crate::driver::{Driver, DriverError, ExitResult, TaskConfig, TaskHandle};
use crate::logmon::{LogStream, Origin};

/// How often the output followers look for new bytes.
const POLL: Duration = Duration::from_millis(100);
/// After the task exited, how long its log collectors get to write what
/// was still in the pipe before the followers stop at the end.
const EXIT_SETTLE: Duration = Duration::from_millis(300);
/// The most the followers may take to catch up after that.
const DRAIN_LIMIT: Duration = Duration::from_secs(5);

/// Raw bytes, following.
const PLAN: ReadPlan = ReadPlan {
    plain: true,
    follow: true,
    limit: None,
};

/// The running task an attach talks to.
pub struct AttachTarget {
    pub driver: Arc<dyn Driver>,
    pub handle: TaskHandle,
    /// The config the task was started with: its log dir, whether it is
    /// interactive.
    pub config: TaskConfig,
}

#[derive(Clone)]
struct AttachState {
    ctl: Arc<dyn ClientControl>,
    audit: Arc<dyn SessionAudit>,
    /// `(alloc, task)` of the tasks whose stdin has a writer now.
    writers: Arc<Mutex<BTreeSet<(String, String)>>>,
}

/// The attach route, state applied, ready to be merged.
pub fn router(ctl: Arc<dyn ClientControl>, audit: Arc<dyn SessionAudit>) -> Router {
    Router::new()
        .route("/v1/client/allocation/{alloc_id}/attach", get(attach))
        .with_state(AttachState {
            ctl,
            audit,
            writers: Arc::default(),
        })
}

async fn attach(
    ws: WebSocketUpgrade,
    State(st): State<AttachState>,
    Path(alloc_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(task) = query.get("task").filter(|t| !t.is_empty()).cloned() else {
        return HttpError::bad_request("missing task").into_response();
    };
    let target = match st.ctl.attach(&alloc_id, &task).await {
        Err(ControlError::UnknownAlloc(id)) => {
            return HttpError::unknown_alloc(&id).into_response()
        }
        Ok(target) => Ok(target),
        Err(ControlError::BadRequest(m)) => Err((CLOSE_POLICY, m)),
        Err(ControlError::Internal(m)) => Err((CLOSE_INTERNAL, m)),
    };
    // Output starts here, before the upgrade is answered: whatever the
    // task writes after the user has the socket is sent, including the
    // answer to the first stdin line.
    let target = match target {
        Ok(target) => {
            let dir = target.config.logs.dir.clone();
            let task = target.config.task_name.clone();
            let tails = tokio::task::spawn_blocking(move || {
                [LogStream::Stdout, LogStream::Stderr]
                    .map(|stream| open_logs(&dir, &task, stream, Origin::End, 0, &PLAN).ok())
            })
            .await
            .unwrap_or_default();
            Ok((target, tails))
        }
        Err(e) => Err(e),
    };
    let record = match &target {
        Ok(_) => {
            let start = SessionStart {
                kind: drover_api::EXEC_SESSION_ATTACH,
                alloc_id: alloc_id.clone(),
                task: task.clone(),
                command: Vec::new(),
                tty: false,
            };
            match st.audit.open(start, &headers).await {
                Ok(record) => Some(record),
                Err(AuditError::Refused(m)) => return HttpError::forbidden(m).into_response(),
                Err(AuditError::Unavailable(m)) => return HttpError::internal(m).into_response(),
            }
        }
        Err(_) => None,
    };
    limits(ws).on_upgrade(move |socket| async move {
        match (target, record) {
            (Ok((target, tails)), Some(record)) => {
                let lock = WriterLock {
                    writers: st.writers,
                    key: (alloc_id, task),
                };
                let end = run(socket, target, tails, lock, &*record).await;
                record.ended(end).await;
            }
            (Ok(_), None) => {}
            (Err((code, reason)), _) => refuse(socket, code, &reason).await,
        }
    })
}

/// The right to be a task's stdin writer, claimed on the first stdin data.
struct WriterLock {
    writers: Arc<Mutex<BTreeSet<(String, String)>>>,
    key: (String, String),
}

impl WriterLock {
    fn set(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, String)>> {
        self.writers.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn claim(&self) -> Option<Claimed<'_>> {
        // Not `then_some`: that would build (and drop, releasing the
        // other writer's claim) a `Claimed` even when the insert failed.
        let inserted = self.set().insert(self.key.clone());
        if inserted {
            Some(Claimed(self))
        } else {
            None
        }
    }
}

/// A held writer lock; released when dropped.
struct Claimed<'a>(&'a WriterLock);

impl Drop for Claimed<'_> {
    fn drop(&mut self) {
        self.0.set().remove(&self.0.key);
    }
}

/// Serves the session until it ends; how it ended.
async fn run(
    socket: WebSocket,
    target: AttachTarget,
    tails: [Option<Tail>; 2],
    lock: WriterLock,
    record: &dyn OpenSession,
) -> SessionEnd {
    let (sink, mut stream) = socket.split();
    let (frames, queued) = mpsc::channel::<Message>(2);
    let (abort, aborted) = mpsc::channel::<Message>(1);
    // The task's exit code, once its output is all sent.
    let exited = std::sync::OnceLock::<Option<i32>>::new();

    // Whether to finish the closing handshake: after our close, or to
    // answer the user's; and how the session ended.
    let (handshake, end) = {
        let mut writer = pin!(write_frames(sink, queued, aborted));
        let input = read_frames(&mut stream, &target, &lock);
        let output = async {
            let exit = follow_until_exit(&target, tails, &frames).await;
            let code = exit_code(&exit);
            let _ = exited.set(code);
            let _ = frames.send(exited_frame(code)).await;
            let _ = frames.send(close(CLOSE_NORMAL, "")).await;
            std::future::pending::<()>().await
        };
        // How it ended when the task's exit was not the cause.
        let or = |why: &str| match exited.get() {
            Some(code) => SessionEnd::exited(*code),
            None => SessionEnd::because(why),
        };
        // Biased, output first: its first poll starts the wait on the
        // task's exit before any stdin is written. Otherwise a task that
        // exits at once on that stdin (and is cleaned up by its runner)
        // could be gone before the wait began, and the exit code with it.
        tokio::select! {
            biased;
            () = output => (false, or("connection lost")),
            () = &mut writer => (true, or("connection lost")),
            ended = input => match ended {
                Ending::Refused(code, reason) => {
                    tracing::debug!(code, %reason, "attach session ended by a frame");
                    let _ = abort.try_send(close(code, &reason));
                    let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                    (true, SessionEnd::because(reason))
                }
                // The user closed: the drain sends our close in answer.
                Ending::Closed => (true, or("closed by the user")),
                Ending::Gone => (false, or("connection lost")),
            },
            reason = record.revoked() => {
                tracing::info!(%reason, "attach session closed: its token no longer allows it");
                let _ = abort.try_send(close(CLOSE_POLICY, &reason));
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                (true, SessionEnd::because(reason))
            }
        }
    };
    if handshake {
        drain(&mut stream).await;
    }
    end
}

/// What the `exited` frame reports: the code, or 128 + the signal as a
/// shell would; nothing when neither is known.
fn exit_code(exit: &ExitResult) -> Option<i32> {
    exit.exit_code.or(exit.signal.map(|s| 128 + s))
}

/// Streams stdout and stderr until the task exits and what it wrote is
/// sent; returns how it exited.
async fn follow_until_exit(
    target: &AttachTarget,
    tails: [Option<Tail>; 2],
    frames: &mpsc::Sender<Message>,
) -> ExitResult {
    let (done_tx, done) = watch::channel(false);
    let dir = target.config.logs.dir.clone();
    let task = target.config.task_name.clone();
    let [out, err] = tails;
    let followers = async {
        tokio::join!(
            follow(&dir, &task, LogStream::Stdout, out, frames, done.clone()),
            follow(&dir, &task, LogStream::Stderr, err, frames, done.clone()),
        );
    };
    let mut followers = pin!(followers);
    let exit = tokio::select! {
        exit = target.driver.wait(&target.handle) => exit,
        // Followers only end when the socket is gone; then nothing waits
        // for this value anyway.
        () = &mut followers => return ExitResult::default(),
    };
    let _ = tokio::time::timeout(EXIT_SETTLE, &mut followers).await;
    let _ = done_tx.send(true);
    let _ = tokio::time::timeout(DRAIN_LIMIT, followers).await;
    exit
}

/// Sends what is appended to one stream after `tail`'s position. Returns
/// once `done` is set and the end is reached, or when the socket is gone.
async fn follow(
    dir: &std::path::Path,
    task: &str,
    stream: LogStream,
    tail: Option<Tail>,
    frames: &mpsc::Sender<Message>,
    done: watch::Receiver<bool>,
) {
    let name = stream.as_str();
    // No file at the attach yet (the collector creates it when it starts):
    // everything in it once it appears is new.
    let mut tail = match tail {
        Some(tail) => tail,
        None => loop {
            let (dir, task): (PathBuf, String) = (dir.to_path_buf(), task.to_string());
            let opened = tokio::task::spawn_blocking(move || {
                open_logs(&dir, &task, stream, Origin::Start, 0, &PLAN)
            })
            .await;
            match opened {
                Ok(Ok(tail)) => break tail,
                Ok(Err(_)) if !*done.borrow() && !frames.is_closed() => {
                    tokio::time::sleep(POLL).await;
                }
                _ => return,
            }
        },
    };
    loop {
        let stepped = tokio::task::spawn_blocking(move || {
            let step = tail.step();
            (tail, step)
        })
        .await;
        let step: std::io::Result<Step>;
        (tail, step) = match stepped {
            Ok(done) => done,
            Err(_) => return,
        };
        match step {
            Ok(Step::Frame(bytes)) => {
                for chunk in bytes.chunks(CHUNK) {
                    if frames.send(data_frame(name, chunk)).await.is_err() {
                        return;
                    }
                }
            }
            Ok(Step::Idle) => {
                if *done.borrow() {
                    return;
                }
                tokio::select! {
                    _ = tokio::time::sleep(POLL) => {}
                    _ = frames.closed() => return,
                }
            }
            Ok(Step::End) | Err(_) => return,
        }
    }
}

/// Applies the user's frames until the session ends on the user's side.
async fn read_frames(
    stream: &mut SplitStream<WebSocket>,
    target: &AttachTarget,
    lock: &WriterLock,
) -> Ending {
    let interactive = crate::driver::interactive(&target.config.driver_config);
    // The writer first: tuple fields drop in order, so the claim is
    // released only after the writer is closed.
    let mut stdin: Option<(Pin<Box<dyn AsyncWrite + Send>>, Claimed<'_>)> = None;
    loop {
        let frame = match receive(stream).await {
            Received::Frame(frame) => frame,
            Received::Skip => continue,
            Received::End(ending) => return ending,
        };
        let Some(input) = frame.stdin else { continue };
        let bytes = match input.bytes() {
            Ok(bytes) => bytes,
            Err(reason) => return Ending::Refused(CLOSE_POLICY, reason),
        };
        if !bytes.is_empty() {
            if !interactive {
                return Ending::Refused(
                    CLOSE_POLICY,
                    format!(
                        "task {:?} is not interactive: stdin needs config {{ interactive = true }}",
                        target.config.task_name
                    ),
                );
            }
            if stdin.is_none() {
                let Some(claim) = lock.claim() else {
                    return Ending::Refused(CLOSE_POLICY, "stdin already attached".into());
                };
                match target
                    .driver
                    .attach_stdin(&target.handle, &target.config)
                    .await
                {
                    Ok(w) => stdin = Some((w, claim)),
                    Err(DriverError::TaskNotRunning) => {
                        let task = &target.config.task_name;
                        return Ending::Refused(CLOSE_POLICY, format!("task {task:?} not running"));
                    }
                    Err(e @ DriverError::NotSupported(_)) => {
                        return Ending::Refused(CLOSE_POLICY, e.to_string())
                    }
                    Err(e) => return Ending::Refused(CLOSE_INTERNAL, e.to_string()),
                }
            }
            if let Some((w, _)) = stdin.as_mut() {
                if w.write_all(&bytes).await.is_err() || w.flush().await.is_err() {
                    // The task is gone; its exit ends the session.
                    stdin = None;
                }
            }
        }
        if input.close {
            // Detach only: the task's stdin stays open for the next writer.
            stdin = None;
        }
    }
}
