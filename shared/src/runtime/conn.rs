//! One client connection as the server sees it: the TCP stream plus what hyper does not track.
//!
//! - Whether the client has sent bytes we have not answered yet, so a header timeout can tell a
//!   request that never finished (it deserves a `408`) from an idle keep-alive connection
//!   (closed without a word, as browsers expect).
//! - A write deadline: a client that stops reading (so our writes stay pending) is cut off
//!   after `write_timeout` instead of holding its connection slot and buffers for ever.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A borrowed stream with the bookkeeping above. hyper serves it through `TokioIo`.
#[derive(Debug)]
pub(crate) struct Tracked<'a> {
    stream: &'a mut TcpStream,
    /// Bytes arrived since our last write: a request is (partly) in.
    pub(crate) unanswered: bool,
    write_timeout: Duration,
    /// Armed while a write is pending; reset by every write that makes progress.
    stalled: Option<Pin<Box<Sleep>>>,
}

impl<'a> Tracked<'a> {
    pub(crate) fn new(stream: &'a mut TcpStream, write_timeout: Duration) -> Self {
        Tracked {
            stream,
            unanswered: false,
            write_timeout,
            stalled: None,
        }
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
}

impl AsyncRead for Tracked<'_> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        ready!(Pin::new(&mut *this.stream).poll_read(cx, buf))?;
        if buf.filled().len() > before {
            this.unanswered = true;
        }
        Poll::Ready(Ok(()))
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
        let mut tracked = Tracked::new(&mut server, Duration::from_millis(200));
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
        let mut tracked = Tracked::new(&mut server, Duration::from_millis(200));
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..32 {
            tracked.write_all(&chunk).await.unwrap();
        }
        tracked.shutdown().await.unwrap();
        drop(tracked);
        assert_eq!(reader.await.unwrap().unwrap(), 32 << 20);
    }

    #[tokio::test]
    async fn bytes_from_the_client_count_as_unanswered_until_we_write() {
        let (mut server, mut client) = pair().await;
        let mut tracked = Tracked::new(&mut server, Duration::from_secs(1));
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
