//! One HTTPS connection: look at the first bytes, then the TLS handshake,
//! then HTTP as on a plain listener ([`super::serve`]).
//!
//! A client that speaks plain HTTP to the HTTPS port gets the answer Go's
//! `net/http` server gives (and so Nomad's): `400 Bad Request`, "Client
//! sent an HTTP request to an HTTPS server.", then the connection closes,
//! instead of a TLS alert the client cannot read. A TLS connection starts
//! with a handshake record (byte 0x16); an HTTP/1 request with a method
//! name in capitals.
//!
//! A failed handshake (no certificate, one from another CA, a wrong name)
//! is logged at `warn` with the peer and rustls's reason, so an operator
//! sees why a client or server never joined.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::Watcher;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Notify;

use super::serve::{run_connection, Counted, FirstRequest};

/// What Go's HTTP server writes to a plain-HTTP request on a TLS port.
pub const PLAIN_HTTP_ANSWER: &[u8] =
    b"HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The first byte of a TLS handshake record.
const TLS_HANDSHAKE: u8 = 0x16;
/// How long a plain-HTTP client has to close after the 400.
const LINGER: Duration = Duration::from_secs(1);

/// Writes [`PLAIN_HTTP_ANSWER`] and closes. The request is read first and
/// the client given [`LINGER`] to close, so the close is a FIN after the
/// answer, not a reset (for unread bytes) that could overtake it.
async fn answer_plain_http(mut stream: Counted) {
    let mut sink = [0u8; 8192];
    let _ = stream.read(&mut sink).await;
    let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
    let _ = stream.shutdown().await;
    let _ = tokio::time::timeout(LINGER, async {
        while matches!(stream.read(&mut sink).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// Serves one accepted connection over TLS, to its end.
#[allow(clippy::too_many_arguments)]
pub(super) async fn serve_connection(
    acceptor: tokio_rustls::TlsAcceptor,
    stream: Counted,
    builder: Builder<TokioExecutor>,
    service: FirstRequest<TowerToHyperService<Router>>,
    watcher: Watcher,
    first_request: Arc<Notify>,
    handshake_timeout: Option<Duration>,
    peer: SocketAddr,
) {
    let handshake = async {
        let mut first = [0u8; 1];
        match stream.tcp().peek(&mut first).await {
            Ok(1) => {}
            _ => return None,
        }
        if first[0] != TLS_HANDSHAKE {
            if first[0].is_ascii_uppercase() {
                tracing::debug!(%peer, "plain HTTP on the HTTPS port; answered 400");
                answer_plain_http(stream).await;
            }
            return None;
        }
        match acceptor.accept(stream).await {
            Ok(tls) => Some(tls),
            Err(e) => {
                tracing::warn!(%peer, error = %e, "TLS handshake refused");
                None
            }
        }
    };
    let tls = match handshake_timeout {
        None => handshake.await,
        Some(limit) => match tokio::time::timeout(limit, handshake).await {
            Ok(tls) => tls,
            Err(_) => {
                tracing::debug!(%peer, ?limit, "no TLS handshake within the handshake timeout; closing");
                None
            }
        },
    };
    let Some(tls) = tls else {
        return;
    };
    let conn = builder
        .serve_connection_with_upgrades(TokioIo::new(tls), service)
        .into_owned();
    let conn = watcher.watch(conn);
    run_connection(conn, first_request, handshake_timeout, peer).await;
}
