//! The HTTP accept loop: hyper with a header read timeout, header limits and graceful shutdown.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires and a client that sends its headers one
//! byte a minute would hold a connection forever. This loop sets one, and gives a client that sends nothing at all
//! the same time to start.

use std::future::Future;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tower::ServiceExt;

use crate::header_limits::{HYPER_MAX_HEADERS, MAX_HEADER_BYTES};
use crate::startup::NormalizedRouter;

/// HTTP/2 limit on the header list (each field counted with 32 bytes of overhead), above the middleware's limit so
/// that the middleware sends its JSON error.
const HYPER_MAX_HEADER_LIST: u32 = (2 * MAX_HEADER_BYTES) as u32;

/// Serves `app` until `shutdown` completes, then gives open connections `grace` to finish their requests. A client
/// gets `header_timeout` to send a request's headers.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: NormalizedRouter,
    shutdown: impl Future<Output = ()>,
    grace: Duration,
    header_timeout: Duration,
) {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(HYPER_MAX_HEADER_LIST);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);

    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(error) => {
                    // Running out of file descriptors is the usual cause; pausing lets connections close.
                    tracing::warn!(error = %error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);

        let service = app
            .clone()
            .map_request(|request: hyper::Request<Incoming>| request.map(Body::new));
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            if !first_byte_within(&stream, header_timeout).await {
                return;
            }
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            if let Err(error) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(error = %error, "connection closed with an error");
            }
        });
    }

    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("requests still in flight after the shutdown timeout were cut off"),
    }
}

/// Waits until the client sends its first byte, for at most `timeout`; false when it closed or stayed silent.
///
/// hyper's header read timeout starts only once the connection is handed to HTTP/1. The automatic HTTP/1 or HTTP/2
/// detection before that waits for bytes without a limit, so a client that connects and sends nothing would keep its
/// connection, and a file descriptor, forever.
async fn first_byte_within(stream: &tokio::net::TcpStream, timeout: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(timeout, stream.peek(&mut first)).await,
        Ok(Ok(read)) if read > 0
    )
}
