//! Admission before work: what a request may cost is decided from its
//! headers, before its body is read.
//!
//! - **Connections**: at most `max_connections` at once; the next one is
//!   closed as soon as it is accepted. Headers must arrive within
//!   `header_timeout_secs` (hyper's header read timeout), so idle and
//!   slow-loris connections are closed.
//! - **Bytes in flight**: every request with a body reserves its declared
//!   length (or the body limit, when it declares none) from a budget of
//!   `max_inflight_body_bytes`; when the budget is spent the answer is 503
//!   with `Retry-After` at once, unread.
//! - **Inference**: a request for a route that runs the models is answered
//!   503 at once, unread, while the inference pool and its queue are full.
//!
//! Authentication is decided from the headers too (see [`crate::auth`]).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::AppState;
use crate::error::ApiError;

/// Route suffixes whose handlers run the models.
const INFERENCE_ROUTES: [&str; 6] = [
    "/detect",
    "/embed",
    "/compare",
    "/faces",
    "/identify",
    "/verify",
];

/// Answers a request whose body will not be used, at once, and reads and
/// drops up to `cap` bytes of that body in the background (within
/// `within`): a client still sending then gets the answer instead of a
/// reset connection, and no byte of the body is kept.
pub fn answer_unread(
    body: axum::body::Body,
    cap: usize,
    within: std::time::Duration,
    response: Response,
) -> Response {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(within, drain(body, cap)).await;
    });
    response
}

/// Reads and drops up to `cap` bytes of `body`, one frame at a time.
async fn drain(mut body: axum::body::Body, cap: usize) {
    use http_body_util::BodyExt;
    let mut read = 0;
    while read < cap {
        match body.frame().await {
            Some(Ok(frame)) => read += frame.data_ref().map_or(0, |d| d.len()),
            _ => break,
        }
    }
}

/// Middleware on `/v1`, after authentication: reserves the body's bytes
/// and turns inference away while the pool is full, before the body is read.
pub async fn admit(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    let limits = &state.config.limits;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let has_body = declared.is_some_and(|n| n > 0)
        || (declared.is_none() && req.headers().contains_key(header::TRANSFER_ENCODING));
    // Refused unread: the body is drained (up to a little over the limit)
    // only so that the client sees the answer.
    let refuse = |req: Request, error: ApiError| {
        answer_unread(
            req.into_body(),
            limits.max_body_bytes + (1 << 20),
            std::time::Duration::from_secs_f64(limits.request_timeout_secs),
            error.into_response(),
        )
    };
    if let Some(n) = declared.filter(|&n| n > limits.max_body_bytes as u64) {
        let error = ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "the body declares {n} bytes; the limit is {}",
                limits.max_body_bytes
            ),
        );
        return refuse(req, error);
    }
    let inference = req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|p| INFERENCE_ROUTES.iter().any(|r| p.as_str().ends_with(r)));
    if inference && state.pool.is_full() {
        state.metrics.rejected.inc();
        return refuse(req, ApiError::overloaded(limits.retry_after_secs));
    }
    let reserved = if has_body {
        // Fits in u32: bounded by max_body_bytes, checked above.
        let bytes = declared.map_or(limits.max_body_bytes as u64, |n| n);
        let units = u32::try_from(bytes.div_ceil(1024)).unwrap_or(u32::MAX);
        match state.body_budget.clone().try_acquire_many_owned(units) {
            Ok(permit) => Some(permit),
            Err(_) => {
                state.metrics.rejected.inc();
                return refuse(req, ApiError::overloaded(limits.retry_after_secs));
            }
        }
    } else {
        None
    };
    let response = next.run(req).await;
    // The body and everything decoded from it are gone once answered.
    drop(reserved);
    response
}

/// The body budget: `bytes` in units of 1 KiB (a semaphore counts u32 permits).
pub fn body_budget(bytes: usize) -> Arc<Semaphore> {
    Arc::new(Semaphore::new((bytes / 1024).max(1)))
}

/// Accepts at most as many connections as it has permits; each stream
/// holds its permit until it is closed.
#[derive(Clone)]
pub struct ConnectionLimit<A> {
    inner: A,
    permits: Arc<Semaphore>,
}

impl<A> ConnectionLimit<A> {
    /// `inner` (plain or TLS) with at most `max` open connections.
    pub fn new(inner: A, max: usize) -> Self {
        Self {
            inner,
            permits: Arc::new(Semaphore::new(max.max(1))),
        }
    }
}

impl<A, I, S> Accept<I, S> for ConnectionLimit<A>
where
    A: Accept<Counted<I>, S> + Clone + Send + 'static,
    A::Future: Send,
    I: Send + 'static,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future =
        Pin<Box<dyn std::future::Future<Output = std::io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let permit = self.permits.clone().try_acquire_owned();
        let inner = self.inner.clone();
        Box::pin(async move {
            let Ok(permit) = permit else {
                // Dropping the stream closes it.
                return Err(std::io::Error::other("connection limit reached"));
            };
            inner
                .accept(
                    Counted {
                        stream,
                        _permit: permit,
                    },
                    service,
                )
                .await
        })
    }
}

/// A connection that returns its permit when closed.
pub struct Counted<I> {
    stream: I,
    _permit: OwnedSemaphorePermit,
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
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
}
