//! Reading an upstream's response body without trusting it: a size cap checked while reading
//! (a hostile or broken upstream cannot make us buffer without bound) and an optional deadline.

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

/// Why a body could not be read whole.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("body larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the body did not arrive in time")]
    Timeout,
    /// The connection broke off or timed out inside reqwest; the error has no URL.
    #[error("the body broke off: {}", super::error_chain(.0))]
    Broken(reqwest::Error),
}

/// The whole body, or an error as soon as it passes `limit` (an announced `Content-Length`
/// over the limit fails before reading anything) or `until` passes.
///
/// # Errors
/// See [`ReadError`].
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
    until: Option<Instant>,
) -> Result<Bytes, ReadError> {
    let announced = response.content_length().unwrap_or(0);
    if announced > limit as u64 {
        return Err(ReadError::TooLarge { limit });
    }
    let mut body = BytesMut::with_capacity(usize::try_from(announced).unwrap_or(limit).min(limit));
    loop {
        let next = match until {
            Some(until) => tokio::time::timeout_at(until, response.chunk())
                .await
                .map_err(|_| ReadError::Timeout)?,
            None => response.chunk().await,
        };
        match next {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Err(ReadError::TooLarge { limit });
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body.freeze()),
            Err(error) => return Err(ReadError::Broken(error.without_url())),
        }
    }
}

/// At most the first `limit` bytes of an error body, for classifying and logging it: whatever
/// arrived before the body broke off, grew too large or ran out of time.
pub async fn read_prefix(
    mut response: reqwest::Response,
    limit: usize,
    until: Option<Instant>,
) -> Bytes {
    let mut body = BytesMut::new();
    while body.len() < limit {
        let next = match until {
            Some(until) => match tokio::time::timeout_at(until, response.chunk()).await {
                Ok(next) => next,
                Err(_) => break,
            },
            None => response.chunk().await,
        };
        match next {
            Ok(Some(chunk)) => {
                let room = limit - body.len();
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(None) | Err(_) => break,
        }
    }
    body.freeze()
}
