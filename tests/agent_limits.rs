//! The real `drover agent` binary under connection floods: Nomad's
//! `limits { http_max_conns_per_client, https_handshake_timeout }` and
//! Drover's `http_idle_timeout`, over real sockets on loopback.
//!
//! Floods come from several loopback source addresses (127.0.1.x; all of
//! 127/8 reaches the agent on Linux) so the per-address cap does not refuse
//! them; the requests that must still be answered come from 127.0.0.1.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

mod common;
use common::{Agent, DEADLINE};

const HEALTH: &[u8] = b"GET /v1/agent/health HTTP/1.1\r\nHost: drover\r\n\r\n";

/// Raises this process's soft open-file limit to the hard one; panics,
/// saying why, if that cannot cover `need` descriptors.
fn raise_nofile(need: u64) {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) }, 0);
    l.rlim_cur = l.rlim_max;
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) }, 0);
    assert!(
        l.rlim_cur >= need,
        "this test needs {need} open files; the hard limit is {}",
        l.rlim_cur
    );
}

fn addr(a: &Agent) -> SocketAddr {
    a.base.trim_start_matches("http://").parse().unwrap()
}

/// A TCP connection to `to` from the loopback address `from`.
async fn connect_from(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from((from, 0))).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads one HTTP/1.1 response (head, then a `Content-Length` body):
/// its status and body.
async fn read_response(s: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let status = head.split(' ').nth(1).unwrap().parse().unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().unwrap())
                })
                .unwrap_or_else(|| panic!("no Content-Length: {head}"));
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).await.unwrap();
                assert!(n > 0, "the body ended early: {head}");
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            return (status, body);
        }
        let n = s.read(&mut chunk).await.unwrap();
        assert!(n > 0, "closed before a response: {buf:?}");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Everything until the peer closes (EOF, or a reset after the data).
async fn read_to_close(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match s.read(&mut chunk).await {
            Ok(0) | Err(_) => return String::from_utf8_lossy(&buf).to_string(),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A fresh connection from 127.0.0.1, one `GET /v1/agent/health`: how long
/// connect, request and response took.
async fn health_latency(to: SocketAddr) -> Duration {
    let started = Instant::now();
    let mut s = TcpStream::connect(to).await.unwrap();
    s.write_all(HEALTH).await.unwrap();
    let (status, body) = read_response(&mut s).await;
    let took = started.elapsed();
    assert_eq!(status, 200, "{body}");
    took
}

/// Whether the server has closed `s` (EOF or reset), without blocking.
/// Data from the server (an HTTP/2 SETTINGS frame) counts as open.
fn closed(s: &TcpStream) -> bool {
    let mut byte = [0u8; 64];
    match s.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(_) => true,
    }
}

/// One flood connection and what it keeps sending.
struct Flood {
    stream: TcpStream,
    /// The bytes a slowloris trickles, one per round; empty for an idle one.
    trickle: &'static [u8],
    /// Whether the trickle starts over when done (header lines) or stops
    /// (the rest of HTTP/2's preface, after which it waits in silence).
    cycle: bool,
    sent: usize,
    closed_after: Option<Duration>,
}

#[tokio::test]
async fn idle_and_slowloris_floods_are_closed_and_normal_requests_still_answer() {
    const IDLE: usize = 5_000;
    const SLOW: usize = 500;
    raise_nofile(IDLE as u64 + SLOW as u64 + 500);
    let dir = tempfile::tempdir().unwrap();
    // The default cap (100 per address) stays on; the flood is spread over
    // 80 source addresses. The idle timeout is long, so the handshake
    // timeout is what must close every flood connection.
    let a = Agent::start_with(
        dir.path(),
        "client { enabled = false }\nlimits {\n  https_handshake_timeout = \"3s\"\n  http_idle_timeout = \"5m\"\n}",
    )
    .await;
    let to = addr(&a);
    let source = |i: usize| Ipv4Addr::new(127, 0, 1, 1 + (i % 80) as u8);

    let opened = Instant::now();
    let mut flood = Vec::with_capacity(IDLE + SLOW);
    for i in 0..IDLE + SLOW {
        let mut stream = connect_from(source(i), to).await;
        // Slowloris: half a request head, then a byte at a time. A fifth
        // of them speak HTTP/2's preface instead, which hyper-util reads
        // before hyper's own header timer starts.
        let (start, trickle, cycle): (&[u8], &'static [u8], bool) = match i {
            _ if i < IDLE => (b"", b"", false),
            _ if i % 5 == 0 => (b"PRI * HTTP/2.0\r\n", b"\r\nSM\r\n\r\n", false),
            _ => (
                b"GET /v1/agent/health HTTP/1.1\r\nHost: drover\r\n",
                b"X-Slow: 1\r\nX-Slower: 2\r\nX-Slowest: 3\r\n",
                true,
            ),
        };
        stream.write_all(start).await.unwrap();
        flood.push(Flood {
            stream,
            trickle,
            cycle,
            sent: 0,
            closed_after: None,
        });
    }
    let open_took = opened.elapsed();

    let mut best = Duration::MAX;
    for _ in 0..5 {
        best = best.min(health_latency(to).await);
    }
    let still_open = flood.iter().filter(|f| !closed(&f.stream)).count();
    eprintln!(
        "opened {IDLE} idle and {SLOW} slowloris connections in {open_took:?}; \
         {still_open} still open; GET /v1/agent/health on a new connection: best of 5 {best:?}"
    );
    assert!(
        best < Duration::from_millis(50),
        "a normal request took {best:?} (best of 5) under the flood"
    );

    // Trickle a byte to each open slowloris every 250 ms, and watch for
    // the server to close every flood connection.
    let deadline = Instant::now() + DEADLINE;
    loop {
        for f in flood.iter_mut().filter(|f| f.closed_after.is_none()) {
            let mut gone = closed(&f.stream);
            let more = f.cycle || f.sent < f.trickle.len();
            if !gone && !f.trickle.is_empty() && more {
                let byte = [f.trickle[f.sent % f.trickle.len()]];
                match f.stream.try_write(&byte) {
                    Ok(_) => f.sent += 1,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => gone = true,
                }
            }
            if gone {
                f.closed_after = Some(opened.elapsed());
            }
        }
        let open = flood.iter().filter(|f| f.closed_after.is_none()).count();
        if open == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{open} of {} flood connections still open after {:?}",
            flood.len(),
            opened.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let slowest = flood.iter().filter_map(|f| f.closed_after).max().unwrap();
    let trickled = flood[IDLE..].iter().map(|f| f.sent).max().unwrap();
    eprintln!(
        "all {} flood connections closed by the server within {slowest:?} of the first connect \
         (slowloris trickled up to {trickled} bytes each)",
        flood.len()
    );
    // And the agent still serves.
    let (status, _, _) = a.get("/v1/status/leader").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn the_connection_over_the_per_client_cap_gets_a_429_and_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(
        dir.path(),
        "client { enabled = false }\nlimits {\n  http_max_conns_per_client = 10\n}",
    )
    .await;
    let to = addr(&a);
    let me = Ipv4Addr::new(127, 0, 0, 2);
    // Ten keep-alive connections, each with a request answered, so the
    // server has certainly counted them.
    let mut open = Vec::new();
    for _ in 0..10 {
        let mut s = connect_from(me, to).await;
        s.write_all(HEALTH).await.unwrap();
        assert_eq!(read_response(&mut s).await.0, 200);
        open.push(s);
    }
    // The eleventh: answered 429 and closed, before it says anything.
    let mut eleventh = connect_from(me, to).await;
    let refused = tokio::time::timeout(DEADLINE, read_to_close(&mut eleventh))
        .await
        .expect("the eleventh connection was neither answered nor closed");
    assert!(
        refused.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{refused:?}"
    );
    assert!(refused.contains("limit is 10"), "{refused:?}");
    assert!(
        refused.contains("limits.http_max_conns_per_client"),
        "{refused:?}"
    );
    // Another address is not affected, and the ten still work.
    let (status, _, _) = a.get("/v1/status/leader").await;
    assert_eq!(status, StatusCode::OK);
    open[0].write_all(HEALTH).await.unwrap();
    assert_eq!(read_response(&mut open[0]).await.0, 200);

    // Close three: three new connections fit again, once the server has
    // seen the closes (it learns of each asynchronously), and no more.
    open.truncate(7);
    for _ in 0..3 {
        open.push(accepted(me, to).await);
    }
    let mut over = connect_from(me, to).await;
    let refused = tokio::time::timeout(DEADLINE, read_to_close(&mut over))
        .await
        .unwrap();
    assert!(refused.starts_with("HTTP/1.1 429 "), "{refused:?}");
}

/// A connection from `from` whose request is answered 200, retried while
/// the server still refuses (429, or a reset) until the deadline.
async fn accepted(from: Ipv4Addr, to: SocketAddr) -> TcpStream {
    let started = Instant::now();
    let mut last = None;
    loop {
        assert!(
            started.elapsed() < DEADLINE,
            "no connection accepted; last status {last:?}"
        );
        let mut s = connect_from(from, to).await;
        // A refused connection may be closed before the request is written.
        if s.write_all(HEALTH).await.is_ok() {
            last = read_status_or_close(&mut s).await;
            if last == Some(200) {
                return s;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The status of a response, or `None` if the server closed first.
async fn read_status_or_close(s: &mut TcpStream) -> Option<u16> {
    let text = tokio::time::timeout(DEADLINE, async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 1024];
        while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        String::from_utf8_lossy(&buf).to_string()
    })
    .await
    .expect("no response and no close");
    text.split(' ').nth(1)?.parse().ok()
}

#[tokio::test]
async fn timeouts_cut_idle_connections_but_not_requests_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let a = Agent::start_with(
        dir.path(),
        "client { enabled = false }\nlimits {\n  https_handshake_timeout = \"1s\"\n  http_idle_timeout = \"1s\"\n}",
    )
    .await;
    let to = addr(&a);
    let (_, _, headers) = a.get("/v1/jobs").await;
    let index: u64 = headers["X-Nomad-Index"].to_str().unwrap().parse().unwrap();
    // A fresh client: no pooled connection the server is about to close.
    let http = reqwest::Client::new();

    // A blocking query parked for 3s, three times both timeouts.
    let blocking = async {
        let started = Instant::now();
        let r = http
            .get(a.url(&format!("/v1/jobs?index={index}&wait=3s")))
            .send()
            .await
            .expect("the blocking query was cut");
        let status = r.status();
        r.text().await.expect("the blocking query's body was cut");
        (status, started.elapsed())
    };
    // An event stream read for 3s: it must not end.
    let stream = async {
        let mut r = http
            .get(a.url("/v1/event/stream?topic=Job"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        let until = Instant::now() + Duration::from_secs(3);
        loop {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return true;
            }
            match tokio::time::timeout(left, r.chunk()).await {
                Err(_) => return true,       // still open, nothing to say
                Ok(Ok(Some(_))) => continue, // a heartbeat
                Ok(Ok(None)) | Ok(Err(_)) => return false,
            }
        }
    };
    // A keep-alive connection after one request: closed once idle.
    let idle = async {
        let mut s = TcpStream::connect(to).await.unwrap();
        s.write_all(HEALTH).await.unwrap();
        assert_eq!(read_response(&mut s).await.0, 200);
        let answered = Instant::now();
        let rest = tokio::time::timeout(DEADLINE, read_to_close(&mut s))
            .await
            .expect("an idle keep-alive connection was never closed");
        assert_eq!(rest, "", "the server sent more on an idle connection");
        answered.elapsed()
    };
    let ((status, waited), stream_open, idle_for) = tokio::join!(blocking, stream, idle);
    eprintln!(
        "blocking query answered after {waited:?}; idle keep-alive closed after {idle_for:?}"
    );
    assert_eq!(status, StatusCode::OK);
    assert!(
        waited >= Duration::from_millis(2900),
        "the blocking query returned after {waited:?}, before its wait"
    );
    assert!(stream_open, "the event stream ended within 3s");
    assert!(
        idle_for >= Duration::from_millis(900),
        "the idle connection was closed after {idle_for:?}, before the idle timeout"
    );
}
