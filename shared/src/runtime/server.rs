//! The HTTP server behind every container, Kubernetes pod and the local runner: hyper 1 on a
//! bound listener, with graceful shutdown.
//!
//! hyper is used directly rather than through axum's `serve` because we need its connection
//! knobs (header read timeout, header size) and nothing of axum's routing.

use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

use super::conn::{InService, Served, Tracked};
use super::router::Router;
use super::upgrade::{self, Upgraded};
use crate::config::{Env, RESPONSE_WRITE_TIMEOUT_SECS, SHUTDOWN_GRACE_SECS};

/// What the server's service answers with; boxed so that it is `Unpin` (see `serve`).
type ServiceFuture = Pin<
    Box<
        dyn Future<
                Output = Result<
                    http::Response<Served<crate::http::Body>>,
                    std::convert::Infallible,
                >,
            > + Send,
    >,
>;

/// Connection-level limits of the server.
#[derive(Debug, Clone, Copy)]
pub struct ServeOptions {
    /// How long SIGTERM waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// A slow client gets this long to send its request headers (slowloris guard), counted
    /// from when the connection starts waiting for them (`conn::Tracked`); the connection is
    /// then closed, with a `408` if part of a request had arrived.
    pub header_read_timeout: Duration,
    /// Open connections at most; further clients wait in the listen backlog until one closes,
    /// which bounds memory under a flood of idle connections.
    pub max_connections: usize,
    /// Request line plus headers at most, in bytes; larger heads get hyper's `431`. Without it
    /// hyper accepts heads up to its ~400 KiB read buffer, far beyond what any front end in
    /// front of a function forwards (API Gateway stops at 10 KiB).
    pub max_header_bytes: usize,
    /// A client that stops reading our response (writes stay pending) is cut off after this
    /// long. Streams are not exempt: their keep-alive comments are writes too, and a stalled
    /// reader of a stream holds memory like any other.
    pub write_timeout: Duration,
}

impl Default for ServeOptions {
    /// The variables' defaults (written once, in their `VarSpec`s) and fixed connection limits.
    fn default() -> Self {
        let defaults = Env::default();
        let secs = |var| defaults.duration(var).expect("a variable's default parses");
        ServeOptions {
            shutdown_grace: secs(&SHUTDOWN_GRACE_SECS),
            header_read_timeout: Duration::from_secs(15),
            max_connections: 4096,
            max_header_bytes: 64 * 1024,
            write_timeout: secs(&RESPONSE_WRITE_TIMEOUT_SECS),
        }
    }
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits up to the grace period
/// for in-flight requests to finish before returning.
///
/// # Errors
/// Only if the listener itself fails in a way that is not per-connection.
pub async fn serve(
    listener: TcpListener,
    router: Arc<Router>,
    shutdown: impl Future<Output = ()>,
    options: ServeOptions,
) -> std::io::Result<()> {
    // Connections watch this to start their graceful shutdown (hyper-util's `GracefulShutdown`
    // needs a `'static` connection, and ours borrows its stream; see below).
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let mut builder = http1::Builder::new();
    // No timer for hyper: the head deadline is kept by `Tracked`, one timer per connection
    // rather than one per request (docs/performance.md).
    builder
        .header_read_timeout(None)
        .max_header_size(options.max_header_bytes);
    let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
    let grace = options.shutdown_grace;
    tokio::pin!(shutdown);

    loop {
        let slot = tokio::select! {
            slot = Arc::clone(&slots).acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => break, // never closed; a closed semaphore would mean shutdown
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of file descriptors and similar are per-connection: back off, go on.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without it, Nagle's algorithm holds each small write (an SSE event, a keep-alive
        // comment) until the client acknowledges the previous one, which a delayed ACK puts off
        // by up to 40 ms: streamed answers stuttered on reused connections.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "TCP_NODELAY could not be set");
        }
        let router = Arc::clone(&router);
        // A `101` from a handler leaves its session here for this connection's task.
        let takeover = upgrade::Slot::default();
        let in_service = InService::default();
        let service = {
            let takeover = takeover.clone();
            let in_service = in_service.clone();
            service_fn(move |req: http::Request<Incoming>| {
                let router = Arc::clone(&router);
                let takeover = takeover.clone();
                // hyper calls the service once a head has arrived.
                let guard = in_service.enter();
                // Boxed: hyper hands the connection back (for an upgrade) only to a service
                // whose futures are `Unpin`.
                let answer: ServiceFuture = Box::pin(async move {
                    let mut resp = router.handle(req, peer).await;
                    takeover.keep(&mut resp);
                    Ok(resp.map(|body| Served::new(body, guard)))
                });
                answer
            })
        };
        let mut stop_rx = stop_rx.clone();
        let builder = builder.clone();
        let write_timeout = options.write_timeout;
        let head_timeout = options.header_read_timeout;
        tokio::spawn(async move {
            let mut stream = stream;
            // hyper serves a borrowed stream, so that it is still ours when hyper gives up.
            let mut tracked = Tracked::new(&mut stream, write_timeout, head_timeout, in_service);
            let mut conn = builder.serve_connection(TokioIo::new(&mut tracked), service);
            // Without shutdown: after a `101` the stream is taken back rather than closed.
            // `biased`: the connection first, without drawing a random number on every poll.
            let result = tokio::select! {
                biased;
                result = poll_fn(|cx| conn.poll_without_shutdown(cx)) => result,
                () = async { drop(stop_rx.wait_for(|stop| *stop).await) } => {
                    // Finish the request in flight (if any), then close.
                    Pin::new(&mut conn).graceful_shutdown();
                    poll_fn(|cx| conn.poll_without_shutdown(cx)).await
                }
            };
            if result.is_ok() {
                match takeover.take() {
                    Some(session) => {
                        let parts = conn.into_parts();
                        let io = parts.io.into_inner();
                        io.end_head_deadlines();
                        session(Upgraded::new(parts.read_buf, io, stop_rx)).await;
                    }
                    None => {
                        drop(conn);
                        let _ = tracked.shutdown().await;
                    }
                }
            }
            if let Err(e) = result {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
                if tracked.head_timed_out && tracked.unanswered {
                    // hyper hangs up on a head that never finishes without a word; a client
                    // (or a proxy) deserves to know why.
                    // Bounded like any answer: a client that stopped reading cannot hold the
                    // connection (and its slot) by not taking these bytes.
                    let _ = tokio::time::timeout(write_timeout, async {
                        let _ = stream.write_all(&request_timeout()).await;
                        let _ = stream.shutdown().await;
                    })
                    .await;
                }
            }
            drop(slot);
        });
    }

    drop(listener);
    tracing::info!(
        grace_secs = grace.as_secs_f64(),
        "shutting down: waiting for in-flight requests"
    );
    let _ = stopping.send(true);
    // Every connection holds a slot until it ends: all slots back means all connections done.
    let all = u32::try_from(options.max_connections.max(1)).unwrap_or(u32::MAX);
    if tokio::time::timeout(grace, slots.acquire_many(all))
        .await
        .is_err()
    {
        tracing::warn!("grace period over; dropping the remaining connections");
    }
    Ok(())
}

/// `408` with the one JSON error body, for a client whose request head did not arrive in time.
fn request_timeout() -> Vec<u8> {
    let body = crate::http::error_json(
        &crate::http::ApiError::new(
            http::StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            "the request did not arrive in time",
        ),
        None,
    );
    format!(
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes and Scaleway send before stopping).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Binds `addr`, logging where it listens.
///
/// # Errors
/// The address is in use or not available.
pub async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::CorsConfig;
    use crate::http::{ApiError, Function, Request, Response};
    use http::Method;
    use tokio::sync::Notify;

    /// Signals when a request has reached it, then answers only when released: a request is
    /// in flight for exactly as long as a test wants, with no sleeps.
    #[derive(Default)]
    struct Slow {
        entered: Arc<Notify>,
        release: Arc<Notify>,
    }
    impl Function for Slow {
        const NAME: &'static str = "slow";
        const METHODS: &'static [Method] = &[Method::GET];
        type Error = ApiError;
        fn from_context(_: &crate::context::Context) -> Result<Self, crate::config::ConfigError> {
            Ok(Slow::default())
        }
        async fn call(&self, _req: Request) -> Result<Response, ApiError> {
            self.entered.notify_one();
            self.release.notified().await;
            Ok(Response::new("done".into()))
        }
    }

    async fn raw_get(addr: std::net::SocketAddr) -> std::io::Result<String> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await?;
        let mut out = String::new();
        s.read_to_string(&mut out).await?;
        Ok(out)
    }

    struct Running {
        addr: std::net::SocketAddr,
        stop: tokio::sync::oneshot::Sender<()>,
        server: tokio::task::JoinHandle<std::io::Result<()>>,
        entered: Arc<Notify>,
        release: Arc<Notify>,
    }

    /// Serves [`Slow`] on a free port; sending on (or dropping) `stop` stops it.
    async fn start(options: ServeOptions) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cors = CorsConfig {
            origins: vec![],
            allow_localhost: false,
        };
        let slow = Slow::default();
        let (entered, release) = (Arc::clone(&slow.entered), Arc::clone(&slow.release));
        let router = Arc::new(Router::single(Arc::new(slow), cors));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router,
            async { drop(stopped.await) },
            options,
        ));
        Running {
            addr,
            stop,
            server,
            entered,
            release,
        }
    }

    #[tokio::test]
    async fn shutdown_finishes_in_flight_requests_then_stops_accepting() {
        let run = start(ServeOptions::default()).await;
        let in_flight = tokio::spawn(raw_get(run.addr));
        run.entered.notified().await;
        run.stop.send(()).unwrap();
        // Shutdown has begun with the request inside the handler; only now may it finish.
        run.release.notify_one();
        let answer = in_flight.await.unwrap().unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") && answer.ends_with("done"),
            "{answer}"
        );
        tokio::time::timeout(Duration::from_secs(5), run.server)
            .await
            .expect("the server stops once the request is done")
            .unwrap()
            .unwrap();
        assert!(
            raw_get(run.addr).await.is_err(),
            "still accepting after shutdown"
        );
    }

    #[tokio::test]
    async fn a_request_head_over_the_limit_is_refused_with_431() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let options = ServeOptions {
            max_header_bytes: 16 * 1024,
            ..Default::default()
        };
        let run = start(options).await;
        let addr = run.addr;
        // Only the request under the limit reaches the handler: let it answer at once.
        run.release.notify_one();
        for (size, status) in [(8 * 1024, "200"), (20 * 1024, "431")] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\nconnection: close\r\n\r\n",
                "a".repeat(size)
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            assert!(
                out.starts_with(&format!("HTTP/1.1 {status}")),
                "{size} bytes: {out}"
            );
        }
    }

    #[tokio::test]
    async fn the_grace_period_bounds_shutdown() {
        let grace = Duration::from_millis(200);
        let run = start(ServeOptions {
            shutdown_grace: grace,
            ..Default::default()
        })
        .await;
        let _in_flight = tokio::spawn(raw_get(run.addr));
        run.entered.notified().await;
        // The handler is never released: only the grace period can end the shutdown.
        let started = std::time::Instant::now();
        run.stop.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(10), run.server)
            .await
            .expect("shutdown ends at the grace period, not when the handler does")
            .unwrap()
            .unwrap();
        assert!(started.elapsed() >= grace, "{:?}", started.elapsed());
    }
}
