//! One interactive stream to a task over Nomad's exec WebSocket frames:
//! `alloc exec` and `alloc attach` differ only in the URL.
//!
//! One loop owns the socket and is its only writer (stdin chunks, resizes,
//! heartbeats), so frames never interleave; stdin is read on a plain thread
//! because a blocking terminal read cannot be cancelled, and a detached
//! thread does not hold the process open at exit.

use std::io::Read;
use std::time::Duration;

use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{self, Message};

use super::term::{self, RawMode};

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::STANDARD;

/// Nomad's CLI heartbeat interval (`api/allocations_exec.go`).
const HEARTBEAT: Duration = Duration::from_secs(10);

/// How a session is run.
pub struct Options {
    /// The `ws://` URL of the exec or attach endpoint, query included.
    pub url: String,
    /// Local terminal in raw mode, sizes sent, escape character active.
    pub tty: bool,
    /// Forward local stdin; without it the remote stdin is closed at once.
    pub stdin: bool,
    /// The escape character (`~`), only honoured with a tty.
    pub escape: Option<u8>,
    /// TLS for a `wss://` URL ([`super::tls_client`]).
    pub tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    /// The ACL token, sent as `X-Nomad-Token`.
    pub token: Option<String>,
}

/// How a session ended.
#[derive(Debug)]
pub enum End {
    /// The remote command exited with this code.
    Exited(i64),
    /// The user typed the escape sequence `~.`.
    Disconnected,
    /// SIGINT, SIGTERM or SIGHUP arrived (named) before the end.
    Interrupted(&'static str),
    /// The session could not start or broke: a one-line reason.
    Failed(String),
}

/// Runs the session to its end; the terminal is restored before returning.
pub async fn run(opts: Options) -> End {
    if opts.tty && !term::is_tty(0) {
        // Checked before connecting, so no remote command is started for
        // a session that cannot have its terminal.
        return End::Failed("stdin is not a terminal (use -t=false)".into());
    }
    let ws = match connect(&opts.url, opts.tls.clone(), opts.token.as_deref()).await {
        Ok(ws) => ws,
        Err(tungstenite::Error::Http(resp)) => {
            let body = resp
                .body()
                .as_deref()
                .map(|b| String::from_utf8_lossy(b).trim().to_string())
                .unwrap_or_default();
            let code = resp.status().as_u16();
            return End::Failed(if body.is_empty() {
                format!("Unexpected response code: {code}")
            } else {
                format!("Unexpected response code: {code} ({body})")
            });
        }
        Err(e) => return End::Failed(format!("cannot connect: {e}")),
    };
    // Raw mode only once connected, so a refused session never garbles the
    // terminal; dropped (restored) on every return below.
    let mut raw = None;
    if opts.tty {
        match RawMode::enter(0) {
            Ok(r) => raw = Some(r),
            Err(e) => return End::Failed(format!("cannot put the terminal in raw mode: {e}")),
        }
    }
    let end = pump(ws, &opts, raw.as_mut()).await;
    drop(raw);
    end
}

/// The socket's transport: TCP, or TLS over it.
trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

type Socket = tokio_tungstenite::WebSocketStream<Box<dyn Io>>;

/// Opens the WebSocket at `url`: TCP, then TLS for `wss://` with `tls`
/// (the CLI's own settings, so the CA and client certificate given for
/// HTTPS hold here too), then the upgrade.
async fn connect(
    url: &str,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    token: Option<&str>,
) -> Result<Socket, tungstenite::Error> {
    use tungstenite::client::IntoClientRequest;
    let invalid = |msg: String| {
        tungstenite::Error::Io(std::io::Error::new(std::io::ErrorKind::InvalidInput, msg))
    };
    let mut req = url.into_client_request()?;
    if let Some(v) = token.and_then(|t| t.parse().ok()) {
        req.headers_mut().insert("X-Nomad-Token", v);
    }
    let uri = req.uri().clone();
    let secure = uri.scheme_str() == Some("wss");
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    let tcp = tokio::net::TcpStream::connect((host, port)).await?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if secure {
        let tls = tls.ok_or_else(|| {
            invalid("a wss:// session needs -ca-cert (or NOMAD_CACERT) or -tls-skip-verify".into())
        })?;
        let name = rustls::pki_types::ServerName::try_from(host.to_string())
            .map_err(|e| invalid(format!("{host}: {e}")))?;
        Box::new(
            tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?,
        )
    } else {
        Box::new(tcp)
    };
    let (ws, _) = tokio_tungstenite::client_async(req, io).await?;
    Ok(ws)
}

async fn pump(ws: Socket, opts: &Options, mut raw: Option<&mut RawMode>) -> End {
    let (mut sink, mut stream) = ws.split();
    let mut out = tokio::io::stdout();
    let mut err = tokio::io::stderr();

    let mut winch = if opts.tty {
        signal(SignalKind::window_change()).ok()
    } else {
        None
    };
    let mut sigint = signal(SignalKind::interrupt()).ok();
    let mut sigterm = signal(SignalKind::terminate()).ok();
    let mut sighup = signal(SignalKind::hangup()).ok();

    let mut pending: Vec<Value> = Vec::new();
    if opts.tty {
        if let Some(f) = size_frame() {
            pending.push(f);
        }
    }
    let mut stdin_rx = None;
    if opts.stdin {
        stdin_rx = Some(spawn_stdin_reader());
    } else {
        pending.push(json!({"stdin": {"close": true}}));
    }
    for frame in pending {
        if let Err(e) = send(&mut sink, &frame).await {
            return End::Failed(format!("failed to send input: {e}"));
        }
    }
    let mut escape = opts.escape.filter(|_| opts.tty).map(Escape::new);
    let mut heartbeat =
        tokio::time::interval_at(tokio::time::Instant::now() + HEARTBEAT, HEARTBEAT);

    loop {
        let mut outgoing: Vec<Value> = Vec::new();
        let mut disconnect = false;
        tokio::select! {
            msg = stream.next() => match msg {
                None => return End::Failed("websocket closed before receiving exit code".into()),
                Some(Err(e)) => return End::Failed(e.to_string()),
                Some(Ok(Message::Text(t))) => {
                    let Ok(v) = serde_json::from_str::<Value>(t.as_str()) else { continue };
                    if let Some(d) = v["stdout"]["data"].as_str() {
                        let _ = write(&mut out, &B64.decode(d).unwrap_or_default()).await;
                    }
                    if let Some(d) = v["stderr"]["data"].as_str() {
                        let _ = write(&mut err, &B64.decode(d).unwrap_or_default()).await;
                    }
                    if v["exited"] == true {
                        let code = v["result"]["exit_code"].as_i64().unwrap_or(0);
                        close_politely(sink, stream).await;
                        return End::Exited(code);
                    }
                }
                Some(Ok(Message::Close(frame))) => return End::Failed(close_reason(frame)),
                Some(Ok(_)) => {}
            },
            chunk = recv_opt(&mut stdin_rx) => match chunk {
                Some(data) if !data.is_empty() => {
                    let (data, quit) = match escape.as_mut() {
                        Some(esc) => esc.feed(&data),
                        None => (data, false),
                    };
                    if !data.is_empty() {
                        outgoing.push(json!({"stdin": {"data": B64.encode(&data)}}));
                    }
                    disconnect = quit;
                }
                _ => {
                    if let Some(rest) = escape.as_mut().map(Escape::finish).filter(|r| !r.is_empty()) {
                        outgoing.push(json!({"stdin": {"data": B64.encode(&rest)}}));
                    }
                    outgoing.push(json!({"stdin": {"close": true}}));
                    stdin_rx = None;
                }
            },
            _ = recv_sig(&mut winch) => outgoing.extend(size_frame()),
            _ = heartbeat.tick() => outgoing.push(json!({})),
            _ = recv_sig(&mut sigint) => return End::Interrupted("interrupted"),
            _ = recv_sig(&mut sigterm) => return End::Interrupted("terminated"),
            _ = recv_sig(&mut sighup) => return End::Interrupted("hung up"),
        }
        for frame in outgoing {
            if let Err(e) = send(&mut sink, &frame).await {
                return End::Failed(format!("failed to send input: {e}"));
            }
        }
        if disconnect {
            if let Some(r) = raw.as_mut() {
                r.restore();
            }
            let _ = write(&mut err, b"\nConnection closed\n").await;
            return End::Disconnected;
        }
    }
}

type Sink = futures_util::stream::SplitSink<Socket, Message>;
type Stream = futures_util::stream::SplitStream<Socket>;

async fn send(sink: &mut Sink, frame: &Value) -> Result<(), tungstenite::Error> {
    sink.send(Message::Text(frame.to_string().into())).await
}

/// Ends the WebSocket with a normal close and waits briefly for the peer's
/// answer, so the agent sees a clean end rather than a reset.
async fn close_politely(mut sink: Sink, mut stream: Stream) {
    let _ = tokio::time::timeout(Duration::from_millis(500), async {
        let _ = sink.close().await;
        while let Some(Ok(msg)) = stream.next().await {
            if matches!(msg, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

fn close_reason(frame: Option<CloseFrame>) -> String {
    match frame {
        Some(f) if !f.reason.is_empty() => f.reason.to_string(),
        Some(f) if u16::from(f.code) != 1000 => {
            format!("websocket closed with code {}", u16::from(f.code))
        }
        _ => "websocket closed before receiving exit code".into(),
    }
}

fn size_frame() -> Option<Value> {
    let (h, w) = term::size(1).or_else(|| term::size(0))?;
    Some(json!({"tty_size": {"height": h, "width": w}}))
}

async fn write<W: tokio::io::AsyncWrite + Unpin>(w: &mut W, data: &[u8]) -> std::io::Result<()> {
    w.write_all(data).await?;
    w.flush().await
}

async fn recv_opt(rx: &mut Option<mpsc::Receiver<Vec<u8>>>) -> Option<Vec<u8>> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_sig(sig: &mut Option<Signal>) {
    match sig {
        Some(s) => {
            s.recv().await;
        }
        None => std::future::pending().await,
    }
}

/// Reads stdin in 2 KiB chunks (Nomad's size) on a detached thread; an
/// empty chunk or a closed channel means end of input.
fn spawn_stdin_reader() -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel(16);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 2048];
        loop {
            let n = match stdin.read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0,
            };
            if tx.blocking_send(buf[..n].to_vec()).is_err() || n == 0 {
                return;
            }
        }
    });
    rx
}

/// The OpenSSH-style escape on the input stream: the escape character at
/// the start of input or right after a newline (`\n` or `\r`, which raw
/// mode sends for Enter) begins a sequence. `~.` disconnects, `~~` sends
/// one `~`, and `~` before anything else is sent unchanged with it.
pub struct Escape {
    ch: u8,
    at_line_start: bool,
    pending: bool,
}

impl Escape {
    pub fn new(ch: u8) -> Escape {
        Escape {
            ch,
            at_line_start: true,
            pending: false,
        }
    }

    /// The bytes to forward from `input`, and whether `~.` was typed (the
    /// bytes before it are still forwarded; those after it are dropped).
    pub fn feed(&mut self, input: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(input.len());
        for &b in input {
            if self.pending {
                self.pending = false;
                if b == b'.' {
                    return (out, true);
                }
                if b != self.ch {
                    out.push(self.ch);
                }
                out.push(b);
                self.at_line_start = b != self.ch && (b == b'\n' || b == b'\r');
            } else if self.at_line_start && b == self.ch {
                self.pending = true;
            } else {
                out.push(b);
                self.at_line_start = b == b'\n' || b == b'\r';
            }
        }
        (out, false)
    }

    /// At end of input, a lone pending escape character is sent as typed.
    pub fn finish(&mut self) -> Vec<u8> {
        if std::mem::take(&mut self.pending) {
            vec![self.ch]
        } else {
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Escape;

    #[track_caller]
    fn check(chunks: &[&str], want: &str, want_quit: bool) {
        let mut esc = Escape::new(b'~');
        let mut got = Vec::new();
        let mut quit = false;
        for c in chunks {
            let (out, q) = esc.feed(c.as_bytes());
            got.extend(out);
            if q {
                quit = true;
                break;
            }
        }
        if !quit {
            got.extend(esc.finish());
        }
        assert_eq!(
            (String::from_utf8(got).unwrap().as_str(), quit),
            (want, want_quit)
        );
    }

    #[test]
    fn escape_sequences() {
        check(&["~."], "", true);
        check(&["ls\r~.rest"], "ls\r", true);
        check(&["ls\n", "~", "."], "ls\n", true);
        check(&["a~."], "a~.", false);
        check(&["~~."], "~.", false);
        check(&["~x"], "~x", false);
        check(&["~\r~."], "~\r", true);
        check(&["~"], "~", false);
        check(&["echo ~/x\r"], "echo ~/x\r", false);
    }
}
