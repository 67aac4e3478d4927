//! The HTTP accept loop, with the connection limits a server holding
//! thousands of parked blocking queries needs.
//!
//! `axum::serve` gives no access to hyper's connection settings. Here:
//! HTTP/1 read buffers are capped at 8 KiB (a parked query's request is a
//! few hundred bytes, and hyper otherwise grows the buffer to 16 KiB), and
//! one HTTP/2 connection may carry many concurrent streams, so watchers can
//! share connections instead of paying for one each (hyper's default is
//! 200 streams). Shutdown is graceful: the listener stops, connections finish
//! their current request.

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

/// Concurrent HTTP/2 streams per connection: enough for a client that
/// multiplexes every blocking query it holds over one connection.
pub const MAX_STREAMS_PER_CONNECTION: u32 = 100_000;
/// hyper's smallest allowed read buffer.
const READ_BUF: usize = 8 * 1024;

/// Serve `router` on `listener` until `shutdown` resolves, then let open
/// connections finish for up to `drain`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()>,
    drain: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .max_buf_size(READ_BUF)
        .timer(TokioTimer::new());
    builder
        .http2()
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .timer(TokioTimer::new());
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: back off, keep serving.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within {drain:?}");
    }
}
