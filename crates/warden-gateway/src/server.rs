//! Accepting connections and speaking HTTP on them: HTTP/1.1, and HTTP/2
//! with prior knowledge, on one listener, until shutdown; then in-flight
//! requests drain. A connection that takes longer than `[server]
//! header_timeout` to send a request's head (its first bytes included), or
//! sits idle that long between requests, is closed: slow-header clients
//! cannot hold connections open.
//!
//! Written here rather than taken from `axum::serve` for one reason: memory
//! per connection. `axum::serve` uses hyper-util's auto builder, which reads
//! a connection's first bytes to tell HTTP/2's preface from an HTTP/1
//! request and hands them back through a wrapper. hyper's first read then
//! returns only those bytes, its read buffer has to grow for the rest, and
//! every connection keeps 16 KiB of read buffer instead of 8 KiB from its
//! first request on (measured with heaptrack: 26.4 KB per answered
//! keep-alive connection). Here the first bytes are peeked, left in the
//! socket, and hyper reads the whole request with its first read.

use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tower::Service as _;

/// HTTP/2 with prior knowledge starts with this preface's first bytes; an
/// HTTP/1 request never does ("PRI" is no method anyone serves).
const H2_START: &[u8] = b"PRI";

/// Serves `app` on `listener` (each request carries its peer's
/// `ConnectInfo<SocketAddr>`) until `stop` is cancelled; then stops
/// accepting, lets each connection finish the request it is serving, and
/// returns once all have closed. `header_timeout`: see the module doc.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    stop: CancellationToken,
    header_timeout: Duration,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.cancelled() => break,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                // Out of file descriptors or memory: wait instead of
                // spinning; connections already open carry on.
                tracing::error!(error = %e, "cannot accept a connection; retrying in 1 s");
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    () = stop.cancelled() => break,
                }
            }
        };
        let _ = tcp.set_nodelay(true);
        // Subscribed before the task starts, so a shutdown that begins while
        // it sniffs still waits for it.
        let watcher = graceful.watcher();
        let (app, stop) = (app.clone(), stop.clone());
        tokio::spawn(async move {
            let h2 = tokio::select! {
                h2 = sniff(&tcp, header_timeout) => h2,
                () = stop.cancelled() => None,
            };
            let Some(h2) = h2 else {
                return;
            };
            let service =
                hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                    request.extensions_mut().insert(ConnectInfo(peer));
                    app.clone().call(request)
                });
            let io = TokioIo::new(tcp);
            let served = if h2 {
                let conn = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(io, service);
                watcher.watch(conn).await
            } else {
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .serve_connection(io, service);
                watcher.watch(conn).await
            };
            if let Err(e) = served {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Whether the client speaks HTTP/2 with prior knowledge, from its first
/// bytes, peeked (left in the socket). `None`: it closed, failed, or sent
/// none of them, or only part, within `within`.
async fn sniff(tcp: &TcpStream, within: Duration) -> Option<bool> {
    let deadline = tokio::time::Instant::now() + within;
    let mut first = [0u8; H2_START.len()];
    loop {
        let n = tokio::time::timeout_at(deadline, tcp.peek(&mut first))
            .await
            .ok()?
            .ok()?;
        if n == 0 {
            return None;
        }
        if first[..n] != H2_START[..n] {
            return Some(false);
        }
        if n == first.len() {
            return Some(true);
        }
        // "P" or "PR" so far (POST, PUT, PATCH, or the preface): peek
        // returns at once while those bytes wait, so wait a little for more.
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Errors that concern one connection, not the listener: the next accept
/// may well succeed.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    )
}
