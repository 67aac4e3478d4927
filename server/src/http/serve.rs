//! The HTTP accept loop, with the connection limits a server holding
//! thousands of parked blocking queries needs, and the ones that keep a
//! connection flood from starving everyone else.
//!
//! `axum::serve` gives no access to hyper's connection settings. Here:
//! - HTTP/1 read buffers are capped at 8 KiB (a parked query's request is a
//!   few hundred bytes, and hyper otherwise grows the buffer to 16 KiB), and
//!   one HTTP/2 connection may carry many concurrent streams, so watchers
//!   can share connections instead of paying for one each (hyper's default
//!   is 200 streams).
//! - Per client IP, at most [`HttpLimits::max_conns_per_client`] open
//!   connections (Nomad's `limits { http_max_conns_per_client }`). One more
//!   is answered `429 Too Many Requests` and closed in the accept loop, with
//!   no task and no hyper connection, as Nomad's `connLimiter` does
//!   (`command/agent/http.go`). A WebSocket keeps its slot after the
//!   upgrade: the count lives in the socket wrapper, not in the task.
//! - A new connection must deliver its first complete request header (or,
//!   over HTTP/2, open its first stream) within
//!   [`HttpLimits::handshake_timeout`]: Nomad's `https_handshake_timeout`,
//!   which Nomad, with TLS on, applies from accept to the first request
//!   byte. hyper-util's protocol sniffing reads the first bytes with no
//!   timer at all, so a socket that never sent stayed open forever; a
//!   slowloris trickling one header byte at a time does not move this
//!   deadline.
//! - Between requests, an HTTP/1 keep-alive connection may sit idle for
//!   [`HttpLimits::idle_timeout`]: hyper's `header_read_timeout`, which in
//!   hyper 1.x starts when hyper waits for the next request head and never
//!   runs while a request is in flight, so a 5-minute blocking query, an
//!   event stream or a log follow is never cut. HTTP/2 connections are
//!   pinged at the same interval and closed when the peer stops answering.
//! - The listener's accept queue is as long as the kernel allows
//!   ([`bind`]), so a burst of connections waits in the queue instead of
//!   having its SYNs dropped and retried a second later.
//!
//! - Over TLS ([`serve_tls`], the agent's `tls` block), each connection's
//!   handshake runs in its own task ([`super::tls_accept`]) within the
//!   handshake timeout, so a slow or hostile handshake never holds up the
//!   accept loop.
//!
//! Shutdown is graceful: the listener stops, connections finish their
//! current request.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;

/// Concurrent HTTP/2 streams per connection: enough for a client that
/// multiplexes every blocking query it holds over one connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100_000;
/// hyper's smallest allowed read buffer.
const READ_BUF: usize = 8 * 1024;
/// How long `accept` waits after an error (out of file descriptors): the
/// pending connection stays in the backlog until a descriptor frees up.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// Repeated warnings (accept errors, refused connections) are logged at
/// most this often, with a count of the ones left out.
const WARN_EVERY: Duration = Duration::from_secs(1);
/// How long an HTTP/2 peer has to answer a keep-alive ping (hyper's default).
const H2_PING_TIMEOUT: Duration = Duration::from_secs(20);
/// The accept queue asked for; Linux silently caps it at
/// `net.core.somaxconn` (4096 by default since 5.4).
const LISTEN_BACKLOG: u32 = 65_535;

/// The connection limits of one HTTP listener: Nomad's agent `limits` block
/// (<https://developer.hashicorp.com/nomad/docs/configuration/limits>), plus
/// Drover's keep-alive idle timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Open connections one client IP may hold (Nomad's
    /// `http_max_conns_per_client`, default 100); 0 means no limit.
    /// Loopback is not exempt, as in Nomad.
    pub max_conns_per_client: u32,
    /// Time from accept to the first complete request header (Nomad's
    /// `https_handshake_timeout`, default 5s, there the TLS handshake's
    /// limit); `None` means no limit.
    pub handshake_timeout: Option<Duration>,
    /// Time an HTTP/1 connection may wait for its next request (and for
    /// that request's header to complete), and the HTTP/2 ping interval;
    /// `None` means no limit. Default 60s: longer than hyper's own 30s
    /// header timeout that applied before, in line with other servers
    /// (nginx 75s), and short enough that a pile of abandoned keep-alive
    /// connections is gone within a minute. Nomad sets none (Go's
    /// `http.Server` keeps idle connections until the client leaves).
    pub idle_timeout: Option<Duration>,
}

impl Default for HttpLimits {
    /// Nomad's defaults, and a 60s idle timeout.
    fn default() -> Self {
        HttpLimits {
            max_conns_per_client: 100,
            handshake_timeout: Some(Duration::from_secs(5)),
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }
}

/// The HTTP listener on `addr`, with the longest accept queue the kernel
/// allows, as Go's `net.Listen` (and so Nomad) gets by reading
/// `net.core.somaxconn`. tokio's `TcpListener::bind` asks for 128 (libc's
/// `SOMAXCONN`): a burst of connections while the accept loop is busy
/// overflowed it, and every dropped SYN cost its client a 1s retransmit.
/// Must be called within a tokio runtime.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // As tokio's `bind` does: a restarted agent can listen again at once
    // while the old sockets sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Serve `router` on `listener` until `shutdown` resolves, then let open
/// connections finish for up to `drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
    limits: HttpLimits,
) {
    serve_tls(listener, router, shutdown, drain, limits, None).await
}

/// [`serve`], over TLS when `tls` is given ([`super::tls_accept`]): the
/// handshake runs in the connection's task, within the handshake timeout.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
    limits: HttpLimits,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(READ_BUF)
        .timer(TokioTimer::new())
        .header_read_timeout(limits.idle_timeout);
    builder
        .http2()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .timer(TokioTimer::new())
        .keep_alive_interval(limits.idle_timeout)
        .keep_alive_timeout(H2_PING_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let clients = ClientTable::new(limits.max_conns_per_client);
    let mut accept_warnings = Throttle::new(WARN_EVERY);
    let mut refusal_warnings = Throttle::new(WARN_EVERY);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    if let Some(suppressed) = accept_warnings.tick(Instant::now()) {
                        tracing::warn!(error = %e, suppressed, "accept failed");
                    }
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let slot = match clients.acquire(peer.ip()) {
            Ok(slot) => slot,
            Err(limit) => {
                refuse(stream, peer, limit);
                if let Some(suppressed) = refusal_warnings.tick(Instant::now()) {
                    tracing::warn!(
                        %peer,
                        limit,
                        suppressed,
                        "too many concurrent HTTP connections from one address; refused (limits.http_max_conns_per_client)"
                    );
                }
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let first_request = Arc::new(Notify::new());
        let service = FirstRequest {
            inner: TowerToHyperService::new(router.clone()),
            seen: first_request.clone(),
        };
        let counted = Counted {
            stream,
            _slot: slot,
        };
        if let Some(acceptor) = &acceptor {
            tokio::spawn(super::tls_accept::serve_connection(
                acceptor.clone(),
                counted,
                builder.clone(),
                service,
                graceful.watcher(),
                first_request,
                limits.handshake_timeout,
                peer,
            ));
            continue;
        }
        let io = TokioIo::new(counted);
        let conn = builder
            .serve_connection_with_upgrades(io, service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(run_connection(
            conn,
            first_request,
            limits.handshake_timeout,
            peer,
        ));
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within {drain:?}");
    }
}

/// Drives one connection to its end, unless `handshake_timeout` passes
/// before its first request: then it is dropped, which closes the socket.
pub(super) async fn run_connection<C, E>(
    conn: C,
    first_request: Arc<Notify>,
    handshake_timeout: Option<Duration>,
    peer: SocketAddr,
) where
    C: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let result = match handshake_timeout {
        None => conn.await,
        Some(timeout) => {
            tokio::pin!(conn);
            tokio::select! {
                result = &mut conn => result,
                first = tokio::time::timeout(timeout, first_request.notified()) => {
                    if first.is_err() {
                        tracing::debug!(%peer, ?timeout, "no complete request within the handshake timeout; closing");
                        return;
                    }
                    conn.await
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

/// Answers a connection over the per-client limit with a 429 and closes
/// it, synchronously: no task, no hyper connection, at most two
/// non-blocking syscalls on a fresh socket whose send buffer is empty.
fn refuse(stream: TcpStream, peer: SocketAddr, limit: u32) {
    let Ok(mut stream) = stream.into_std() else {
        return;
    };
    // Whatever the client already sent is read and dropped, so that the
    // close is a FIN after the response rather than a reset that could
    // overtake it. The std stream is still non-blocking: this never waits.
    let mut sink = [0u8; 4096];
    let _ = stream.read(&mut sink);
    let _ = stream.write(too_many_connections(peer.ip(), limit).as_bytes());
}

/// The 429 response Nomad sends (`connLimiter` in `command/agent/http.go`),
/// naming the address and the limit.
fn too_many_connections(ip: IpAddr, limit: u32) -> String {
    let body = format!(
        "Too many concurrent connections from {ip}: the limit is {limit} per client address (limits.http_max_conns_per_client)\n"
    );
    format!(
        "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// Open connections per client IP. A std mutex: it is held for one map
/// update, never across an await, by the accept loop and connection drops.
struct ClientTable {
    limit: u32,
    open: Mutex<HashMap<IpAddr, u32>>,
}

/// One open connection's place in the [`ClientTable`], given back on drop.
struct ClientSlot {
    table: Arc<ClientTable>,
    ip: IpAddr,
}

impl ClientTable {
    fn new(limit: u32) -> Arc<ClientTable> {
        Arc::new(ClientTable {
            limit,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for one more connection from `ip`, `Ok(None)` when there is no
    /// limit (nothing is counted), or `Err(limit)` when `ip` is at it. An
    /// IPv4 peer on a dual-stack listener counts as its IPv4 address.
    fn acquire(self: &Arc<Self>, ip: IpAddr) -> Result<Option<ClientSlot>, u32> {
        if self.limit == 0 {
            return Ok(None);
        }
        let ip = ip.to_canonical();
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.limit {
            return Err(self.limit);
        }
        *count += 1;
        Ok(Some(ClientSlot {
            table: self.clone(),
            ip,
        }))
    }

    #[cfg(test)]
    fn open(&self, ip: IpAddr) -> u32 {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.get(&ip).copied().unwrap_or(0)
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.table.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

/// The socket with its [`ClientSlot`]: the slot is given back when the
/// socket closes, whether hyper still owns it or a WebSocket took it over.
pub(super) struct Counted {
    stream: TcpStream,
    _slot: Option<ClientSlot>,
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// The router, telling the connection's task when its first request (or
/// HTTP/2 stream) arrived, which ends the handshake deadline.
pub(super) struct FirstRequest<S> {
    inner: S,
    seen: Arc<Notify>,
}

impl Counted {
    /// The socket, to look at the first bytes before TLS takes it.
    pub(super) fn tcp(&self) -> &TcpStream {
        &self.stream
    }
}

impl<S, R> hyper::service::Service<R> for FirstRequest<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, req: R) -> Self::Future {
        // `notify_one` keeps a permit when nobody waits yet.
        self.seen.notify_one();
        self.inner.call(req)
    }
}

/// Lets one of a burst of repeated warnings through per period.
struct Throttle {
    period: Duration,
    last: Option<Instant>,
    suppressed: u64,
}

impl Throttle {
    fn new(period: Duration) -> Throttle {
        Throttle {
            period,
            last: None,
            suppressed: 0,
        }
    }

    /// `Some(n)` when a warning at `now` should be logged, `n` being how
    /// many were held back since the last one; `None` to hold this one back.
    fn tick(&mut self, now: Instant) -> Option<u64> {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) < self.period)
        {
            self.suppressed += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.suppressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttle_lets_one_warning_through_per_period() {
        let mut t = Throttle::new(Duration::from_secs(1));
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(t.tick(t0), Some(0));
        assert_eq!(t.tick(ms(10)), None);
        assert_eq!(t.tick(ms(999)), None);
        assert_eq!(t.tick(ms(1000)), Some(2));
        assert_eq!(t.tick(ms(1500)), None);
        assert_eq!(t.tick(ms(2600)), Some(1));
    }

    #[test]
    fn client_table_counts_per_address_and_frees_on_drop() {
        let table = ClientTable::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let a1 = table.acquire(a).unwrap();
        let a2 = table.acquire(a).unwrap();
        assert_eq!(table.acquire(a).err(), Some(2));
        let b1 = table.acquire(b).unwrap();
        assert_eq!(table.open(a), 2);
        drop(a1);
        assert_eq!(table.open(a), 1);
        let a3 = table.acquire(a).unwrap();
        drop((a2, a3, b1));
        assert_eq!((table.open(a), table.open(b)), (0, 0));
        assert!(
            table.open.lock().unwrap().is_empty(),
            "no empty entries kept"
        );
    }

    #[test]
    fn ipv4_mapped_peers_count_as_ipv4() {
        let table = ClientTable::new(1);
        let _v4 = table.acquire("10.0.0.1".parse().unwrap()).unwrap();
        assert_eq!(
            table.acquire("::ffff:10.0.0.1".parse().unwrap()).err(),
            Some(1)
        );
    }

    #[test]
    fn no_limit_counts_nothing() {
        let table = ClientTable::new(0);
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let slots: Vec<_> = (0..1000).map(|_| table.acquire(ip).unwrap()).collect();
        assert!(slots.iter().all(Option::is_none));
        assert_eq!(table.open(ip), 0);
    }

    #[test]
    fn the_429_is_well_formed_and_names_the_limit() {
        let text = too_many_connections("10.0.0.1".parse().unwrap(), 7);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            head.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
            "{head}"
        );
        assert!(
            head.contains(&format!("Content-Length: {}", body.len())),
            "{head}"
        );
        assert!(head.contains("Connection: close"), "{head}");
        assert!(
            body.contains("10.0.0.1") && body.contains("limit is 7"),
            "{body}"
        );
        assert!(body.contains("limits.http_max_conns_per_client"), "{body}");
    }
}
