//! The one client for the OpenAI chat-completions wire format, used for every provider.
//!
//! Hand-written over reqwest + `eventsource-stream` rather than async-openai: the providers we
//! target break a strict SDK's types (numeric error codes, array-shaped errors, tool-call deltas
//! without `index`), and this keeps the chat binary smaller
//! (docs/upstreams/llm-providers.md#client-choice).
//!
//! Policy (docs/upstreams/llm-providers.md#retry-after): retries only while nothing has reached
//! the user — on 429 (not
//! `insufficient_quota`), 500, 502, 503 and connection errors, at most `LLM_MAX_RETRIES`, with
//! exponential backoff and full jitter, honouring `retry-after-ms`/`retry-after` up to
//! `LLM_RETRY_MAX_DELAY_SECS`. 400/401/403 are not retried. Timeouts: connect, first token, the
//! silence between chunks, and the whole turn.

pub mod debug;
pub mod error;
pub mod stream;
pub mod wire;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use elbatt::outbound::body::{ReadError, read_capped, read_prefix};
use elbatt::outbound::{backoff, error_chain, redact};
use eventsource_stream::{EventStreamError, Eventsource};
use futures_util::StreamExt;
use tokio::time::Instant;

use self::error::ProviderError;
use self::stream::{Completion, StreamAccumulator, StreamEvent};
use self::wire::ChatRequest;
use crate::config::ChatConfig;

/// Upstream error bodies are read up to this size; the rest is ignored.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// A streamed reply larger than this is cut off (no chat answer is anywhere near it).
const MAX_STREAM_BYTES: usize = 4 * 1024 * 1024;

/// Why a model call gave no (complete) answer.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LlmError {
    #[error("{0}")]
    Provider(ProviderError),
    #[error("no first token within {0:?}")]
    FirstTokenTimeout(Duration),
    #[error("the stream stalled for {0:?}")]
    Stalled(Duration),
    #[error("the turn's time budget ran out")]
    TurnTimeout,
    #[error("the stream ended before it was complete")]
    Truncated,
    #[error("the model sent neither text nor a tool call")]
    Empty,
    #[error("could not reach the provider: {0}")]
    Connect(String),
    #[error("the reply was too large")]
    TooLarge,
    /// The consumer went away (the user closed the connection).
    #[error("the client went away")]
    Cancelled,
}

impl LlmError {
    fn retryable(&self) -> bool {
        match self {
            LlmError::Provider(p) => p.is_retryable(),
            LlmError::Connect(_) | LlmError::Truncated | LlmError::Empty => true,
            _ => false,
        }
    }

    /// Its kind in `elbatt_upstream_errors_total`.
    fn metric_kind(&self) -> elbatt::metrics::ErrorKind {
        use self::error::ProviderErrorKind as P;
        use elbatt::metrics::ErrorKind as K;
        match self {
            LlmError::Provider(p) => match p.kind {
                P::RateLimited | P::QuotaExhausted => K::RateLimited,
                P::Overloaded => K::ServerError,
                P::InvalidRequest | P::ContextTooLong => K::Rejected,
                P::Auth => K::Auth,
                P::Other => K::Other,
            },
            LlmError::FirstTokenTimeout(_) | LlmError::Stalled(_) | LlmError::TurnTimeout => {
                K::Timeout
            }
            LlmError::Connect(_) => K::Unavailable,
            LlmError::Truncated | LlmError::Empty | LlmError::TooLarge => K::BadResponse,
            LlmError::Cancelled => K::Other,
        }
    }

    /// Whether it was a timeout (for the status a caller reports: 504 rather than 502).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            LlmError::FirstTokenTimeout(_) | LlmError::Stalled(_) | LlmError::TurnTimeout
        )
    }
}

/// The client: settings plus a lazily built HTTP client (cold starts and offline mode never
/// pay for TLS set-up).
#[derive(Debug)]
pub struct LlmClient {
    url: String,
    api_key: elbatt::config::Secret,
    extra_headers: Vec<(String, String)>,
    connect_timeout: Duration,
    first_token_timeout: Duration,
    idle_timeout: Duration,
    max_retries: u32,
    retry_max_delay: Duration,
    http: OnceLock<reqwest::Client>,
    /// `LLM_DEBUG_DIR`: every attempt's request and response are recorded ([`debug`]).
    debug: Option<debug::DebugLog>,
}

impl LlmClient {
    /// `None` when no key is configured (offline mode).
    pub fn new(cfg: &ChatConfig) -> Option<LlmClient> {
        // Providers echo the key (or its last characters) in error messages: register it so
        // upstream text is redacted before it is logged.
        if let Some(key) = &cfg.api_key {
            redact::register_secret(key.expose());
        }
        Some(LlmClient {
            url: format!("{}/chat/completions", cfg.base_url),
            api_key: cfg.api_key.clone()?,
            extra_headers: cfg.extra_headers.clone(),
            connect_timeout: cfg.connect_timeout,
            first_token_timeout: cfg.first_token_timeout,
            idle_timeout: cfg.idle_timeout,
            max_retries: cfg.max_retries,
            retry_max_delay: cfg.retry_max_delay,
            http: OnceLock::new(),
            debug: cfg.debug_log.clone().map(debug::DebugLog::new),
        })
    }

    fn http(&self) -> &reqwest::Client {
        self.http
            .get_or_init(|| elbatt::outbound::http_client(self.connect_timeout))
    }

    /// One streamed model call with retries. Text deltas go to `on_text` as they arrive; it
    /// returns `false` when the user has gone, which stops the call. Once any text has been
    /// passed on, nothing is retried.
    ///
    /// # Errors
    /// See [`LlmError`]; `emitted` tells the caller whether text already reached the user.
    pub async fn complete(
        &self,
        request: &ChatRequest,
        deadline: Instant,
        on_text: &mut (dyn FnMut(String) -> bool + Send),
        emitted: &mut bool,
    ) -> Result<Completion, LlmError> {
        let mut request = request.clone();
        let mut attempt = 0u32;
        let mut dropped_stream_options = false;
        loop {
            let started = Instant::now();
            let result = self.attempt(&request, deadline, on_text, emitted).await;
            if !matches!(result, Err(LlmError::Cancelled)) {
                elbatt::metrics::upstream(
                    elbatt::metrics::Upstream::Model,
                    started.elapsed(),
                    result.as_ref().err().map(LlmError::metric_kind),
                );
            }
            let err = match result {
                Ok(c) => return Ok(c),
                Err(e) => e,
            };
            // Some compatible servers reject `stream_options` (400/422): try once without it.
            if let LlmError::Provider(p) = &err {
                let rejected = matches!(p.status, Some(400 | 422));
                if rejected
                    && request.stream_options.is_some()
                    && !dropped_stream_options
                    && !*emitted
                {
                    tracing::info!(
                        status = p.status,
                        "provider rejected the request; retrying without stream_options"
                    );
                    request.stream_options = None;
                    dropped_stream_options = true;
                    continue;
                }
            }
            if *emitted || !err.retryable() || attempt >= self.max_retries {
                return Err(err);
            }
            let delay = self.backoff(attempt, &err);
            if Instant::now() + delay >= deadline {
                return Err(err);
            }
            tracing::warn!(attempt, delay_ms = delay.as_millis() as u64, error = %err, "model call failed; retrying");
            tokio::time::sleep(delay).await;
            attempt += 1;
        }
    }

    /// The server's own delay when it gave one, else exponential backoff from 0.5 s with full
    /// jitter; capped either way.
    fn backoff(&self, attempt: u32, err: &LlmError) -> Duration {
        let requested = match err {
            LlmError::Provider(ProviderError { retry_after, .. }) => *retry_after,
            _ => None,
        };
        backoff::delay(
            requested,
            Duration::from_millis(500),
            attempt,
            self.retry_max_delay,
        )
    }

    /// The debug log of the instance, if on.
    pub fn debug_log(&self) -> Option<&debug::DebugLog> {
        self.debug.as_ref()
    }

    /// One HTTP request to the provider, recorded when the debug logs are on.
    async fn attempt(
        &self,
        request: &ChatRequest,
        deadline: Instant,
        on_text: &mut (dyn FnMut(String) -> bool + Send),
        emitted: &mut bool,
    ) -> Result<Completion, LlmError> {
        let Some(log) = &self.debug else {
            return self
                .exchange(request, deadline, on_text, emitted, None)
                .await;
        };
        let mut record = log.start(&self.url, &self.extra_headers, request);
        let result = self
            .exchange(request, deadline, on_text, emitted, Some(&mut record))
            .await;
        record.finish(&result);
        result
    }

    async fn exchange(
        &self,
        request: &ChatRequest,
        deadline: Instant,
        on_text: &mut (dyn FnMut(String) -> bool + Send),
        emitted: &mut bool,
        mut record: Option<&mut debug::CallRecord>,
    ) -> Result<Completion, LlmError> {
        let first_token_by = (Instant::now() + self.first_token_timeout).min(deadline);
        let mut builder = self
            .http()
            .post(&self.url)
            .bearer_auth(self.api_key.expose())
            .header(http::header::ACCEPT, "text/event-stream")
            .json(request);
        for (k, v) in &self.extra_headers {
            builder = builder.header(k, v);
        }
        let response = match tokio::time::timeout_at(first_token_by, builder.send()).await {
            Err(_) => return Err(self.timeout_before_output(first_token_by, deadline)),
            // The causes (hyper, the OS) say why; the URL carries nothing worth logging.
            Ok(Err(e)) => {
                return Err(LlmError::Connect(redact::redact(&error_chain(
                    &e.without_url(),
                ))));
            }
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if let Some(r) = record.as_deref_mut() {
            r.response_head(status, response.headers());
        }
        if status != 200 {
            let headers = response.headers().clone();
            let body = read_prefix(response, MAX_ERROR_BODY, Some(first_token_by)).await;
            if let Some(r) = record.as_deref_mut() {
                r.body(body.as_ref());
            }
            return Err(LlmError::Provider(ProviderError::from_http(
                status, &headers, &body,
            )));
        }
        let is_sse = response
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.starts_with("text/event-stream"));
        if !is_sse {
            // A server that ignored `stream: true` answers with one JSON completion.
            let body = read_capped(response, MAX_STREAM_BYTES, Some(first_token_by))
                .await
                .map_err(|e| match e {
                    ReadError::TooLarge { .. } => LlmError::TooLarge,
                    ReadError::Timeout => LlmError::TurnTimeout,
                    ReadError::Broken(_) => LlmError::Truncated,
                })?;
            if let Some(r) = record.as_deref_mut() {
                r.body(&body);
            }
            let completion = Completion::from_response_body(&body).map_err(LlmError::Provider)?;
            if completion.text.trim().is_empty() && completion.tool_calls.is_empty() {
                return Err(LlmError::Empty);
            }
            if !completion.text.is_empty() {
                *emitted = true;
                if !on_text(completion.text.clone()) {
                    return Err(LlmError::Cancelled);
                }
            }
            return Ok(completion);
        }

        let mut acc = StreamAccumulator::new();
        // With the debug logs on, the body's bytes are copied as they arrive (at most the
        // stream cap).
        let mut transcript = record.and_then(|r| r.transcript());
        let body = response.bytes_stream().inspect(move |chunk| {
            if let (Some(t), Ok(bytes)) = (transcript.as_deref_mut(), chunk) {
                t.extend_from_slice(bytes);
            }
        });
        let mut events = sse_events(body, MAX_STREAM_BYTES);
        loop {
            let wait_until = if acc.has_output() {
                (Instant::now() + self.idle_timeout).min(deadline)
            } else {
                first_token_by
            };
            let next = match tokio::time::timeout_at(wait_until, events.next()).await {
                Err(_) if acc.has_output() && wait_until >= deadline => {
                    return Err(LlmError::TurnTimeout);
                }
                Err(_) if acc.has_output() => return Err(LlmError::Stalled(self.idle_timeout)),
                Err(_) => return Err(self.timeout_before_output(first_token_by, deadline)),
                Ok(next) => next,
            };
            let event = match next {
                None => break,
                Some(Ok(ev)) => ev,
                Some(Err(EventStreamError::Transport(BodyError::TooLarge))) => {
                    return Err(LlmError::TooLarge);
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %redact::redact(&e.to_string()), "the event stream broke");
                    return Err(LlmError::Truncated);
                }
            };
            for out in acc
                .push(&event.event, &event.data)
                .map_err(LlmError::Provider)?
            {
                match out {
                    StreamEvent::TextDelta(text) => {
                        *emitted = true;
                        if !on_text(text) {
                            return Err(LlmError::Cancelled);
                        }
                    }
                    StreamEvent::Done => {}
                }
            }
            if acc.saw_done() {
                break;
            }
        }
        let finished = acc.saw_done();
        let completion = acc.finish();
        // Without `[DONE]` only a finish reason proves the answer is whole.
        if !finished && completion.finish_reason.is_none() {
            return Err(LlmError::Truncated);
        }
        // An answer with nothing in it is a failure, not an empty reply: retry, fall back, or
        // answer offline.
        if completion.text.trim().is_empty() && completion.tool_calls.is_empty() {
            return Err(LlmError::Empty);
        }
        Ok(completion)
    }

    fn timeout_before_output(&self, first_token_by: Instant, deadline: Instant) -> LlmError {
        if first_token_by >= deadline {
            LlmError::TurnTimeout
        } else {
            LlmError::FirstTokenTimeout(self.first_token_timeout)
        }
    }
}

/// No chunk of a Chat Completions stream comes near this (the largest are a few KiB).
pub const MAX_LINE_BYTES: usize = 64 * 1024;

/// The framing is fed pieces at most this long: it copies the rest of its buffer for every
/// line it takes off, so its cost per piece grows with the square of the piece's length (4 MiB
/// of empty lines kept it busy for 10 s in large reads, 1.6 s in these pieces).
const FRAME_PIECE: usize = 256;

/// The UTF-8 byte-order mark, which the SSE format allows at the start of a stream.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Why a streamed response body stopped before its end.
#[derive(Debug)]
pub enum BodyError<E> {
    /// The connection failed.
    Transport(E),
    /// More than the cap arrived, or a line longer than any event carries.
    TooLarge,
}

impl<E: std::fmt::Display> std::fmt::Display for BodyError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Transport(e) => e.fmt(f),
            BodyError::TooLarge => f.write_str("the stream passed its size cap"),
        }
    }
}

/// The SSE events of a streamed response body, which may be at most `limit` bytes with lines
/// of at most [`MAX_LINE_BYTES`]: the framing [`LlmClient`] uses, public so the `sse_stream`
/// fuzz target exercises exactly it.
///
/// Both caps count raw bytes, not event data: eventsource-stream keeps an unfinished line in
/// its buffer and rescans all of it for every piece that arrives, so a body that never ends a
/// line would grow without bound and cost quadratic time until a timeout.
///
/// A leading byte-order mark is dropped here, even when it arrives split over several chunks:
/// eventsource-stream 0.2.3 strips it itself with `&text[1..]`, which panics inside the
/// three-byte character (found by the fuzz target; fuzz/regressions/sse_stream/).
pub fn sse_events<S, E>(
    body: S,
    limit: usize,
) -> impl futures_util::Stream<Item = Result<eventsource_stream::Event, EventStreamError<BodyError<E>>>>
+ Unpin
where
    S: futures_util::Stream<Item = Result<Bytes, E>> + Unpin,
{
    let mut received = 0usize;
    // Bytes since the last line break.
    let mut line = 0usize;
    // The bytes read so far while they could still be the start of a byte-order mark.
    let mut head: Option<Vec<u8>> = Some(Vec::new());
    body.map(move |chunk| {
        let chunk = chunk.map_err(BodyError::Transport)?;
        received = received.saturating_add(chunk.len());
        line = match chunk.iter().rposition(|b| matches!(b, b'\n' | b'\r')) {
            Some(at) => chunk.len() - at - 1,
            None => line.saturating_add(chunk.len()),
        };
        if received > limit || line > MAX_LINE_BYTES {
            return Err(BodyError::TooLarge);
        }
        let Some(mut seen) = head.take() else {
            return Ok(chunk);
        };
        if seen.is_empty() && chunk.len() >= BOM.len() {
            return Ok(if chunk.starts_with(BOM) {
                chunk.slice(BOM.len()..)
            } else {
                chunk
            });
        }
        seen.extend_from_slice(&chunk);
        if seen.len() < BOM.len() && BOM.starts_with(&seen) {
            // Undecided: hold the bytes back.
            head = Some(seen);
            return Ok(Bytes::new());
        }
        Ok(match seen.strip_prefix(BOM) {
            Some(rest) => Bytes::copy_from_slice(rest),
            None => Bytes::from(seen),
        })
    })
    .flat_map(|chunk| {
        let pieces: Vec<_> = match chunk {
            Ok(bytes) => (0..bytes.len())
                .step_by(FRAME_PIECE)
                .map(|at| Ok(bytes.slice(at..bytes.len().min(at + FRAME_PIECE))))
                .collect(),
            Err(e) => vec![Err(e)],
        };
        futures_util::stream::iter(pieces)
    })
    .eventsource()
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn framed(chunks: &[&[u8]]) -> Vec<(String, String)> {
        let body = futures_util::stream::iter(
            chunks
                .iter()
                .map(|c| Ok::<_, std::convert::Infallible>(Bytes::copy_from_slice(c))),
        );
        sse_events(body, usize::MAX)
            .map(|event| event.map(|e| (e.event, e.data)).unwrap())
            .collect()
            .await
    }

    #[tokio::test]
    async fn a_body_starting_with_a_byte_order_mark_is_framed_without_panicking() {
        // The fuzz target's crash (fuzz/regressions/sse_stream/crash-a2add97f…), body only.
        assert_eq!(
            framed(&[b"\xEF\xBB\xBF: rrrrr$"]).await,
            Vec::<(String, String)>::new()
        );
        let event = vec![("message".to_owned(), "[DONE]".to_owned())];
        assert_eq!(framed(&[b"\xEF\xBB\xBFdata: [DONE]\n\n"]).await, event);
        // Split over chunks, as TCP reads may deliver it.
        assert_eq!(
            framed(&[b"\xEF", b"\xBB", b"\xBFdata: [DO", b"NE]\n\n"]).await,
            event
        );
        assert_eq!(framed(&[b"\xEF\xBB", b"\xBFdata: [DONE]\n\n"]).await, event);
    }

    #[tokio::test]
    async fn a_body_past_the_cap_is_cut_even_when_no_event_ever_ends() {
        let body = |line: &'static [u8], chunks: usize| {
            futures_util::stream::iter(
                std::iter::once(Bytes::from_static(b"data: "))
                    .chain(std::iter::repeat_n(Bytes::from_static(line), chunks))
                    .map(Ok::<_, std::convert::Infallible>),
            )
        };
        let too_large = |first: &Option<Result<_, EventStreamError<BodyError<_>>>>| {
            matches!(
                first,
                Some(Err(EventStreamError::Transport(BodyError::TooLarge)))
            )
        };
        // Past the total, in short lines…
        let first = sse_events(body(b"a\n", 10_000), 10 * 1024).next().await;
        assert!(too_large(&first), "{first:?}");
        // …or in one line that never ends, well within the total.
        let first = sse_events(body(&[b'a'; 1024], 100), usize::MAX)
            .next()
            .await;
        assert!(too_large(&first), "{first:?}");
        // A long line that ends is fine.
        let long = [b"data: ".as_slice(), &[b'a'; 60_000], b"\n\n"].concat();
        let body =
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(Bytes::from(long))]);
        let event = sse_events(body, usize::MAX).next().await.unwrap().unwrap();
        assert_eq!(event.data.len(), 60_000);
    }

    #[tokio::test]
    async fn a_body_without_a_byte_order_mark_is_framed_unchanged() {
        let event = vec![("delta".to_owned(), "\u{FEFF}x".to_owned())];
        assert_eq!(
            framed(&[b"event: delta\ndata: \xEF\xBB\xBFx\n\n"]).await,
            event
        );
        assert_eq!(
            framed(&[b"e", b"vent: delta\ndata: \xEF\xBB\xBFx\n\n"]).await,
            event
        );
    }
}
