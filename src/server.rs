//! The HTTP accept loop: hyper with a header read timeout, header limits and graceful shutdown.
//!
//! `axum::serve` sets no timer, so hyper's header read timeout never fires and a client that sends its headers one
//! byte a minute would hold a connection forever. This loop sets one, and gives a client that sends nothing at all
//! the same time to start. A connection whose client has sent nothing for that time is shut down gracefully, which
//! closes idle HTTP/2 connections too.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
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
    // A client that does not acknowledge a ping in time is disconnected. One that acknowledges pings but sends
    // nothing else is shut down by `stop_or_idle`.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(header_timeout))
        .keep_alive_timeout(header_timeout)
        .max_header_list_size(HYPER_MAX_HEADER_LIST);
    // Each connection task owns a receiver, so the sender's `closed()` completes once every task has ended.
    let (stopping, stop_watch) = watch::channel(false);
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
        let (builder, mut stop_watch) = (builder.clone(), stop_watch.clone());
        tokio::spawn(async move {
            if !first_byte_within(&stream, header_timeout).await {
                return;
            }
            let (stream, read_clock) = ReadTracked::new(stream);
            let connection = builder.serve_connection_with_upgrades(
                TokioIo::new(stream),
                TowerToHyperService::new(service),
            );
            let mut connection = std::pin::pin!(connection);

            // On a stop or an idle client, requests in flight finish and the connection then closes.
            let mut shutting_down = false;
            let result = loop {
                tokio::select! {
                    result = connection.as_mut() => break result,
                    () = stop_or_idle(&mut stop_watch, &read_clock, header_timeout), if !shutting_down => {
                        connection.as_mut().graceful_shutdown();
                        shutting_down = true;
                    }
                }
            };
            if let Err(error) = result {
                tracing::debug!(error = %error, "connection closed with an error");
            }
        });
    }

    drop(listener);
    drop(stop_watch);
    let _ = stopping.send(true);
    tokio::select! {
        () = stopping.closed() => {}
        () = tokio::time::sleep(grace) => tracing::warn!("requests still in flight after the shutdown timeout were cut off"),
    }
}

/// Completes when the server stops or when the client has sent nothing for `idle_timeout`.
///
/// hyper closes an idle HTTP/1 connection by itself, because its header read timeout also runs between requests. An
/// HTTP/2 connection has no such timer, so a client that acknowledges hyper's pings would keep it open forever.
async fn stop_or_idle(
    stop_watch: &mut watch::Receiver<bool>,
    read_clock: &ReadClock,
    idle_timeout: Duration,
) {
    tokio::select! {
        _ = stop_watch.wait_for(|stop| *stop) => {}
        () = read_clock.idle_for(idle_timeout) => {}
    }
}

/// Waits until the client sends its first byte, for at most `timeout`; false when it closed or stayed silent.
///
/// hyper's header read timeout starts only once the connection is handed to HTTP/1. The automatic HTTP/1 or HTTP/2
/// detection before that waits for bytes without a limit, so a client that connects and sends nothing would keep its
/// connection, and a file descriptor, forever.
async fn first_byte_within(stream: &TcpStream, timeout: Duration) -> bool {
    let mut first = [0u8; 1];
    matches!(
        tokio::time::timeout(timeout, stream.peek(&mut first)).await,
        Ok(Ok(read)) if read > 0
    )
}

/// The time of the last bytes read from a client.
struct ReadClock {
    start: Instant,
    last_read_ms: AtomicU64,
}

impl ReadClock {
    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_read_ms.store(now, Ordering::Relaxed);
    }

    /// Completes once nothing has been read for `timeout`.
    async fn idle_for(&self, timeout: Duration) {
        loop {
            let last_read = Duration::from_millis(self.last_read_ms.load(Ordering::Relaxed));
            let deadline = self.start + last_read + timeout;
            if Instant::now() >= deadline {
                return;
            }
            tokio::time::sleep_until(deadline.into()).await;
        }
    }
}

/// A TCP stream that records on its `ReadClock` when bytes arrive.
struct ReadTracked {
    stream: TcpStream,
    clock: Arc<ReadClock>,
}

impl ReadTracked {
    fn new(stream: TcpStream) -> (Self, Arc<ReadClock>) {
        let clock = Arc::new(ReadClock {
            start: Instant::now(),
            last_read_ms: AtomicU64::new(0),
        });
        (
            Self {
                stream,
                clock: clock.clone(),
            },
            clock,
        )
    }
}

impl AsyncRead for ReadTracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.touch();
        }
        polled
    }
}

impl AsyncWrite for ReadTracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
