//! The Statens vegvesen "enkeltoppslag" HTTP client: one plate in, the raw JSON body out.
//!
//! The contract (see the reference notes on the API): `GET <endpoint>?kjennemerke=<plate>` with
//! `SVV-Authorization: Apikey <key>`. 200 carries the vehicle, 204 (and 404) mean no such
//! vehicle, 400 a malformed plate, 401/403 a refused key, 422/429 an exhausted daily quota.
//! Server errors and failed connections are retried a little with jittered backoff.
//!
//! Plates are personal data and the key is a secret: neither is ever logged, and reqwest errors
//! are logged only after their URL (which holds the plate) is stripped.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::header::{ACCEPT, HeaderValue};
use reqwest::{Response, Url};
use tokio::time::Instant;

use crate::config::Secret;
use crate::outbound::body::{ReadError, read_capped, read_prefix};
use crate::outbound::{backoff, error_chain, redact, retry_after};
use crate::plate::Plate;
use crate::vehicle::cache::CacheError;

/// A found vehicle's JSON is 15–20 KiB; anything near this cap is not a single vehicle.
const MAX_BODY_BYTES: usize = 1024 * 1024;
/// Error bodies are a short JSON object at most; longer ones are not read for a reason.
const MAX_ERROR_BODY_BYTES: usize = 16 * 1024;
/// The reason is for logs: a long upstream text would only bloat them.
const MAX_REASON_CHARS: usize = 100;
/// However many retries are configured, one backoff never exceeds this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// A query value keeps only RFC 3986 unreserved characters; everything else (Æ, Ø, Å as UTF-8,
/// and anything that could end the parameter, such as `&` or `#`) is percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How to reach Statens vegvesen. `Debug` is safe to log: the key prints as redacted.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// The full enkeltoppslag URL; it may already carry a query string.
    pub endpoint: String,
    pub api_key: Secret,
    pub connect_timeout: Duration,
    /// Per attempt, for the whole request including the body.
    pub request_timeout: Duration,
    /// Extra attempts after a 5xx or a failed connection (not after a timeout).
    pub max_retries: u32,
    /// The first backoff ceiling; it doubles per retry, and the actual wait is random below it.
    pub retry_base_delay: Duration,
}

/// Why a lookup gave no answer. `Display` is meant for logs, never for clients.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error("plate lookup is not configured (API key or endpoint missing or unusable)")]
    NotConfigured,
    #[error("Statens vegvesen rejected the request: {}", .reason.as_deref().unwrap_or("no reason given"))]
    Rejected { reason: Option<String> },
    #[error("Statens vegvesen refused the API key (HTTP {status})")]
    KeyRefused { status: u16 },
    #[error("Statens vegvesen daily quota is exhausted")]
    QuotaExhausted { retry_after: Option<Duration> },
    #[error("Statens vegvesen answered HTTP {status}")]
    Upstream { status: u16 },
    #[error("could not reach Statens vegvesen")]
    Unavailable,
    #[error("Statens vegvesen did not answer in time")]
    Timeout,
    #[error("unusable response from Statens vegvesen: {detail}")]
    BadResponse { detail: String },
}

impl LookupError {
    /// Whether the same lookup may well succeed if tried again later: upstream trouble that is
    /// usually brief. A quota is exhausted until midnight, so it does not count.
    ///
    /// [`VegvesenClient::fetch`] itself retries only server errors and failed connections; a
    /// timeout already used a whole attempt's budget and is returned at once.
    pub fn is_retryable(&self) -> bool {
        match self {
            LookupError::Upstream { status } => *status >= 500,
            LookupError::Unavailable | LookupError::Timeout => true,
            LookupError::NotConfigured
            | LookupError::Rejected { .. }
            | LookupError::KeyRefused { .. }
            | LookupError::QuotaExhausted { .. }
            | LookupError::BadResponse { .. } => false,
        }
    }

    /// Its kind in `elbatt_upstream_errors_total`. "No such vehicle" is an answer, not an error.
    fn metric_kind(&self) -> crate::metrics::ErrorKind {
        use crate::metrics::ErrorKind as K;
        match self {
            LookupError::Timeout => K::Timeout,
            LookupError::Unavailable => K::Unavailable,
            LookupError::QuotaExhausted { .. } => K::RateLimited,
            LookupError::KeyRefused { .. } => K::Auth,
            LookupError::Rejected { .. } => K::Rejected,
            LookupError::Upstream { status } if *status >= 500 => K::ServerError,
            LookupError::BadResponse { .. } => K::BadResponse,
            LookupError::Upstream { .. } | LookupError::NotConfigured => K::Other,
        }
    }

    fn retried_by_fetch(&self) -> bool {
        matches!(self, LookupError::Upstream { status } if *status >= 500)
            || matches!(self, LookupError::Unavailable)
    }
}

/// Lets [`crate::vehicle::cache::Cache`] hand a failed shared fetch (a panic in the fetch
/// future) to its waiters as a lookup error.
impl From<CacheError> for LookupError {
    fn from(error: CacheError) -> Self {
        LookupError::BadResponse {
            detail: error.to_string(),
        }
    }
}

/// The Statens vegvesen client. Cheap to create: the HTTP client (and its TLS set-up) is built
/// on the first lookup, so a cold start that never looks up a plate never pays for it.
#[derive(Debug)]
pub struct VegvesenClient {
    settings: ClientSettings,
    http: OnceLock<reqwest::Client>,
}

impl VegvesenClient {
    pub fn new(settings: ClientSettings) -> Self {
        // So that upstream text echoing the key (or part of it) is redacted before logging.
        redact::register_secret(settings.api_key.expose());
        Self {
            settings,
            http: OnceLock::new(),
        }
    }

    /// Looks up one plate: `Some(body)` with the raw JSON on 200, `None` when no vehicle has
    /// this plate.
    ///
    /// Server errors and failed connections are retried up to `max_retries` times. A timeout is
    /// returned at once: it has already used a whole attempt's budget, and the caller (behind
    /// a gateway that gives up after about 30 s) cannot afford more of the same. So a lookup
    /// takes at most about `(max_retries + 1) × request_timeout` plus the backoff waits.
    pub async fn fetch(&self, plate: &Plate) -> Result<Option<Bytes>, LookupError> {
        self.fetch_plate(plate.as_str()).await
    }

    async fn fetch_plate(&self, plate: &str) -> Result<Option<Bytes>, LookupError> {
        let url = self.lookup_url(plate)?;
        let auth = self.auth_header()?;
        let http = self
            .http
            .get_or_init(|| crate::outbound::http_client(self.settings.connect_timeout));
        let started = Instant::now();
        let mut attempt: u32 = 0;
        loop {
            let attempt_started = Instant::now();
            let outcome = tokio::time::timeout(
                self.settings.request_timeout,
                self.attempt(http, &url, &auth, plate, attempt, started),
            )
            .await
            .unwrap_or(Err(LookupError::Timeout));
            crate::metrics::upstream(
                crate::metrics::Upstream::Vegvesen,
                attempt_started.elapsed(),
                outcome.as_ref().err().map(LookupError::metric_kind),
            );
            let elapsed_ms = millis(started.elapsed());
            match outcome {
                Ok(found) => {
                    tracing::debug!(
                        attempt,
                        elapsed_ms,
                        found = found.is_some(),
                        "vegvesen lookup done"
                    );
                    return Ok(found);
                }
                Err(error) if error.retried_by_fetch() && attempt < self.settings.max_retries => {
                    let delay =
                        backoff::full_jitter(self.settings.retry_base_delay, attempt, MAX_BACKOFF);
                    tracing::warn!(
                        attempt,
                        elapsed_ms,
                        delay_ms = millis(delay),
                        %error,
                        "vegvesen lookup failed; retrying"
                    );
                    tokio::time::sleep(delay).await;
                    attempt += 1;
                }
                Err(error) => {
                    tracing::warn!(attempt, elapsed_ms, %error, "vegvesen lookup failed");
                    return Err(error);
                }
            }
        }
    }

    async fn attempt(
        &self,
        http: &reqwest::Client,
        url: &Url,
        auth: &HeaderValue,
        plate: &str,
        attempt: u32,
        started: Instant,
    ) -> Result<Option<Bytes>, LookupError> {
        let response = http
            .get(url.clone())
            .header("SVV-Authorization", auth.clone())
            .header(ACCEPT, "application/json")
            .send()
            .await
            .map_err(|error| request_failed(error, attempt))?;
        let status = response.status().as_u16();
        tracing::debug!(
            status,
            attempt,
            elapsed_ms = millis(started.elapsed()),
            "vegvesen answered"
        );
        match status {
            200 => read_capped(response, MAX_BODY_BYTES, None)
                .await
                .map(Some)
                .map_err(body_failed),
            204 | 404 => Ok(None),
            400 => Err(LookupError::Rejected {
                reason: rejection_reason(response, plate).await,
            }),
            401 | 403 => {
                tracing::error!(
                    status,
                    "Statens vegvesen refused the API key; check VEGVESEN_API_KEY (not retried)"
                );
                Err(LookupError::KeyRefused { status })
            }
            422 | 429 => {
                let retry_after =
                    retry_after::requested_delay(response.headers(), SystemTime::now());
                Err(LookupError::QuotaExhausted { retry_after })
            }
            _ => Err(LookupError::Upstream { status }),
        }
    }

    fn lookup_url(&self, plate: &str) -> Result<Url, LookupError> {
        let mut url = match Url::parse(&self.settings.endpoint) {
            Ok(url) if matches!(url.scheme(), "https" | "http") => url,
            _ => {
                tracing::error!("VEGVESEN_ENDPOINT is not an http(s) URL; plate lookup is off");
                return Err(LookupError::NotConfigured);
            }
        };
        let plate = utf8_percent_encode(plate, QUERY_VALUE);
        let query = match url.query() {
            Some(existing) if !existing.is_empty() => format!("{existing}&kjennemerke={plate}"),
            _ => format!("kjennemerke={plate}"),
        };
        url.set_query(Some(&query));
        Ok(url)
    }

    fn auth_header(&self) -> Result<HeaderValue, LookupError> {
        // Trimmed because a key pasted into an env file often brings a newline along.
        let key = self.settings.api_key.expose().trim();
        if key.is_empty() {
            tracing::error!("VEGVESEN_API_KEY is empty; plate lookup is off");
            return Err(LookupError::NotConfigured);
        }
        let mut value = HeaderValue::from_str(&format!("Apikey {key}")).map_err(|_| {
            tracing::error!("VEGVESEN_API_KEY holds characters a header cannot carry");
            LookupError::NotConfigured
        })?;
        // Keeps the value out of reqwest's and hyper's own debug output.
        value.set_sensitive(true);
        Ok(value)
    }
}

/// Maps a failure to send the request (or to receive the head of the response).
fn request_failed(error: reqwest::Error, attempt: u32) -> LookupError {
    // `without_url`: the URL holds the plate.
    let error = error.without_url();
    tracing::debug!(attempt, error = %redact::redact(&error_chain(&error)), "vegvesen request failed");
    if error.is_timeout() {
        LookupError::Timeout
    } else if error.is_builder() {
        LookupError::NotConfigured
    } else {
        // Refused or reset connections, TLS failures: all "could not talk to the server".
        LookupError::Unavailable
    }
}

/// Maps a body that could not be read whole.
fn body_failed(error: ReadError) -> LookupError {
    tracing::debug!(%error, "vegvesen response body unusable");
    match error {
        ReadError::TooLarge { .. } => LookupError::BadResponse {
            detail: error.to_string(),
        },
        ReadError::Timeout => LookupError::Timeout,
        ReadError::Broken(e) if e.is_timeout() => LookupError::Timeout,
        ReadError::Broken(_) => LookupError::Unavailable,
    }
}

/// The `feilmelding` of a 400 body (e.g. `UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE`), for logs,
/// with key-like text redacted.
async fn rejection_reason(response: Response, plate: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        feilmelding: Option<String>,
    }
    let body = read_prefix(response, MAX_ERROR_BODY_BYTES, None).await;
    let reason = serde_json::from_slice::<ErrorBody>(&body)
        .ok()?
        .feilmelding?;
    // The documented reasons are fixed codes, but a free-text one might quote the plate, and
    // the reason ends up in logs.
    let squeezed: String = reason
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect();
    if !plate.is_empty() && squeezed.contains(&plate.to_uppercase()) {
        return Some("[withheld: the message names the plate]".to_owned());
    }
    let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
    Some(redact::redact(&reason))
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper::server::conn::http1;
    use hyper::service::service_fn;
    use hyper_util::rt::TokioIo;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    const KEY: &str = "0b5e1c9a-test-key-7f3d";
    const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/vegvesen");

    fn fixture(name: &str) -> Vec<u8> {
        std::fs::read(format!("{FIXTURES}/{name}")).expect("fixture readable")
    }

    fn settings(endpoint: &str) -> ClientSettings {
        ClientSettings {
            endpoint: endpoint.to_owned(),
            api_key: Secret::new(KEY.to_owned()),
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            max_retries: 2,
            retry_base_delay: Duration::from_millis(1),
        }
    }

    #[derive(Debug, Clone)]
    struct Seen {
        path: String,
        query: Option<String>,
        headers: http::HeaderMap,
    }

    /// A fake Statens vegvesen on a loopback port that records every request.
    struct Fake {
        endpoint: String,
        calls: Arc<AtomicUsize>,
        seen: Arc<Mutex<Vec<Seen>>>,
    }

    impl Fake {
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }

        fn seen(&self) -> Vec<Seen> {
            self.seen.lock().expect("fake lock").clone()
        }

        fn client(&self) -> VegvesenClient {
            VegvesenClient::new(settings(&self.endpoint))
        }
    }

    /// Starts a fake that answers call number `n` (from 1) with `respond(n)`.
    async fn start_fake<R>(respond: R) -> Fake
    where
        R: Fn(usize) -> http::Response<Full<Bytes>> + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind fake");
        let addr = listener.local_addr().expect("fake address");
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let respond = Arc::new(respond);
        let (task_calls, task_seen) = (Arc::clone(&calls), Arc::clone(&seen));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (calls, seen, respond) = (
                    Arc::clone(&task_calls),
                    Arc::clone(&task_seen),
                    Arc::clone(&respond),
                );
                let service = service_fn(move |request: http::Request<Incoming>| {
                    seen.lock().expect("fake lock").push(Seen {
                        path: request.uri().path().to_owned(),
                        query: request.uri().query().map(str::to_owned),
                        headers: request.headers().clone(),
                    });
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    let response = respond(n);
                    async move { Ok::<_, Infallible>(response) }
                });
                tokio::spawn(async move {
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Fake {
            endpoint: format!("http://{addr}/enkeltoppslag/kjoretoydata"),
            calls,
            seen,
        }
    }

    fn reply(status: u16, body: impl Into<Bytes>) -> http::Response<Full<Bytes>> {
        let mut response = http::Response::new(Full::new(body.into()));
        *response.status_mut() = http::StatusCode::from_u16(status).expect("valid status");
        response
    }

    fn reply_with_retry_after(status: u16, retry_after: &str) -> http::Response<Full<Bytes>> {
        let mut response = reply(status, fixture("error-422-kvote.txt"));
        let value = HeaderValue::from_str(retry_after).expect("header value");
        response
            .headers_mut()
            .insert(reqwest::header::RETRY_AFTER, value);
        response
    }

    /// A fake speaking raw HTTP/1.1: it reads the request head, writes `reply`, then keeps the
    /// connection open without another byte. Returns the endpoint and the accept count.
    async fn raw_fake(reply: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind raw fake");
        let addr: SocketAddr = listener.local_addr().expect("raw fake address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        let reply = Arc::new(reply);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let reply = Arc::clone(&reply);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let _ = stream.write_all(&reply).await;
                    // Hold the connection open, silent, until the client gives up.
                    let _ = stream.read(&mut buffer).await;
                });
            }
        });
        (
            format!("http://{addr}/enkeltoppslag/kjoretoydata"),
            accepted,
        )
    }

    #[tokio::test]
    async fn a_found_vehicle_returns_the_body_and_the_request_follows_the_contract() {
        let body = fixture("bev-kia-niro-ec47213.json");
        let fake = {
            let body = body.clone();
            start_fake(move |_| reply(200, body.clone())).await
        };
        let plate = Plate::parse("EC47213").expect("valid plate");

        let found = fake.client().fetch(&plate).await.expect("lookup succeeds");

        assert_eq!(found.as_deref(), Some(body.as_slice()));
        let seen = fake.seen();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].path, "/enkeltoppslag/kjoretoydata");
        assert_eq!(seen[0].query.as_deref(), Some("kjennemerke=EC47213"));
        let header = |name: &str| seen[0].headers.get(name).and_then(|v| v.to_str().ok());
        assert_eq!(
            header("svv-authorization"),
            Some(format!("Apikey {KEY}").as_str())
        );
        assert_eq!(header("accept"), Some("application/json"));
    }

    #[tokio::test]
    async fn a_personal_plate_is_percent_encoded_as_utf8() {
        let fake = start_fake(|_| reply(204, "")).await;
        assert_eq!(fake.client().fetch_plate("ELBØL&x=1").await, Ok(None));
        assert_eq!(
            fake.seen()[0].query.as_deref(),
            Some("kjennemerke=ELB%C3%98L%26x%3D1")
        );
    }

    #[tokio::test]
    async fn an_endpoint_with_a_query_string_gets_the_plate_appended_with_an_ampersand() {
        let fake = start_fake(|_| reply(204, "")).await;
        let client = VegvesenClient::new(settings(&format!("{}?versjon=2", fake.endpoint)));
        assert_eq!(client.fetch_plate("EC47213").await, Ok(None));
        assert_eq!(
            fake.seen()[0].query.as_deref(),
            Some("versjon=2&kjennemerke=EC47213")
        );
    }

    #[tokio::test]
    async fn no_content_and_not_found_both_mean_no_vehicle() {
        for status in [204, 404] {
            let fake = start_fake(move |_| reply(status, "")).await;
            assert_eq!(
                fake.client().fetch_plate("EC47213").await,
                Ok(None),
                "HTTP {status}"
            );
            assert_eq!(fake.calls(), 1, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn a_bad_request_is_rejected_once_with_the_upstream_reason() {
        let fake = start_fake(|_| reply(400, fixture("error-400-ugyldig-format.json"))).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        let reason = Some("UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE".to_owned());
        assert_eq!(outcome, Err(LookupError::Rejected { reason }));
        assert_eq!(fake.calls(), 1);

        let fake = start_fake(|_| reply(400, "<html>Bad Request</html>")).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert_eq!(outcome, Err(LookupError::Rejected { reason: None }));
    }

    #[tokio::test]
    async fn a_rejection_reason_that_quotes_the_plate_is_withheld() {
        let fake =
            start_fake(|_| reply(400, r#"{"feilmelding":"Kjennemerke ec 47213 er ugyldig"}"#))
                .await;
        let Err(LookupError::Rejected {
            reason: Some(reason),
        }) = fake.client().fetch_plate("EC47213").await
        else {
            panic!("expected a rejection with a reason");
        };
        assert!(
            !reason.to_uppercase().replace(' ', "").contains("EC47213"),
            "{reason}"
        );
    }

    #[tokio::test]
    async fn a_refused_key_is_reported_and_not_retried() {
        for status in [401, 403] {
            let fake = start_fake(move |_| reply(status, "")).await;
            let outcome = fake.client().fetch_plate("EC47213").await;
            assert_eq!(outcome, Err(LookupError::KeyRefused { status }));
            assert_eq!(fake.calls(), 1, "HTTP {status}");
        }
    }

    #[tokio::test]
    async fn an_exhausted_quota_passes_on_only_a_valid_retry_after_and_is_not_retried() {
        let far = std::time::SystemTime::now() + Duration::from_secs(7 * 86_400);
        let far = httpdate::fmt_http_date(far);
        let cases = [
            (429, "3600".to_owned(), Some(3600..=3600)),
            // A date is measured from now: about a week, give or take the test's own run time.
            (422, far, Some(7 * 86_400 - 60..=7 * 86_400)),
            (429, "after midnight".to_owned(), None),
        ];
        for (status, header, expected) in cases {
            let value = header.clone();
            let fake = start_fake(move |_| reply_with_retry_after(status, &value)).await;
            let outcome = fake.client().fetch_plate("EC47213").await;
            match (outcome, &expected) {
                (Err(LookupError::QuotaExhausted { retry_after: None }), None) => {}
                (
                    Err(LookupError::QuotaExhausted {
                        retry_after: Some(d),
                    }),
                    Some(range),
                ) => {
                    assert!(range.contains(&d.as_secs()), "{header}: {d:?}");
                }
                (other, _) => panic!("{header}: {other:?}"),
            }
            assert_eq!(fake.calls(), 1);
        }
        let fake = start_fake(|_| reply(429, "")).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert_eq!(
            outcome,
            Err(LookupError::QuotaExhausted { retry_after: None })
        );
    }

    #[tokio::test]
    async fn a_server_error_is_tried_max_retries_plus_one_times() {
        let fake = start_fake(|_| reply(500, "oops")).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert_eq!(outcome, Err(LookupError::Upstream { status: 500 }));
        assert_eq!(fake.calls(), 3);

        let fake = start_fake(|_| reply(503, "")).await;
        let client = VegvesenClient::new(ClientSettings {
            max_retries: 0,
            ..settings(&fake.endpoint)
        });
        assert_eq!(
            client.fetch_plate("EC47213").await,
            Err(LookupError::Upstream { status: 503 })
        );
        assert_eq!(fake.calls(), 1);
    }

    #[tokio::test]
    async fn a_server_error_followed_by_success_returns_the_body() {
        let fake = start_fake(|n| {
            if n == 1 {
                reply(502, "")
            } else {
                reply(200, "{}")
            }
        })
        .await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert_eq!(outcome, Ok(Some(Bytes::from_static(b"{}"))));
        assert_eq!(fake.calls(), 2);
    }

    #[tokio::test]
    async fn another_status_is_an_upstream_error_without_retry() {
        let fake = start_fake(|_| reply(418, "")).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert_eq!(outcome, Err(LookupError::Upstream { status: 418 }));
        assert_eq!(fake.calls(), 1);
    }

    #[tokio::test]
    async fn a_body_over_the_cap_is_a_bad_response() {
        let fake = start_fake(|_| reply(200, vec![b' '; MAX_BODY_BYTES + 1])).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert!(
            matches!(outcome, Err(LookupError::BadResponse { .. })),
            "{outcome:?}"
        );

        let fake = start_fake(|_| reply(200, vec![b' '; MAX_BODY_BYTES])).await;
        let outcome = fake.client().fetch_plate("EC47213").await;
        assert_eq!(
            outcome.map(|body| body.map(|b| b.len())),
            Ok(Some(MAX_BODY_BYTES))
        );
    }

    #[tokio::test]
    async fn an_unannounced_body_over_the_cap_is_cut_off_while_streaming() {
        // Chunked, no Content-Length: 2 MiB in 64 KiB chunks and never a closing chunk.
        let mut reply = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..32 {
            reply.extend_from_slice(b"10000\r\n");
            reply.extend_from_slice(&[b' '; 0x10000]);
            reply.extend_from_slice(b"\r\n");
        }
        let (endpoint, _) = raw_fake(reply).await;
        let outcome = VegvesenClient::new(settings(&endpoint))
            .fetch_plate("EC47213")
            .await;
        assert!(
            matches!(outcome, Err(LookupError::BadResponse { .. })),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_silent_upstream_times_out_once_within_the_budget() {
        let (endpoint, accepted) = raw_fake(Vec::new()).await;
        let timeout = Duration::from_millis(300);
        let client = VegvesenClient::new(ClientSettings {
            request_timeout: timeout,
            ..settings(&endpoint)
        });

        let started = std::time::Instant::now();
        let outcome = client.fetch_plate("EC47213").await;
        let elapsed = started.elapsed();

        assert_eq!(outcome, Err(LookupError::Timeout));
        assert!(elapsed >= timeout, "{elapsed:?}");
        assert!(
            elapsed < timeout * 2,
            "a timeout is not retried: {elapsed:?}"
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_body_that_stalls_counts_against_the_request_timeout() {
        let reply = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{\"kjoretoy".to_vec();
        let (endpoint, _) = raw_fake(reply).await;
        let timeout = Duration::from_millis(300);
        let client = VegvesenClient::new(ClientSettings {
            request_timeout: timeout,
            ..settings(&endpoint)
        });

        let started = std::time::Instant::now();
        assert_eq!(
            client.fetch_plate("EC47213").await,
            Err(LookupError::Timeout)
        );
        // About the timeout, not a hang; slack for a loaded CI machine.
        assert!(started.elapsed() < timeout * 5, "{:?}", started.elapsed());
    }

    #[tokio::test]
    async fn a_connection_dropped_before_the_answer_is_retried_then_unavailable() {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let _ = stream.read(&mut [0u8; 1024]).await;
                drop(stream);
            }
        });
        let client = VegvesenClient::new(settings(&format!("http://{addr}/kjoretoydata")));
        assert_eq!(
            client.fetch_plate("EC47213").await,
            Err(LookupError::Unavailable)
        );
        assert_eq!(accepted.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_refused_connection_is_unavailable_after_the_retries() {
        let dead = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("address")
        };
        let client = VegvesenClient::new(settings(&format!(
            "http://{dead}/enkeltoppslag/kjoretoydata"
        )));
        let started = std::time::Instant::now();
        assert_eq!(
            client.fetch_plate("EC47213").await,
            Err(LookupError::Unavailable)
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_missing_or_unusable_key_or_endpoint_is_not_configured_and_sends_nothing() {
        let fake = start_fake(|_| reply(200, "{}")).await;
        let unusable = [
            ClientSettings {
                api_key: Secret::new("  \n".to_owned()),
                ..settings(&fake.endpoint)
            },
            ClientSettings {
                api_key: Secret::new("a\nb".to_owned()),
                ..settings(&fake.endpoint)
            },
            settings("not a url"),
            settings("ftp://example.invalid/kjoretoydata"),
        ];
        for settings in unusable {
            let outcome = VegvesenClient::new(settings).fetch_plate("EC47213").await;
            assert_eq!(outcome, Err(LookupError::NotConfigured));
        }
        assert_eq!(fake.calls(), 0);

        // A trailing newline, as pasted into an env file, is not part of the key.
        let pasted = Secret::new(format!("{KEY}\n"));
        let client = VegvesenClient::new(ClientSettings {
            api_key: pasted,
            ..settings(&fake.endpoint)
        });
        assert!(client.fetch_plate("EC47213").await.is_ok());
        let sent = fake.seen()[0].headers.get("svv-authorization").cloned();
        assert_eq!(
            sent.as_ref().and_then(|v| v.to_str().ok()),
            Some(format!("Apikey {KEY}").as_str())
        );
    }

    #[test]
    fn the_key_header_is_marked_sensitive_so_http_debug_output_hides_it() {
        let client = VegvesenClient::new(settings("https://example.invalid/kjoretoydata"));
        let header = client.auth_header().expect("usable key");
        assert!(header.is_sensitive());
        assert!(!format!("{header:?}").contains(KEY));
    }

    #[tokio::test]
    async fn creating_the_client_builds_no_http_client_until_the_first_lookup() {
        let fake = start_fake(|_| reply(204, "")).await;
        let client = fake.client();
        assert!(client.http.get().is_none());
        client.fetch_plate("EC47213").await.expect("lookup");
        assert!(client.http.get().is_some());
    }

    #[tokio::test]
    async fn debug_output_of_settings_and_client_never_shows_the_key() {
        let fake = start_fake(|_| reply(204, "")).await;
        let client = fake.client();
        client.fetch_plate("EC47213").await.expect("lookup");
        for text in [
            format!("{:?}", settings(&fake.endpoint)),
            format!("{client:?}"),
        ] {
            assert!(!text.contains(KEY), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }

    /// Collects formatted log lines for one test.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("log lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn logs_carry_status_and_attempt_but_never_the_key_or_the_plate() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        // With one live dispatcher, tracing-core decides a call site's interest from whichever
        // thread hits it first; a parallel test without a subscriber would mark our call sites
        // "never". A second live dispatcher makes it ask every dispatcher instead.
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());

        let failing = start_fake(|n| {
            if n == 1 {
                reply(500, "")
            } else {
                reply(403, "")
            }
        })
        .await;
        let outcome = failing.client().fetch_plate("EC47213").await;
        assert_eq!(outcome, Err(LookupError::KeyRefused { status: 403 }));
        let dead = {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            listener.local_addr().expect("address")
        };
        let client = VegvesenClient::new(settings(&format!("http://{dead}/kjoretoydata")));
        assert_eq!(
            client.fetch_plate("EC47213").await,
            Err(LookupError::Unavailable)
        );

        let logs = String::from_utf8(captured.0.lock().expect("log lock").clone()).expect("utf-8");
        assert!(
            logs.contains("status=500") && logs.contains("attempt=1"),
            "{logs}"
        );
        assert!(logs.contains("refused the API key"), "{logs}");
        assert!(logs.contains("elapsed_ms="), "{logs}");
        assert!(!logs.contains(KEY), "{logs}");
        assert!(
            !logs.contains("EC47213") && !logs.contains("kjennemerke"),
            "{logs}"
        );
    }

    #[tokio::test]
    async fn secrets_echoed_in_an_upstream_error_never_reach_the_logs_or_the_error() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let _second = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
        // The other key configured in the same process (chat's), registered as its client does.
        // Split so that no key-shaped literal is tracked.
        const LLM_KEY: &str = concat!("sk", "-proj-vegtest-4b9X2mQ7");
        redact::register_secret(LLM_KEY);

        let bodies = [
            format!(r#"{{"feilmelding":"Ugyldig nokkel {KEY}"}}"#),
            format!(r#"{{"feilmelding":"nokkel ...{}"}}"#, &KEY[KEY.len() - 4..]),
            format!(r#"{{"feilmelding":"OpenAI {LLM_KEY}"}}"#),
            format!(
                r#"{{"feilmelding":"Incorrect API key provided: sk-proj-****{}"}}"#,
                &LLM_KEY[LLM_KEY.len() - 4..]
            ),
        ];
        let mut reasons = Vec::new();
        for body in bodies {
            let fake = start_fake(move |_| reply(400, body.clone())).await;
            let outcome = fake.client().fetch_plate("EC47213").await;
            let Err(LookupError::Rejected {
                reason: Some(reason),
            }) = outcome
            else {
                panic!("expected a rejection with a reason: {outcome:?}");
            };
            tracing::warn!(%reason, "rejected");
            reasons.push(reason);
        }

        let logs = String::from_utf8(captured.0.lock().expect("log lock").clone()).expect("utf-8");
        assert!(logs.contains("[redacted]"), "{logs}");
        for text in reasons.iter().chain([&logs]) {
            for secret in [KEY, LLM_KEY] {
                assert!(!text.contains(secret), "{text}");
                assert!(!text.contains(&secret[secret.len() - 4..]), "{text}");
            }
        }
    }

    #[test]
    fn only_transient_failures_are_retryable() {
        let retryable = [
            LookupError::Upstream { status: 500 },
            LookupError::Upstream { status: 503 },
            LookupError::Unavailable,
            LookupError::Timeout,
        ];
        let final_ = [
            LookupError::NotConfigured,
            LookupError::Rejected { reason: None },
            LookupError::KeyRefused { status: 403 },
            LookupError::QuotaExhausted { retry_after: None },
            LookupError::Upstream { status: 418 },
            LookupError::BadResponse {
                detail: String::new(),
            },
            LookupError::from(CacheError::FetchAborted),
        ];
        assert!(retryable.iter().all(LookupError::is_retryable));
        assert!(!final_.iter().any(LookupError::is_retryable));
    }
}
