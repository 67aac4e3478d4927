//! A tokio-tungstenite client for the exec-frame WebSockets (exec and the
//! attach extension), shared by the tests that need one.

#![allow(dead_code)]

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

pub const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// `ws://…/v1/client/allocation/<alloc>/<endpoint>?<params>` of `base`
/// (an agent's `http://` address).
pub fn url(base: &str, alloc: &str, endpoint: &str, params: &[(&str, &str)]) -> String {
    let base = base.replacen("http://", "ws://", 1);
    reqwest::Url::parse_with_params(
        &format!("{base}/v1/client/allocation/{alloc}/{endpoint}"),
        params,
    )
    .unwrap()
    .to_string()
}

pub async fn connect(url: String, deadline: Duration) -> Result<Socket, tungstenite::Error> {
    let (ws, _) = tokio::time::timeout(deadline, tokio_tungstenite::connect_async(url))
        .await
        .expect("upgrade within the deadline")?;
    Ok(ws)
}

pub async fn send(ws: &mut Socket, frame: Value) {
    ws.send(Message::Text(frame.to_string().into()))
        .await
        .unwrap();
}

pub async fn stdin(ws: &mut Socket, data: &[u8]) {
    send(ws, json!({"stdin": {"data": B64.encode(data)}})).await;
}

/// What a session produced so far.
#[derive(Debug, Default)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Set by the `exited` frame (`Some(None)`: exited, code unknown).
    pub exited: Option<Option<i64>>,
    pub close: Option<(u16, String)>,
}

impl Outcome {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn exit_code(&self) -> Option<i64> {
        self.exited.flatten()
    }
}

/// Reads frames into `out` until `done(out)` holds or the socket closes;
/// panics after `deadline`.
pub async fn read_until(
    ws: &mut Socket,
    out: &mut Outcome,
    deadline: Duration,
    done: impl Fn(&Outcome) -> bool,
) {
    let until = tokio::time::Instant::now() + deadline;
    while !done(out) {
        let msg = match tokio::time::timeout_at(until, ws.next()).await {
            Err(_) => panic!("nothing expected within {deadline:?}; so far {out:?}"),
            Ok(None) | Ok(Some(Err(_))) => return,
            Ok(Some(Ok(msg))) => msg,
        };
        match msg {
            Message::Text(t) => {
                let v: Value = serde_json::from_str(t.as_str()).unwrap();
                for (stream, buf) in [("stdout", &mut out.stdout), ("stderr", &mut out.stderr)] {
                    if let Some(d) = v[stream]["data"].as_str() {
                        buf.extend(B64.decode(d).unwrap());
                    }
                }
                if v["exited"] == true {
                    out.exited = Some(v["result"]["exit_code"].as_i64());
                }
            }
            Message::Close(frame) => {
                out.close = Some(frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                }));
                return;
            }
            _ => {}
        }
    }
}

/// Reads until the server closes the session.
pub async fn finish(ws: &mut Socket, deadline: Duration) -> Outcome {
    let mut out = Outcome::default();
    read_until(ws, &mut out, deadline, |_| false).await;
    out
}

/// Sizes the terminal of a tty session running `/bin/sh` to 40x100, then
/// resizes it to 50x132 and exits 5; both sizes reach stdout and stderr
/// stays empty (a tty merges it). Returns the finished session.
pub async fn check_tty_resize(ws: &mut Socket, deadline: Duration) -> Outcome {
    send(ws, json!({"tty_size": {"height": 40, "width": 100}})).await;
    stdin(ws, b"stty size\n").await;
    let mut out = Outcome::default();
    read_until(ws, &mut out, deadline, |o| {
        o.stdout().contains("40 100\r\n")
    })
    .await;
    assert!(out.stdout().contains("40 100\r\n"), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");

    send(ws, json!({"tty_size": {"height": 50, "width": 132}})).await;
    stdin(ws, b"stty size; exit 5\n").await;
    read_until(ws, &mut out, deadline, |_| false).await;
    assert!(out.stdout().contains("50 132\r\n"), "{out:?}");
    assert!(out.stderr.is_empty(), "{out:?}");
    assert_eq!(out.exit_code(), Some(5), "{out:?}");
    out
}

/// The session is closed with `code` and a reason containing `reason`.
#[track_caller]
pub fn assert_closed(out: &Outcome, code: u16, reason: &str) {
    let (got, why) = out
        .close
        .clone()
        .unwrap_or_else(|| panic!("no close: {out:?}"));
    assert_eq!(got, code, "{out:?}");
    assert!(why.contains(reason), "{why:?} lacks {reason:?}");
}

/// Sends a normal close and reads until the server answers it: the code of
/// the server's close frame, or `None` when the connection ended without
/// one (what a browser reports as 1006).
pub async fn close_and_read_answer(ws: &mut Socket, deadline: Duration) -> Option<u16> {
    use tungstenite::protocol::frame::coding::CloseCode;
    use tungstenite::protocol::CloseFrame;
    let frame = CloseFrame {
        code: CloseCode::Normal,
        reason: "bye".into(),
    };
    ws.close(Some(frame)).await.unwrap();
    let until = tokio::time::Instant::now() + deadline;
    loop {
        let next = tokio::time::timeout_at(until, ws.next())
            .await
            .expect("the server answers the close within the deadline");
        match next {
            Some(Ok(Message::Close(frame))) => {
                return Some(frame.map_or(1005, |f| u16::from(f.code)))
            }
            Some(Ok(_)) => continue,
            Some(Err(_)) | None => return None,
        }
    }
}

/// Sends one stdin frame of `bytes` bytes of data (over the agent's 1 MiB
/// message limit when large) and reads the session to its end.
pub async fn send_oversized(ws: &mut Socket, bytes: usize, deadline: Duration) -> Outcome {
    let data = B64.encode(vec![b'x'; bytes]);
    let frame = json!({"stdin": {"data": data}}).to_string();
    ws.send(Message::Text(frame.into())).await.unwrap();
    finish(ws, deadline).await
}

/// [`connect`] with `token` in `X-Nomad-Token`.
pub async fn connect_with_token(
    url: String,
    token: &str,
    deadline: Duration,
) -> Result<Socket, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let mut req = url.into_client_request()?;
    req.headers_mut().insert(
        "X-Nomad-Token",
        token.parse().expect("a token is a header value"),
    );
    let (ws, _) = tokio::time::timeout(deadline, tokio_tungstenite::connect_async(req))
        .await
        .expect("upgrade within the deadline")?;
    Ok(ws)
}
