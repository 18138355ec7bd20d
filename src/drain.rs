//! Reading the unread rest of a request body before the response goes out.
//!
//! A handler that responds early (401, 403, 429, a 400 on the headers) leaves the body unread. If the server then
//! closes the connection, a client that is still sending gets a reset instead of the response: Node's `fetch`, which
//! `@prismicio/client` uses, reports `EPIPE` and never receives the 429 it would retry. So every request body the handler
//! did not finish is read and discarded, within a byte and a time budget, before the response is returned.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::BodyExt;

/// Maximum time spent draining one body.
const MAX_DRAIN_TIME: Duration = Duration::from_secs(5);
/// Maximum pause of the client tolerated while draining.
const DRAIN_IDLE: Duration = Duration::from_secs(1);

/// Byte budget for draining, shared by every request.
#[derive(Clone, Copy)]
pub struct DrainBudget(pub u64);

/// Drains what the handler left of the request body; see the module documentation.
pub async fn drain_unread_body(State(budget): State<DrainBudget>, request: Request, next: Next) -> Response {
    let slot: Arc<Mutex<Option<Body>>> = Arc::default();
    let (parts, body) = request.into_parts();
    let tracked = ReturningBody { inner: Some(body), slot: slot.clone() };
    let request = Request::from_parts(parts, Body::new(tracked));

    let response = next.run(request).await;

    let leftover = slot.lock().map(|mut slot| slot.take()).unwrap_or(None);
    if let Some(body) = leftover {
        drain(body, budget.0).await;
    }
    response
}

async fn drain(mut body: Body, max_bytes: u64) {
    let deadline = tokio::time::Instant::now() + MAX_DRAIN_TIME;
    let mut drained: u64 = 0;
    while drained <= max_bytes && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(DRAIN_IDLE, body.frame()).await {
            Ok(Some(Ok(frame))) => drained += frame.data_ref().map_or(0, |data| data.len() as u64),
            _ => return,
        }
    }
}

/// A request body that hands itself back through `slot` when dropped before its end.
struct ReturningBody {
    inner: Option<Body>,
    slot: Arc<Mutex<Option<Body>>>,
}

impl HttpBody for ReturningBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        match self.inner.as_mut() {
            Some(inner) => Pin::new(inner).poll_frame(context),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(|inner| inner.is_end_stream())
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.as_ref().map_or_else(|| SizeHint::with_exact(0), |inner| inner.size_hint())
    }
}

impl Drop for ReturningBody {
    fn drop(&mut self) {
        let Some(inner) = self.inner.take() else {
            return;
        };
        if inner.is_end_stream() {
            return;
        }
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(inner);
        }
    }
}
