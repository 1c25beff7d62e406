//! The HTTP server loop: accepts connections, serves the router on each with hyper, bounds
//! how long a client may take to send a request, and shuts down gracefully.
//!
//! Why not `axum::serve`: it builds hyper's connection without a timer, so hyper's header
//! read timeout never applies, and nothing bounds how long a request body may take. A client
//! that sends a few bytes and then nothing (slowloris) would then hold its connection, its
//! task and its buffers for ever, and a few thousand such clients hold the server. Here:
//!
//! - hyper's header read timeout, with tokio's timer, closes a connection whose request line
//!   and headers have not all arrived in time. hyper starts it whenever it waits for a request,
//!   so it also closes a kept-alive connection that has sat idle that long;
//! - a deadline on the whole request body, from the first read of it: a body still incomplete
//!   then is answered `408 Request Timeout` and the connection closed. The deadline is not
//!   reset by each byte that arrives (unlike tower-http's `RequestBodyTimeout`), so a client
//!   that trickles its body a byte at a time gets no longer than one that sends nothing.
//!
//! HTTP/1.1 only, as before (`hyper::server::conn::http1`): hyper-util's `auto` builder would
//! compile an HTTP/2 stack that latchkey, behind its reverse proxy, does not use.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use hyper::body::{Bytes, Frame, Incoming, SizeHint};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tower::ServiceExt;

/// How long the server waits for clients.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// From the moment the server waits for a request until its headers have all arrived.
    pub header_read_timeout: Duration,
    /// From the first read of a request body until all of it has arrived. Bodies are at most
    /// [`crate::MAX_BODY_BYTES`]; any client can send that in well under a second.
    pub body_read_timeout: Duration,
    /// After the shutdown signal, how long requests in flight may take to finish before their
    /// connections are dropped.
    pub shutdown_grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then stops accepting, lets the
/// requests in flight finish (up to [`ServeOptions::shutdown_grace`]) and returns. Handlers
/// see the peer address as `ConnectInfo<SocketAddr>`, as with axum's
/// `into_make_service_with_connect_info`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(connection) => connection,
                Err(e) if is_per_connection(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, most likely: accepting again at once would
                    // spin. Connections already open keep being served meanwhile.
                    tracing::error!(error = %e, "cannot accept connections; retrying in a second");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let router = router.clone();
        let body_read_timeout = options.body_read_timeout;
        let service = hyper::service::service_fn(move |request: Request<Incoming>| {
            handle(router.clone(), peer, body_read_timeout, request)
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                // Timeouts and clients that go away: routine, and chosen by the client.
                tracing::debug!(error = %e, %peer, "connection closed with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(options.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?options.shutdown_grace,
            "requests still in flight after the shutdown grace period were dropped"
        );
    }
    Ok(())
}

/// Errors that concern one connection only: the next accept works.
fn is_per_connection(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

async fn handle(
    router: Router,
    peer: SocketAddr,
    body_read_timeout: Duration,
    request: Request<Incoming>,
) -> Result<Response, Infallible> {
    let timed_out = Arc::new(AtomicBool::new(false));
    let mut request = request.map(|body| {
        Body::new(DeadlineBody {
            inner: body,
            timeout: body_read_timeout,
            deadline: None,
            timed_out: timed_out.clone(),
        })
    });
    request.extensions_mut().insert(ConnectInfo(peer));
    let response = router.oneshot(request).await?;
    if timed_out.load(Ordering::Acquire) {
        // Whatever the handler made of a body that failed half way, the client is told it
        // was too slow, and the connection (holding the rest of the body) is closed.
        let mut response = (
            StatusCode::REQUEST_TIMEOUT,
            "The request body did not arrive in time.\n",
        )
            .into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        return Ok(response);
    }
    Ok(response)
}

/// The request body, failing once it has taken longer than `timeout` since it was first read.
struct DeadlineBody<B> {
    inner: B,
    timeout: Duration,
    /// Set at the first read that has to wait.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    timed_out: Arc<AtomicBool>,
}

#[derive(Debug)]
struct BodyTimedOut;

impl std::fmt::Display for BodyTimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimedOut {}

impl<B> hyper::body::Body for DeadlineBody<B>
where
    B: hyper::body::Body<Data = Bytes> + Unpin,
    B::Error: Into<axum::BoxError>,
{
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            return Poll::Ready(frame.map(|result| result.map_err(Into::into)));
        }
        let timeout = this.timeout;
        let deadline = this
            .deadline
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        if deadline.as_mut().poll(cx).is_ready() {
            this.timed_out.store(true, Ordering::Release);
            return Poll::Ready(Some(Err(Box::new(BodyTimedOut))));
        }
        Poll::Pending
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
