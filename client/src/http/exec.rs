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

use std::collections::HashMap;
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures_util::stream::SplitStream;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::alloc::{ClientControl, ControlError};
use super::attach::AttachTarget;
use super::ws::{
    close, data_frame, drain, eof_frame, exited_frame, limits, receive, refuse, write_frames,
    Ending, Received, CHUNK, CLOSE_GRACE, CLOSE_INTERNAL, CLOSE_NORMAL, CLOSE_POLICY,
};
use super::HttpError;
use crate::driver::{ExecControl, ExecRequest, ExecSession};

/// How long output may still arrive after the command exited, from what it
/// left running with the stream open.
const DRAIN_GRACE: Duration = Duration::from_secs(1);

type Ctl = Arc<dyn ClientControl>;

/// The exec routes, state applied, ready to be merged.
pub fn router(ctl: Ctl) -> Router {
    Router::new()
        .route("/v1/client/allocation/{alloc_id}/exec", get(exec))
        .with_state(ctl)
}

async fn exec(
    ws: WebSocketUpgrade,
    State(ctl): State<Ctl>,
    Path(alloc_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let (task, req) = match parse_query(&query) {
        Ok(parsed) => parsed,
        Err(message) => return HttpError::bad_request(message).into_response(),
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
    // The task the command runs in, to end the session when it stops. If
    // it stopped in between, the watch ends the session at once.
    let task_watch = match &started {
        Ok(_) => ctl.attach(&alloc_id, &task).await.ok(),
        Err(_) => None,
    };
    limits(ws).on_upgrade(move |socket| async move {
        match started {
            Ok(session) => run(socket, session, task, task_watch).await,
            Err((code, reason)) => refuse(socket, code, &reason).await,
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

async fn run(
    socket: WebSocket,
    session: ExecSession,
    task: String,
    task_watch: Option<AttachTarget>,
) {
    let ExecSession {
        stdin,
        stdout,
        stderr,
        control,
    } = session;
    let (sink, mut stream) = socket.split();
    let (frames, queued) = mpsc::channel::<Message>(2);
    let (abort, aborted) = mpsc::channel::<Message>(1);

    // Whether to finish the closing handshake: after our close, or to
    // answer the user's.
    let handshake = {
        let mut writer = pin!(write_frames(sink, queued, aborted));
        let input = read_frames(&mut stream, stdin, &*control);
        let output = async {
            let result = finish(stdout, stderr, &*control, &frames).await;
            let last = match result {
                Ok(code) => {
                    let _ = frames.send(exited_frame(Some(code))).await;
                    close(CLOSE_NORMAL, "")
                }
                Err(reason) => close(CLOSE_INTERNAL, &reason),
            };
            let _ = frames.send(last).await;
            std::future::pending::<()>().await
        };
        tokio::select! {
            // The writer ended: it sent the last close, or the socket failed.
            () = &mut writer => true,
            ended = input => match ended {
                Ending::Refused(code, reason) => {
                    tracing::debug!(code, %reason, "exec session ended by a frame");
                    let _ = abort.try_send(close(code, &reason));
                    let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                    true
                }
                // The user closed: the drain sends our close in answer.
                Ending::Closed => true,
                // The connection is gone.
                Ending::Gone => false,
            },
            () = output => false,
            () = task_stopped(task_watch.as_ref()) => {
                let reason = format!("task {task:?} stopped; the exec session ends with it");
                let _ = abort.try_send(close(CLOSE_INTERNAL, &reason));
                let _ = tokio::time::timeout(CLOSE_GRACE, writer).await;
                true
            }
        }
    };
    // What is left of the command is killed now, not after the handshake.
    drop(control);
    if handshake {
        drain(&mut stream).await;
    }
}

/// Pumps the output until the command exits and its streams are drained
/// (or [`DRAIN_GRACE`] has passed); returns the exit code.
async fn finish(
    stdout: Output,
    stderr: Option<Output>,
    control: &dyn ExecControl,
    frames: &mpsc::Sender<Message>,
) -> Result<i32, String> {
    let pumps = async {
        let err = async {
            if let Some(stderr) = stderr {
                pump(stderr, "stderr", frames).await;
            }
        };
        tokio::join!(pump(stdout, "stdout", frames), err);
    };
    let mut pumps = pin!(pumps);
    let mut drained = false;
    let code = tokio::select! {
        code = control.wait() => code,
        () = &mut pumps => {
            drained = true;
            control.wait().await
        }
    };
    if !drained {
        let _ = tokio::time::timeout(DRAIN_GRACE, pumps).await;
    }
    code.map_err(|e| e.to_string())
}

/// Copies one stream into `{"<name>":{"data":"<base64>"}}` frames, then
/// `{"<name>":{"close":true}}` at EOF.
async fn pump(mut from: Output, name: &str, frames: &mpsc::Sender<Message>) {
    let mut buf = vec![0u8; CHUNK];
    loop {
        // A slot first, then the read: output stays in the pipe (and the
        // command blocks) while the socket is behind.
        let Ok(slot) = frames.reserve().await else {
            return;
        };
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        slot.send(data_frame(name, &buf[..n]));
    }
    let _ = frames.send(eof_frame(name)).await;
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
