//! The response body every handler returns: either whole bytes or a stream of chunks (SSE).
//!
//! Written here rather than taken from axum so the function binaries that never stream (health,
//! plate-lookup) do not link axum; adapters convert it to whatever their platform wants
//! (hyper sends it as is, the Lambda and Scaleway Functions adapters collect it).

use std::convert::Infallible;
use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use http_body::{Frame, SizeHint};

/// A response body: whole, or streamed chunk by chunk.
pub struct Body {
    kind: Kind,
}

enum Kind {
    Full(Option<Bytes>),
    Stream(Pin<Box<dyn Stream<Item = Bytes> + Send>>),
}

impl Body {
    pub fn empty() -> Self {
        Body {
            kind: Kind::Full(None),
        }
    }

    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        Body {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }

    /// A body sent chunk by chunk as the stream yields (each chunk flushed as it comes).
    pub fn stream(stream: impl Stream<Item = Bytes> + Send + 'static) -> Self {
        Body {
            kind: Kind::Stream(Box::pin(stream)),
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self.kind, Kind::Stream(_))
    }

    /// Waits for the whole body. Used where the platform cannot stream (Lambda behind API
    /// Gateway, Scaleway Functions) and in tests.
    pub async fn collect(self) -> Bytes {
        match self.kind {
            Kind::Full(b) => b.unwrap_or_default(),
            Kind::Stream(mut s) => {
                let mut buf = Vec::new();
                while let Some(chunk) = s.next().await {
                    buf.extend_from_slice(&chunk);
                }
                Bytes::from(buf)
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Full(b) => write!(f, "Body::Full({} bytes)", b.as_ref().map_or(0, Bytes::len)),
            Kind::Stream(_) => f.write_str("Body::Stream"),
        }
    }
}

impl From<String> for Body {
    fn from(s: String) -> Self {
        Body::full(s)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Self {
        Body::full(s)
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Self {
        Body::full(v)
    }
}

impl From<Bytes> for Body {
    fn from(b: Bytes) -> Self {
        Body::full(b)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Kind::Stream(s) => s
                .as_mut()
                .poll_next(cx)
                .map(|c| c.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Kind::Stream(_) => SizeHint::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_streamed_body_collects_in_order() {
        let s = futures_util::stream::iter(
            [b"a", b"b", b"c"].map(|c: &'static [u8; 1]| Bytes::from_static(c)),
        );
        let body = Body::stream(s);
        assert!(body.is_stream());
        assert_eq!(body.collect().await, "abc");
    }

    #[test]
    fn a_full_body_reports_its_exact_size() {
        use http_body::Body as _;
        assert_eq!(Body::full("hello").size_hint().exact(), Some(5));
        assert!(Body::empty().is_end_stream());
    }
}
