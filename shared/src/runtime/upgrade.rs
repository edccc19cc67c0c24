//! HTTP/1.1 upgrades (the WebSocket at `/api/ws`) on the HTTP server: how a mounted handler
//! takes over its connection once it has answered `101 Switching Protocols`.
//!
//! A handler answers with [`switching_protocols`], which carries a [`Session`] in the
//! response's extensions. The server sees it, lets hyper write the `101`, takes the connection
//! back from hyper and runs the session on it **inside the connection's own task**:
//!
//! - the connection keeps its slot (`ServeOptions::max_connections` still bounds open sockets),
//! - the write deadline (`RESPONSE_WRITE_TIMEOUT_SECS`) still cuts off a peer that stops
//!   reading, and
//! - graceful shutdown reaches the session ([`Upgraded::shutdown`]) and the grace period
//!   bounds it, as for any request in flight.
//!
//! Why not hyper's own `with_upgrades`: it needs a `'static` connection, and ours is a
//! borrowed stream (`conn::Tracked`, so that the server can still answer `408` on it after
//! hyper gives up). hyper's manual mode (`poll_without_shutdown` + `into_parts`) hands the
//! stream back instead, with any bytes it read past the request.
//!
//! Only the HTTP server upgrades: Lambda and the Scaleway Functions zips buffer whole
//! responses, so nothing mounted there may answer `101`.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http::{HeaderMap, StatusCode, header};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::watch;

use crate::config::CorsConfig;
use crate::http::{ApiError, Body, BoxFuture, Response, error_response};

/// What runs on a connection after its `101`: the protocol the client switched to.
pub type Session = Box<dyn for<'a> FnOnce(Upgraded<'a>) -> BoxFuture<'a, ()> + Send>;

/// A `101 Switching Protocols` with `headers` (the protocol's own, e.g. `Upgrade` and
/// `Sec-WebSocket-Accept`) that hands the connection to `session` once written.
pub fn switching_protocols(headers: HeaderMap, session: Session) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    *resp.headers_mut() = headers;
    // `http::Extensions` wants `Clone + Sync`: the session goes in a shared cell, taken once.
    resp.extensions_mut()
        .insert(Takeover(Arc::new(Mutex::new(Some(session)))));
    resp
}

#[derive(Clone)]
struct Takeover(Arc<Mutex<Option<Session>>>);

/// One connection's session, if a response on it switched protocols. Shared between the
/// connection's service (which sees the response) and its task (which runs the session).
#[derive(Clone, Default)]
pub(crate) struct Slot(Arc<Mutex<Option<Session>>>);

impl Slot {
    /// Moves the session out of a `101` response into this slot. Any other response leaves it.
    pub(crate) fn keep(&self, resp: &mut Response) {
        if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
            return;
        }
        let Some(Takeover(cell)) = resp.extensions_mut().remove::<Takeover>() else {
            return;
        };
        let session = cell.lock().unwrap_or_else(PoisonError::into_inner).take();
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = session;
    }

    pub(crate) fn take(&self) -> Option<Session> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A browser sends `Origin` with every WebSocket handshake and, unlike `fetch`, does not
/// enforce CORS on the answer: the server must refuse other sites' pages itself. A request
/// asking to upgrade with an `Origin` outside the allow-list gets `403` before any handler
/// sees it. No `Origin` (a non-browser client) is not a cross-site page and passes.
pub(crate) fn refuse_cross_origin(headers: &HeaderMap, cors: &CorsConfig) -> Option<Response> {
    if !headers.contains_key(header::UPGRADE) {
        return None;
    }
    let origin = headers.get(header::ORIGIN)?;
    if origin.to_str().is_ok_and(|o| cors.allows(o)) {
        return None;
    }
    tracing::info!(status = 403, "access: upgrade from an origin not allowed");
    Some(error_response(
        &ApiError::new(
            StatusCode::FORBIDDEN,
            "origin_not_allowed",
            "this origin may not open a connection here (ALLOWED_ORIGINS)",
        ),
        None,
    ))
}

/// The connection after `101`: the client's bytes (first any hyper had already read) and ours.
pub struct Upgraded<'a> {
    read_ahead: Bytes,
    io: &'a mut (dyn Io + Send + 'a),
    stop: watch::Receiver<bool>,
}

/// The stream under an upgraded connection (`conn::Tracked` on the server).
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin {
    fn set_send_buffer(&self, bytes: usize) -> io::Result<()>;
}

impl Io for super::conn::Tracked<'_> {
    fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        socket2::SockRef::from(self.socket()).set_send_buffer_size(bytes)
    }
}

impl std::fmt::Debug for Upgraded<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgraded")
            .field("read_ahead", &self.read_ahead.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Upgraded<'a> {
    pub(crate) fn new(
        read_ahead: Bytes,
        io: &'a mut (dyn Io + Send + 'a),
        stop: watch::Receiver<bool>,
    ) -> Self {
        Upgraded {
            read_ahead: own(read_ahead),
            io,
            stop,
        }
    }

    /// Caps what the kernel holds for this connection's unsent bytes. Linux's autotuning
    /// lets a socket whose peer stopped reading hold up to `net.ipv4.tcp_wmem`'s maximum
    /// (4 MB by default) outside any bound the session keeps; a long-lived connection that
    /// sends little wants a small fixed buffer instead.
    ///
    /// # Errors
    /// The option could not be set (the session may go on with the kernel's default).
    pub fn set_send_buffer(&self, bytes: usize) -> io::Result<()> {
        self.io.set_send_buffer(bytes)
    }

    /// Resolves when the server starts shutting down (SIGTERM): say goodbye and end the
    /// session within the grace period.
    pub fn shutdown(&self) -> Shutdown {
        Shutdown(self.stop.clone())
    }
}

/// hyper's read-ahead is a view into its whole read buffer (8 KiB or more): keep only the bytes,
/// so that a long-lived connection does not hold the buffer.
fn own(read_ahead: Bytes) -> Bytes {
    if read_ahead.is_empty() {
        Bytes::new()
    } else {
        Bytes::copy_from_slice(&read_ahead)
    }
}

/// See [`Upgraded::shutdown`].
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// Resolves once shutdown has begun (at once if it already has).
    pub async fn requested(&mut self) {
        // A dropped sender means the server is gone: that is shutdown too.
        drop(self.0.wait_for(|stop| *stop).await);
    }
}

impl AsyncRead for Upgraded<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.read_ahead.has_remaining() {
            let n = this.read_ahead.len().min(buf.remaining());
            buf.put_slice(&this.read_ahead[..n]);
            this.read_ahead.advance(n);
            if this.read_ahead.is_empty() {
                this.read_ahead = Bytes::new();
            }
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut *this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Upgraded<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().io).poll_write(cx, data)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Function, Request};
    use crate::runtime::Router;
    use crate::runtime::server::{ServeOptions, serve};
    use http::Method;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Switches to a line protocol: echoes what it reads, says "bye" at shutdown.
    struct Echo;
    impl Function for Echo {
        const NAME: &'static str = "echo";
        const METHODS: &'static [Method] = &[Method::GET];
        type Error = ApiError;
        fn from_context(_: &crate::context::Context) -> Result<Self, crate::config::ConfigError> {
            Ok(Echo)
        }
        fn call(&self, _req: Request) -> impl Future<Output = Result<Response, ApiError>> + Send {
            let session: Session = Box::new(|mut io| {
                Box::pin(async move {
                    let mut stop = io.shutdown();
                    let mut buf = [0u8; 64];
                    loop {
                        tokio::select! {
                            n = io.read(&mut buf) => match n {
                                Ok(0) | Err(_) => return,
                                Ok(n) => { let _ = io.write_all(&buf[..n]).await; }
                            },
                            () = stop.requested() => {
                                let _ = io.write_all(b"bye").await;
                                return;
                            }
                        }
                    }
                })
            });
            let mut h = HeaderMap::new();
            h.insert(header::UPGRADE, http::HeaderValue::from_static("echo"));
            async move { Ok(switching_protocols(h, session)) }
        }
    }

    async fn start() -> (
        std::net::SocketAddr,
        tokio::sync::oneshot::Sender<()>,
        tokio::task::JoinHandle<std::io::Result<()>>,
    ) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let cors = CorsConfig {
            origins: vec!["https://elbatt.no".into()],
            allow_localhost: false,
        };
        let router = Arc::new(Router::new(cors).mount("/echo", Arc::new(Echo)));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(
            listener,
            router,
            async { drop(stopped.await) },
            ServeOptions::default(),
        ));
        (addr, stop, server)
    }

    async fn read_until(s: &mut tokio::net::TcpStream, want: &str) -> String {
        let mut got = Vec::new();
        let mut buf = [0u8; 256];
        while !String::from_utf8_lossy(&got).contains(want) {
            let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
                .await
                .expect("answered in time")
                .unwrap();
            assert!(n > 0, "closed early: {}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
        String::from_utf8_lossy(&got).into_owned()
    }

    #[tokio::test]
    async fn a_session_gets_the_connection_after_101_with_bytes_sent_early_and_hears_shutdown() {
        let (addr, stop, server) = start().await;
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        // The first protocol bytes ride in the same write as the request: hyper reads them
        // with the head, and the session must still see them.
        s.write_all(
            b"GET /echo HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\nearly ",
        )
        .await
        .unwrap();
        let got = read_until(&mut s, "early ").await;
        assert!(got.starts_with("HTTP/1.1 101"), "{got}");
        s.write_all(b"late").await.unwrap();
        read_until(&mut s, "late").await;
        stop.send(()).unwrap();
        read_until(&mut s, "bye").await;
        tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .expect("the server stops once the session has ended")
            .unwrap()
            .unwrap();
    }

    #[tokio::test]
    async fn an_upgrade_from_an_origin_not_allowed_is_403_and_never_reaches_the_handler() {
        let (addr, _stop, _server) = start().await;
        for (origin, status) in [
            ("https://evil.example", "403"),
            ("https://elbatt.no", "101"),
        ] {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let head = format!(
                "GET /echo HTTP/1.1\r\nhost: x\r\norigin: {origin}\r\nconnection: upgrade\r\nupgrade: echo\r\n\r\n"
            );
            s.write_all(head.as_bytes()).await.unwrap();
            let got = read_until(&mut s, "\r\n\r\n").await;
            assert!(
                got.starts_with(&format!("HTTP/1.1 {status}")),
                "{origin}: {got}"
            );
        }
    }
}
