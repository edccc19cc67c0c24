//! The one client for the OpenAI chat-completions wire format, used for every provider.
//!
//! Hand-written over reqwest + `eventsource-stream` rather than async-openai: the providers we
//! target break a strict SDK's types (numeric error codes, array-shaped errors, tool-call deltas
//! without `index`), and this keeps the chat binary smaller (llm.md §3.3, §3.5).
//!
//! Policy (llm.md §1.5): retries only while nothing has reached the user — on 429 (not
//! `insufficient_quota`), 500, 502, 503 and connection errors, at most `LLM_MAX_RETRIES`, with
//! exponential backoff and full jitter, honouring `retry-after-ms`/`retry-after` up to
//! `LLM_RETRY_MAX_DELAY_SECS`. 400/401/403 are not retried. Timeouts: connect, first token, the
//! silence between chunks, and the whole turn.

pub mod error;
pub mod stream;
pub mod wire;

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
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
}

impl LlmClient {
    /// `None` when no key is configured (offline mode).
    pub fn new(cfg: &ChatConfig) -> Option<LlmClient> {
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
            let result = self.attempt(&request, deadline, on_text, emitted).await;
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

    /// Exponential backoff from 0.5 s with jitter (a random 50–100 % of the step, so clients that
    /// failed together do not retry together), or the server's own delay when it gave one;
    /// capped either way.
    fn backoff(&self, attempt: u32, err: &LlmError) -> Duration {
        if let LlmError::Provider(ProviderError {
            retry_after: Some(d),
            ..
        }) = err
        {
            return (*d).min(self.retry_max_delay);
        }
        let ceiling = Duration::from_millis(500)
            .saturating_mul(1 << attempt.min(6))
            .min(self.retry_max_delay);
        ceiling.mul_f64(jitter())
    }

    async fn attempt(
        &self,
        request: &ChatRequest,
        deadline: Instant,
        on_text: &mut (dyn FnMut(String) -> bool + Send),
        emitted: &mut bool,
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
            Ok(Err(e)) => return Err(LlmError::Connect(strip_url(&e))),
            Ok(Ok(r)) => r,
        };
        let status = response.status().as_u16();
        if status != 200 {
            let headers = response.headers().clone();
            let body = read_capped(response, first_token_by).await;
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
            let body = read_capped_limit(response, first_token_by, MAX_STREAM_BYTES).await?;
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
        let mut events = sse_events(response.bytes_stream());
        let mut bytes = 0usize;
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
                Some(Err(e)) => {
                    tracing::warn!(error = %e, "the event stream broke");
                    return Err(LlmError::Truncated);
                }
            };
            bytes += event.data.len();
            if bytes > MAX_STREAM_BYTES {
                return Err(LlmError::TooLarge);
            }
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

/// The SSE events of a streamed response body: the framing [`LlmClient`] uses, public so the
/// `sse_stream` fuzz target exercises exactly it.
pub fn sse_events<S, E>(
    body: S,
) -> impl futures_util::Stream<Item = Result<eventsource_stream::Event, EventStreamError<E>>>
where
    S: futures_util::Stream<Item = Result<Bytes, E>>,
{
    body.eventsource()
}

/// reqwest's error text includes the URL; ours carries no secret, but keep logs short.
fn strip_url(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "connect"
    } else if e.is_timeout() {
        "timeout"
    } else {
        "request"
    };
    format!("{kind} error")
}

async fn read_capped(response: reqwest::Response, until: Instant) -> Vec<u8> {
    read_capped_limit(response, until, MAX_ERROR_BODY)
        .await
        .unwrap_or_default()
}

async fn read_capped_limit(
    response: reqwest::Response,
    until: Instant,
    limit: usize,
) -> Result<Vec<u8>, LlmError> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    loop {
        match tokio::time::timeout_at(until, stream.next()).await {
            Err(_) => return Err(LlmError::TurnTimeout),
            Ok(None) => return Ok(body),
            Ok(Some(Err(_))) => return Err(LlmError::Truncated),
            Ok(Some(Ok(chunk))) => {
                let room = limit.saturating_sub(body.len());
                body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if body.len() >= limit {
                    return if limit == MAX_ERROR_BODY {
                        Ok(body)
                    } else {
                        Err(LlmError::TooLarge)
                    };
                }
            }
        }
    }
}

/// A number in [0.5, 1.0) from std's randomly keyed hasher: enough spread for backoff, no RNG
/// crate needed.
fn jitter() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    0.5 + (h.finish() % 1000) as f64 / 2000.0
}
