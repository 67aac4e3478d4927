//! `GET /v1/client/allocation/:id/exec?task=&command=[..]&tty=`: Nomad's
//! exec WebSocket (`allocExec`, command/agent/alloc_endpoint.go; frames of
//! `api.ExecStreamingInput` / `ExecStreamingOutput`).
//!
//! The command is started before the upgrade, so an unknown allocation is
//! a plain 404 and a bad query a 400; every later failure (unknown task,
//! task not running, an empty command, a frame that is not JSON, base64
//! that does not decode) closes the socket with 1008 and the reason, and an
//! internal one with 1011, as Nomad's `toWsCode` maps them. A terminal's
//! first size therefore arrives as the first `tty_size` frame, which is
//! how Nomad's UI and CLI send it anyway.
//!
//! One future writes to the socket (Nomad once panicked on concurrent
//! writes, #19506); the output pumps hand it frames through a channel of
//! two slots and reserve a slot before they read, so no output is read
//! while the socket cannot take it. Whatever happens on the socket, only
//! the exec's own process group is touched: dropping the session kills it.
//!
//! The session also ends when the task it runs in stops (Drover's choice;
//! Nomad's exec dies with the task's container or cgroup, a raw_exec
//! command here would not): close 1011 `task "t" stopped; ...`, and the
//! command is killed.
//!
//! Every session is recorded ([`super::audit`]) before the socket is
//! accepted, and its end with the exit code or the reason; a token that
//! may no longer open it (deleted, expired, its policy changed) ends it
//! with 1008 and the servers' reason.

use std::collections::HashMap;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, watch};

use super::alloc::{ClientControl, ControlError};
use super::attach::AttachTarget;
use super::audit::{AuditError, OpenSession, SessionAudit, SessionEnd, SessionStart};
use super::ws::{
    close, data_frame, drain, eof_frame, exited_frame, limits, receive, refuse, write_frames,
    Ending, Received, CHUNK, CLOSE_GRACE, CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_POLICY,
};
use super::HttpError;
use crate::driver::{ExecControl, ExecRequest, ExecSession};

/// How long a read of the output may wait once the command has exited:
/// longer means what it left running holds the stream open.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

#[derive(Clone)]
struct ExecState {
    ctl: Arc<dyn ClientControl>,
    audit: Arc<dyn SessionAudit>,
}

/// The exec routes, state applied, ready to be merged.
pub fn router(ctl: Arc<dyn ClientControl>, audit: Arc<dyn SessionAudit>) -> Router {
    Router::new()
        .route("/v1/client/allocation/{alloc_id}/exec", get(exec))
        .with_state(ExecState { ctl, audit })
}

async fn exec(
    ws: WebSocketUpgrade,
    State(ExecState { ctl, audit }): State<ExecState>,
    Path(alloc_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let (task, req) = match parse_query(&query) {
        Ok(parsed) => parsed,
        Err(message) => return HttpError::bad_request(message).into_response(),
    };
    let start = SessionStart {
        kind: drover_api::EXEC_SESSION_EXEC,
        alloc_id: alloc_id.clone(),
        task: task.clone(),
        command: req.command.clone(),
        tty: req.tty,
    };
    let started = if req.command.is_empty() {
        Err(ControlError::BadRequest(
            "command is not present".to_string(),
        ))
    } else {
        ctl.exec(&alloc_id, &task, req).await
    };
    let started = match started {
        Err(ControlError::UnknownAlloc(id)) => {
            return HttpError::unknown_alloc(&id).into_response()
        }
        Ok(session) => Ok(session),
        Err(ControlError::BadRequest(m)) => Err((CLOSE_POLICY, m)),
        Err(ControlError::Internal(m)) => Err((CLOSE_INTERNAL, m)),
    };
    // Recorded before the user has the socket; the command started is
    // killed with `started` when it cannot be.
    let record = match &started {
        Ok(_) => match audit.open(start, &headers).await {
            Ok(record) => Some(record),
            Err(AuditError::Refused(m)) => return HttpError::forbidden(m).into_response(),
            Err(AuditError::Unavailable(m)) => return HttpError::internal(m).into_response(),
        },
        Err(_) => None,
    };
    // The task the command runs in, to end the session when it stops. If
    // it stopped in between, the watch ends the session at once.
    let task_watch = match &started {
        Ok(_) => ctl.attach(&alloc_id, &task).await.ok(),
        Err(_) => None,
    };
    limits(ws).on_upgrade(move |socket| async move {
        match (started, record) {
            (Ok(session), Some(record)) => {
                let end = run(socket, session, task, task_watch, &*record).await;
                record.ended(end).await;
            }
            (Ok(_), None) => {}
            (Err((code, reason)), _) => refuse(socket, code, &reason).await,
        }
    })
}

/// `task` and `command` (a JSON array of strings) are required, `tty` is a
/// boolean; the rest (`ws_handshake`) is accepted and ignored.
fn parse_query(q: &HashMap<String, String>) -> Result<(String, ExecRequest), String> {
    let task = q
        .get("task")
        .filter(|t| !t.is_empty())
        .ok_or("missing task")?
        .clone();
    let command = q.get("command").ok_or("command is not present")?;
    let command: Vec<String> = serde_json::from_str(command)
        .map_err(|e| format!("command must be a JSON array of strings: {e}"))?;
    let tty = match q.get("tty").map(String::as_str) {
        None | Some("") => false,
        Some(v) => parse_bool(v).ok_or_else(|| format!("tty value is not a boolean: {v:?}"))?,
    };
    Ok((
        task,
        ExecRequest {
            command,
            tty,
            tty_size: None,
        },
    ))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

type Output = Pin<Box<dyn AsyncRead + Send>>;

/// Serves the session until it ends; how it ended.
async fn run(
    socket: WebSocket,
    session: ExecSession,
    task: String,
    task_watch: Option<AttachTarget>,
    record: &dyn OpenSession,
) -> SessionEnd {
    let ExecSession {
        stdin,
        stdout,
        stderr,
        control,
    } = session;
    let (sink, mut stream) = socket.split();
    let (frames, queued) = mpsc::channel::<Message>(2);
    let (abort, aborted) = mpsc::channel::<Message>(1);
    // The command's end, once the output is all sent.
    let outcome = std::sync::OnceLock::<Result<i32, String>>::new();

    // Whether to finish the closing handshake: after our close, or to
    // answer the user's; and how the session ended.
    let (handshake, end) = {
        let mut writer = pin!(write_frames(sink, queued, aborted));
        let input = read_frames(&mut stream, stdin, &*control);
        let output = async {
            let result = finish(stdout, stderr, &*control, &frames).await;
            let last = match &result {
                Ok(code) => {
                    let _ = frames.send(exited_frame(Some(*code))).await;
                    close(CLOSE_NORMAL, "")
                }
                Err(reason) => close(CLOSE_INTERNAL, reason),
            };
            let _ = outcome.set(result);
            let _ = frames.send(last).await;
            std::future::pending::<()>().await
        };
        // How it ended when the command's end was not the cause.
        let or = |why: &str| match outcome.get() {
            Some(Ok(code)) => SessionEnd::exited(Some(*code)),
            Some(Err(e)) => SessionEnd::because(e.clone()),
            None => SessionEnd::because(why),
        };
        tokio::select! {
            // The writer ended: it sent the last close, or the socket failed.
            () = &mut writer => (true, or("connection lost")),
            ended = input => match ended {
                Ending::Refused(code, reason) => {
                    tracing::debug!(code, %reason, "exec session ended by a frame");
                    let _ = abort.try_send(close(code, &reason));
                    let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                    (true, SessionEnd::because(reason))
                }
                // The user closed: the drain sends our close in answer.
                Ending::Closed => (true, or("closed by the user")),
                // The connection is gone.
                Ending::Gone => (false, or("connection lost")),
            },
            () = output => (false, or("connection lost")),
            () = task_stopped(task_watch.as_ref()) => {
                let reason = format!("task {task:?} stopped; the exec session ends with it");
                let _ = abort.try_send(close(CLOSE_INTERNAL, &reason));
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                (true, SessionEnd::because(reason))
            }
            reason = record.revoked() => {
                tracing::info!(%reason, "exec session closed: its token no longer allows it");
                let _ = abort.try_send(close(CLOSE_POLICY, &reason));
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                (true, SessionEnd::because(reason))
            }
        }
    };
    // What is left of the command is killed now, not after the handshake.
    drop(control);
    if handshake {
        drain(&mut stream).await;
    }
    end
}

/// Pumps the output until the command has exited and its streams are
/// drained; returns the exit code.
///
/// The exit notification and the end of the output are independent
/// events, and the exit often comes first: the command is gone while its
/// last output still waits in the pipe (or the pty), behind a socket that
/// takes a moment. So the exit only arms a per-read grace ([`DRAIN_GRACE`]
/// from the later of the exit and the start of each read): output that
/// keeps coming, however slowly the user reads it, is all sent before the
/// exit frame, and only a stream held open by something the command left
/// behind (`sleep 100 &`) is cut. A fixed grace counted from the exit
/// instead dropped whatever the socket had not taken by then.
async fn finish(
    stdout: Output,
    stderr: Option<Output>,
    control: &dyn ExecControl,
    frames: &mpsc::Sender<Message>,
) -> Result<i32, String> {
    let (exited_tx, exited) = watch::channel(false);
    let wait = async {
        let code = control.wait().await;
        exited_tx.send_replace(true);
        code
    };
    let pumps = async {
        let err = async {
            if let Some(stderr) = stderr {
                pump(stderr, "stderr", frames, exited.clone()).await;
            }
        };
        tokio::join!(pump(stdout, "stdout", frames, exited.clone()), err);
    };
    let (code, ()) = tokio::join!(wait, pumps);
    code.map_err(|e| e.to_string())
}

/// Copies one stream into `{"<name>":{"data":"<base64>"}}` frames, then
/// `{"<name>":{"close":true}}` at EOF, or once a read has waited
/// [`DRAIN_GRACE`] past the command's exit.
async fn pump(
    mut from: Output,
    name: &str,
    frames: &mpsc::Sender<Message>,
    exited: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        // A slot first, then the read: output stays in the pipe (and the
        // command blocks) while the socket is behind. Waiting for the slot
        // is never cut short.
        let Ok(slot) = frames.reserve().await else {
            return;
        };
        let read = tokio::select! {
            // Reads are cancel safe: a read cut short loses nothing.
            biased;
            read = from.read(&mut buf) => read,
            () = idle_after_exit(exited.clone()) => break,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        slot.send(data_frame(name, &buf[..n]));
    }
    let _ = frames.send(eof_frame(name)).await;
}

/// Resolves [`DRAIN_GRACE`] after the command has exited, counted from now
/// when it already has.
async fn idle_after_exit(mut exited: watch::Receiver<bool>) {
    if exited.wait_for(|e| *e).await.is_err() {
        // The sender lives as long as the pumps; never resolve without it.
        std::future::pending::<()>().await;
    }
    tokio::time::sleep(DRAIN_GRACE).await;
}

/// Applies the client's frames until the session ends on its side.
async fn read_frames(
    stream: &mut SplitStream<WebSocket>,
    stdin: Pin<Box<dyn AsyncWrite + Send>>,
    control: &dyn ExecControl,
) -> Ending {
    let mut stdin = Some(stdin);
    loop {
        let frame = match receive(stream).await {
            Received::Frame(frame) => frame,
            Received::Skip => continue,
            Received::End(ending) => return ending,
        };
        if let Some(input) = frame.stdin {
            let bytes = match input.bytes() {
                Ok(bytes) => bytes,
                Err(reason) => return Ending::Refused(CLOSE_POLICY, reason),
            };
            if let (false, Some(w)) = (bytes.is_empty(), stdin.as_mut()) {
                // The command closed its stdin or exited: what the user
                // types goes nowhere, as on a terminal.
                if w.write_all(&bytes).await.is_err() || w.flush().await.is_err() {
                    stdin = None;
                }
            }
            if input.close {
                if let Some(mut w) = stdin.take() {
                    let _ = w.shutdown().await;
                }
            }
        }
        if let Some(size) = frame.tty_size {
            if let Err(e) = control.resize(size.height, size.width).await {
                tracing::debug!(error = %e, "exec resize failed");
            }
        }
    }
}

/// Resolves when the task the command runs in has exited (never without
/// a task to watch). A raw_exec command is not in the task's process
/// group, so without this it would outlive the task.
async fn task_stopped(task: Option<&AttachTarget>) {
    match task {
        Some(t) => {
            t.driver.wait(&t.handle).await;
        }
        None => std::future::pending().await,
    }
}
