//! What the exec and attach WebSockets share: Nomad's exec frames
//! (`api.ExecStreamingInput` in, `ExecStreamingOutput` out), close codes,
//! the single socket writer with its heartbeat, and the closing handshake.
//!
//! One future writes to a socket (Nomad once panicked on concurrent writes,
//! #19506): [`write_frames`] takes frames from a channel and is the only
//! holder of the sink.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
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
pub(super) const CLOSE_TOO_BIG: u16 = 1009;
pub(super) const CLOSE_INTERNAL: u16 = 1011;
/// The largest message a user may send. Input comes in small frames
/// (Nomad's CLI sends stdin 2 KiB at a time), so 1 MiB is ample while it
/// bounds what one session makes the agent buffer. A larger message is
/// read whole, then answered with 1009, so the closing handshake can still
/// complete; frames over tungstenite's 16 MiB frame limit end the
/// connection at once.
pub(super) const MAX_MESSAGE: usize = 1 << 20;

/// Applies the session's limits to an upgrade.
pub(super) fn limits(ws: WebSocketUpgrade) -> WebSocketUpgrade {
    ws.max_message_size(MAX_MESSAGE)
}

/// A client → server frame. `{}` is a heartbeat; the handshake frame
/// `{"version":1,"auth_token":..}` has none of these fields and is ignored
/// like one (with ACLs on, the servers checked its token before the
/// session reached this client).
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
    /// How the session ends.
    End(Ending),
}

/// Why the user's side of a session ended.
pub(super) enum Ending {
    /// The connection failed; there is nobody to answer.
    Gone,
    /// The user sent its close frame. tungstenite has queued the answer (an
    /// echo of the user's code, as RFC 6455 asks); [`drain`] sends it.
    Closed,
    /// A frame that ends the session with this close code and reason: 1008
    /// for one that is no exec frame, 1009 for one over [`MAX_MESSAGE`].
    Refused(u16, String),
}

/// Reads the next message of the user.
pub(super) async fn receive(stream: &mut SplitStream<WebSocket>) -> Received {
    let msg = match stream.next().await {
        Some(Ok(msg)) => msg,
        Some(Err(e)) => return Received::End(read_error(e)),
        None => return Received::End(Ending::Gone),
    };
    let decoded: Result<InputFrame, _> = match &msg {
        Message::Text(t) => serde_json::from_str(t.as_str()),
        Message::Binary(b) => serde_json::from_slice(b),
        Message::Close(_) => return Received::End(Ending::Closed),
        Message::Ping(_) | Message::Pong(_) => return Received::Skip,
    };
    match decoded {
        Ok(frame) => Received::Frame(frame),
        Err(e) => Received::End(Ending::Refused(
            CLOSE_POLICY,
            format!("invalid exec frame: {e}"),
        )),
    }
}

/// A failed read: a message over the size limit is answered with 1009;
/// anything else means the connection is gone.
fn read_error(e: axum::Error) -> Ending {
    use tokio_tungstenite::tungstenite::error::{CapacityError, Error};
    match e.into_inner().downcast::<Error>().map(|e| *e) {
        Ok(Error::Capacity(CapacityError::MessageTooLong { size, max_size })) => Ending::Refused(
            CLOSE_TOO_BIG,
            format!("message too big: {size} bytes, the limit is {max_size}"),
        ),
        _ => Ending::Gone,
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

/// Completes the closing handshake: reads (and drops) what the user still
/// sends until its close arrives, for at most [`CLOSE_GRACE`]. Closing the
/// TCP connection with unread input in it would reset it, and a reset can
/// destroy the exit frame before the user reads it. When the user closed
/// first, the read sends tungstenite's queued answer and ends at once.
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
