//! What the exec and attach WebSockets share: Nomad's exec frames
//! (`api.ExecStreamingInput` in, `ExecStreamingOutput` out), close codes,
//! the single socket writer with its heartbeat, and the closing handshake.
//!
//! One future writes to a socket (Nomad once panicked on concurrent writes,
//! #19506): [`write_frames`] takes frames from a channel and is the only
//! holder of the sink.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket};
use base64::Engine;
use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use tokio::sync::mpsc;

/// Nomad's heartbeat interval, both ways (`api/allocations_exec.go`).
pub(super) const HEARTBEAT: Duration = Duration::from_secs(10);
/// Output read per frame.
pub(super) const CHUNK: usize = 32 * 1024;
/// How long the user has to answer our close frame.
pub(super) const CLOSE_GRACE: Duration = Duration::from_secs(5);
/// Close codes (RFC 6455).
pub(super) const CLOSE_NORMAL: u16 = 1000;
pub(super) const CLOSE_POLICY: u16 = 1008;
pub(super) const CLOSE_INTERNAL: u16 = 1011;

/// A client → server frame. `{}` is a heartbeat; the handshake frame
/// `{"version":1,"auth_token":..}` has none of these fields and is ignored
/// like one (Drover has no ACLs yet).
#[derive(Debug, Default, Deserialize)]
pub(super) struct InputFrame {
    #[serde(default)]
    pub stdin: Option<StdinFrame>,
    #[serde(default)]
    pub tty_size: Option<TtySize>,
}

#[derive(Debug, Default, Deserialize)]
pub(super) struct StdinFrame {
    #[serde(default)]
    pub data: Option<String>,
    #[serde(default)]
    pub close: bool,
}

impl StdinFrame {
    /// The decoded bytes of `data` (empty when absent), or the 1008 reason.
    pub fn bytes(&self) -> Result<Vec<u8>, String> {
        match self.data.as_deref() {
            None | Some("") => Ok(Vec::new()),
            Some(data) => base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|e| format!("invalid stdin data: {e}")),
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TtySize {
    pub height: u16,
    pub width: u16,
}

/// What one received message means.
pub(super) enum Received {
    Frame(InputFrame),
    /// Ping, pong: nothing to do.
    Skip,
    /// The user closed the socket (or it failed).
    Gone,
    /// A frame that ends the session with 1008 and this reason.
    Bad(String),
}

/// Reads the next message of the user.
pub(super) async fn receive(stream: &mut SplitStream<WebSocket>) -> Received {
    let Some(Ok(msg)) = stream.next().await else {
        return Received::Gone;
    };
    let decoded: Result<InputFrame, _> = match &msg {
        Message::Text(t) => serde_json::from_str(t.as_str()),
        Message::Binary(b) => serde_json::from_slice(b),
        Message::Close(_) => return Received::Gone,
        Message::Ping(_) | Message::Pong(_) => return Received::Skip,
    };
    match decoded {
        Ok(frame) => Received::Frame(frame),
        Err(e) => Received::Bad(format!("invalid exec frame: {e}")),
    }
}

/// `{"<name>":{"data":"<base64>"}}`.
pub(super) fn data_frame(name: &str, bytes: &[u8]) -> Message {
    let prefix = format!(r#"{{"{name}":{{"data":""#);
    let mut text = String::with_capacity(prefix.len() + bytes.len().div_ceil(3) * 4 + 3);
    text.push_str(&prefix);
    base64::engine::general_purpose::STANDARD.encode_string(bytes, &mut text);
    text.push_str("\"}}");
    Message::Text(text.into())
}

/// `{"<name>":{"close":true}}`.
pub(super) fn eof_frame(name: &str) -> Message {
    Message::Text(format!(r#"{{"{name}":{{"close":true}}}}"#).into())
}

/// Nomad's last frame: `{"exited":true,"result":{"exit_code":N}}`, with an
/// empty result when the code is unknown.
pub(super) fn exited_frame(code: Option<i32>) -> Message {
    let text = match code {
        Some(code) => format!(r#"{{"exited":true,"result":{{"exit_code":{code}}}}}"#),
        None => r#"{"exited":true,"result":{}}"#.to_string(),
    };
    Message::Text(text.into())
}

/// Completes the closing handshake we started: reads (and drops) what the
/// user still sends until its close arrives, for at most [`CLOSE_GRACE`].
/// Closing the TCP connection with unread input in it would reset it, and
/// a reset can destroy the exit frame before the user reads it.
pub(super) async fn drain(stream: &mut SplitStream<WebSocket>) {
    let _ = tokio::time::timeout(CLOSE_GRACE, async {
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Answers an upgrade that failed before the session started: a close
/// frame with `code` and `reason`, then the handshake.
pub(super) async fn refuse(socket: WebSocket, code: u16, reason: &str) {
    let (mut sink, mut stream) = socket.split();
    if sink.send(close(code, reason)).await.is_ok() {
        drain(&mut stream).await;
    }
}

/// The only writer of the socket: queued frames, a heartbeat every
/// [`HEARTBEAT`], or an abort's close frame. Ends after a close frame or
/// when the socket fails.
pub(super) async fn write_frames(
    mut sink: SplitSink<WebSocket, Message>,
    mut queued: mpsc::Receiver<Message>,
    mut aborted: mpsc::Receiver<Message>,
) {
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let msg = tokio::select! {
            biased;
            Some(msg) = aborted.recv() => msg,
            msg = queued.recv() => match msg {
                Some(msg) => msg,
                None => return,
            },
            _ = heartbeat.tick() => Message::Text("{}".into()),
        };
        let last = matches!(msg, Message::Close(_));
        if sink.send(msg).await.is_err() || last {
            return;
        }
    }
}

/// A close frame; the reason is cut to the 123 bytes a control frame can
/// carry.
pub(super) fn close(code: u16, reason: &str) -> Message {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    Message::Close(Some(CloseFrame {
        code,
        reason: reason[..end].into(),
    }))
}
