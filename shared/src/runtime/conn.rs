//! One client connection as the server sees it: the TCP stream plus what hyper does not track.
//!
//! - Whether the client has sent bytes we have not answered yet, so a header timeout can tell a
//!   request that never finished (it deserves a `408`) from an idle keep-alive connection
//!   (closed without a word, as browsers expect).
//! - A write deadline: a client that stops reading (so our writes stay pending) is cut off
//!   after `write_timeout` instead of holding its connection slot and buffers for ever.
//! - A head deadline (the slowloris guard): while no request of the connection is being served,
//!   the next request head must arrive within `head_timeout` of when the wait began, or reads
//!   fail with `TimedOut`. hyper's own `header_read_timeout` did this with a new timer per
//!   request (a boxed `Sleep`, registered in tokio's wheel and removed again); here one timer
//!   per connection is armed at the first wait and moved only when it fires before the
//!   deadline it guards, so a busy keep-alive connection touches it about once per timeout.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Whether the server holds one of the connection's requests (from the service's call until
/// the response's body is dropped: sent, or given up), and since when it has held none. Shared
/// by the connection's [`Tracked`] and its service.
#[derive(Debug, Clone)]
pub(crate) struct InService(Arc<InServiceState>);

#[derive(Debug)]
struct InServiceState {
    /// The connection's start; the times below count from it.
    started: Instant,
    /// Requests being served.
    serving: AtomicUsize,
    /// Nanoseconds from `started` to the end of the last answer: when the wait for the next
    /// head began (0: the connection's start).
    idle_since: AtomicU64,
}

impl Default for InService {
    fn default() -> Self {
        InService(Arc::new(InServiceState {
            started: Instant::now(),
            serving: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
        }))
    }
}

impl InService {
    /// A request's head has arrived and the service has it; the guard ends the service.
    pub(crate) fn enter(&self) -> ServiceGuard {
        // Relaxed: only the connection's own task reads these, and its polls are ordered.
        self.0.serving.fetch_add(1, Ordering::Relaxed);
        ServiceGuard(self.clone())
    }

    /// Bytes of an answer reached the socket: once no request is being served, the wait for
    /// the next head starts from the last of them.
    fn wrote(&self) {
        let state = &*self.0;
        if state.serving.load(Ordering::Relaxed) == 0 {
            state
                .idle_since
                .store(state.elapsed_nanos(), Ordering::Relaxed);
        }
    }

    /// When the head now awaited is due, if one is (no request is being served).
    fn head_due(&self, timeout: Duration) -> Option<Instant> {
        let state = &*self.0;
        if state.serving.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let idle = Duration::from_nanos(state.idle_since.load(Ordering::Relaxed));
        Some(state.started + idle + timeout)
    }
}

/// Held by a request's response body (see [`Served`]).
#[derive(Debug)]
pub(crate) struct ServiceGuard(InService);

impl Drop for ServiceGuard {
    fn drop(&mut self) {
        let state = &*(self.0).0;
        state
            .idle_since
            .store(state.elapsed_nanos(), Ordering::Relaxed);
        state.serving.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InServiceState {
    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }
}

/// A response body that keeps its request counted as served until hyper drops it, so that a
/// streamed answer (whose reads hyper still polls) is not taken for a connection waiting for
/// its next head.
#[derive(Debug)]
pub(crate) struct Served<B> {
    body: B,
    _guard: ServiceGuard,
}

impl<B> Served<B> {
    pub(crate) fn new(body: B, guard: ServiceGuard) -> Self {
        Served {
            body,
            _guard: guard,
        }
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Served<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A borrowed stream with the bookkeeping above. hyper serves it through `TokioIo`.
#[derive(Debug)]
pub(crate) struct Tracked<'a> {
    stream: &'a mut TcpStream,
    /// Bytes arrived since our last write: a request is (partly) in.
    pub(crate) unanswered: bool,
    write_timeout: Duration,
    /// Armed while a write is pending; reset by every write that makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
    in_service: InService,
    /// `None` after an upgrade: the session's own protocol keeps time then.
    head_timeout: Option<Duration>,
    /// One timer for the connection's head deadlines (see the module's notes).
    head_timer: Option<Pin<Box<Sleep>>>,
    /// The connection ended because a head did not arrive in time.
    pub(crate) head_timed_out: bool,
}

impl<'a> Tracked<'a> {
    pub(crate) fn new(
        stream: &'a mut TcpStream,
        write_timeout: Duration,
        head_timeout: Duration,
        in_service: InService,
    ) -> Self {
        Tracked {
            stream,
            unanswered: false,
            write_timeout,
            stalled: None,
            in_service,
            head_timeout: Some(head_timeout),
            head_timer: None,
            head_timed_out: false,
        }
    }

    /// After a `101`: the connection carries another protocol, with its own keep-alive.
    pub(crate) fn end_head_deadlines(&mut self) {
        self.head_timeout = None;
        self.head_timer = None;
    }

    /// The socket under it (for socket options of an upgraded connection).
    pub(crate) fn socket(&self) -> &TcpStream {
        self.stream
    }

    /// Progress disarms the deadline (and answers what the client sent); no progress arms it.
    fn after_write(
        &mut self,
        written: Poll<io::Result<usize>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<usize>> {
        match written {
            Poll::Ready(Ok(n)) => {
                self.stalled = None;
                if n > 0 {
                    self.unanswered = false;
                    // hyper drops a response's body once it has taken its last frame, before
                    // the bytes reach the socket: the wait for the next head starts at the last
                    // write, not there.
                    self.in_service.wrote();
                }
                Poll::Ready(Ok(n))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.pending_write(cx),
        }
    }

    /// Pending write: time out once the deadline passes (the deadline starts at the first
    /// pending poll, so a reader that keeps up never pays for a timer).
    fn pending_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let deadline = Instant::now() + self.write_timeout;
        let sleep = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client stopped reading",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }

    /// A read found nothing: if the connection waits for a head, time it out at its deadline.
    ///
    /// The timer is not moved per request: it fires, the connection checks when the head now
    /// awaited is due, and only then moves it there (or a full timeout on while a request is
    /// being served, when no head is due).
    fn pending_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(timeout) = self.head_timeout else {
            return Poll::Pending;
        };
        let timer = self.head_timer.get_or_insert_with(|| {
            let first = self
                .in_service
                .head_due(timeout)
                .unwrap_or_else(|| Instant::now() + timeout);
            Box::pin(tokio::time::sleep_until(first))
        });
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            let now = Instant::now();
            // While our writes wait for the client to read, the answer is not over: the write
            // deadline guards that, and no head is due yet.
            let due = if self.stalled.is_some() {
                None
            } else {
                self.in_service.head_due(timeout)
            };
            match due {
                Some(due) if now >= due => {
                    self.head_timed_out = true;
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request head did not arrive in time",
                    )));
                }
                Some(due) => timer.as_mut().reset(due),
                None => timer.as_mut().reset(now + timeout),
            }
        }
    }
}

impl AsyncRead for Tracked<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut *this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.unanswered = true;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => this.pending_read(cx),
        }
    }
}

impl AsyncWrite for Tracked<'_> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut *this.stream).poll_write(cx, data);
        this.after_write(written, cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut *this.stream).poll_write_vectored(cx, bufs);
        this.after_write(written, cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.get_mut().stream).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const HEAD: Duration = Duration::from_secs(30);

    /// A connection that serves nothing: only its own deadlines act.
    fn tracked(stream: &mut TcpStream, write: Duration, head: Duration) -> Tracked<'_> {
        Tracked::new(stream, write, head, InService::default())
    }

    async fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn a_client_that_stops_reading_is_cut_off_after_the_write_timeout() {
        let (mut server, _client) = pair().await;
        let mut tracked = tracked(&mut server, Duration::from_millis(200), HEAD);
        let chunk = vec![0u8; 1 << 20];
        let started = std::time::Instant::now();
        // Socket buffers take a few MB; then writes stay pending until the deadline.
        let write_forever = async {
            loop {
                tracked.write_all(&chunk).await?;
            }
        };
        let outcome: io::Result<()> = tokio::time::timeout(Duration::from_secs(10), write_forever)
            .await
            .expect("the write deadline, not the test's, ends it");
        let err: io::Error = outcome.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }

    #[tokio::test]
    async fn a_reader_that_keeps_up_is_never_cut_off() {
        let (mut server, mut client) = pair().await;
        let reader = tokio::spawn(async move {
            let mut sink = Vec::new();
            client.read_to_end(&mut sink).await.map(|_| sink.len())
        });
        let mut tracked = tracked(&mut server, Duration::from_millis(200), HEAD);
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..32 {
            tracked.write_all(&chunk).await.unwrap();
        }
        tracked.shutdown().await.unwrap();
        drop(tracked);
        assert_eq!(reader.await.unwrap().unwrap(), 32 << 20);
    }

    /// Reads until the head deadline ends the connection; the time it took.
    async fn read_until_head_timeout(tracked: &mut Tracked<'_>) -> Duration {
        let started = std::time::Instant::now();
        let mut buf = [0u8; 64];
        let err = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                if let Err(e) = tracked.read(&mut buf).await {
                    return e;
                }
            }
        })
        .await
        .expect("the head deadline, not the test's, ends it");
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert!(tracked.head_timed_out);
        started.elapsed()
    }

    #[tokio::test]
    async fn a_head_that_does_not_arrive_in_time_ends_the_connection() {
        let (mut server, mut client) = pair().await;
        let timeout = Duration::from_millis(300);
        let mut tracked = tracked(&mut server, Duration::from_secs(5), timeout);
        // A trickled head: bytes keep coming, but the deadline counts from the wait's start.
        let trickle = tokio::spawn(async move {
            for _ in 0..20 {
                if client.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            client
        });
        let took = read_until_head_timeout(&mut tracked).await;
        assert!(took >= timeout && took < Duration::from_secs(2), "{took:?}");
        assert!(
            tracked.unanswered,
            "part of a head had arrived: it deserves a 408"
        );
        drop(trickle.await);
    }

    #[tokio::test]
    async fn no_head_is_due_while_a_request_is_served_and_the_wait_starts_at_its_end() {
        let (mut server, _client) = pair().await;
        let timeout = Duration::from_millis(200);
        let in_service = InService::default();
        let mut tracked = Tracked::new(
            &mut server,
            Duration::from_secs(5),
            timeout,
            in_service.clone(),
        );
        let guard = in_service.enter();
        // Served for three timeouts, with reads pending all along (as hyper polls them).
        let mut buf = [0u8; 8];
        let served = tokio::time::timeout(3 * timeout, tracked.read(&mut buf)).await;
        assert!(
            served.is_err(),
            "timed out while a request was served: {served:?}"
        );
        let ended = std::time::Instant::now();
        drop(guard);
        let waited = read_until_head_timeout(&mut tracked).await;
        assert!(
            waited >= timeout,
            "the wait began before the answer ended: {waited:?}"
        );
        assert!(ended.elapsed() < timeout * 5, "{:?}", ended.elapsed());
        assert!(
            !tracked.unanswered,
            "an idle connection is closed without a word"
        );
    }

    #[tokio::test]
    async fn the_tail_of_an_answer_the_client_is_slow_to_take_is_not_cut_by_the_head_deadline() {
        let (mut server, mut client) = pair().await;
        let in_service = InService::default();
        let head = Duration::from_millis(200);
        let tracked = Tracked::new(
            &mut server,
            Duration::from_secs(5),
            head,
            in_service.clone(),
        );
        // hyper drops a body once it has taken the last frame, before the bytes are written.
        drop(in_service.enter());
        let (mut rd, mut wr) = tokio::io::split(tracked);
        let size = 16 << 20;
        let reader = tokio::spawn(async move {
            // A client that pauses for four head timeouts (well within the write timeout).
            tokio::time::sleep(head * 4).await;
            let mut sink = Vec::new();
            client.read_to_end(&mut sink).await.map(|_| sink.len())
        });
        let body = vec![1u8; size];
        // hyper polls reads while it writes, to notice a client that goes away.
        let watch = async {
            let mut b = [0u8; 1];
            rd.read(&mut b).await
        };
        let write = async {
            wr.write_all(&body).await?;
            wr.shutdown().await
        };
        tokio::select! {
            read = watch => panic!("the read side ended while the answer was written: {read:?}"),
            written = write => written.unwrap(),
        }
        assert_eq!(reader.await.unwrap().unwrap(), size);
    }

    #[tokio::test]
    async fn an_upgraded_connection_has_no_head_deadline() {
        let (mut server, _client) = pair().await;
        let timeout = Duration::from_millis(100);
        let mut tracked = tracked(&mut server, Duration::from_secs(5), timeout);
        tracked.end_head_deadlines();
        let mut buf = [0u8; 8];
        let read = tokio::time::timeout(timeout * 4, tracked.read(&mut buf)).await;
        assert!(
            read.is_err(),
            "a deadline ended an upgraded connection: {read:?}"
        );
    }

    #[tokio::test]
    async fn bytes_from_the_client_count_as_unanswered_until_we_write() {
        let (mut server, mut client) = pair().await;
        let mut tracked = tracked(&mut server, Duration::from_secs(1), HEAD);
        assert!(!tracked.unanswered);
        client.write_all(b"GET / HT").await.unwrap();
        let mut buf = [0u8; 16];
        let n = tracked.read(&mut buf).await.unwrap();
        assert_eq!(n, 8);
        assert!(tracked.unanswered);
        tracked.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
        assert!(!tracked.unanswered);
    }
}
