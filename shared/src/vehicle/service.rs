//! The vehicle lookup both `plate-lookup` and `chat` use: a `Plate` in, a summary out, through
//! one cache per instance in front of the Statens vegvesen client.
//!
//! Found vehicles and "no such vehicle" answers are cached (with their own lifetimes); upstream
//! failures are not. Concurrent lookups of one plate share a single upstream call.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use http::StatusCode;

use super::cache::{Cache, CacheStats};
use super::client::{ClientSettings, LookupError, VegvesenClient};
use super::model::KjoretoydataResponse;
use super::shared_cache::SharedVehicleCache;
use super::summary::{VehicleSummary, norway_date, summarize};
use crate::config::{ConfigError, Env, VarSpec, secret, var};
use crate::http::HttpError;
use crate::metrics;
use crate::outbound::redact::redact;
use crate::plate::Plate;
use time::OffsetDateTime;

pub const VEGVESEN_ENDPOINT: VarSpec = var(
    "VEGVESEN_ENDPOINT",
    // The real enkeltoppslag endpoint: `api.vegvesen.no/vehicles`, named in older deployment
    // notes, is a placeholder that does not exist (docs/upstreams/vegvesen.md#endpoint-and-key).
    "https://akfell-datautlevering.atlas.vegvesen.no/enkeltoppslag/kjoretoydata",
    "Statens vegvesen enkeltoppslag URL",
);
pub const VEGVESEN_API_KEY: VarSpec = secret(
    "VEGVESEN_API_KEY",
    "Statens vegvesen API key; unset = plate lookup off (503)",
);
pub const VEGVESEN_TIMEOUT_SECS: VarSpec = var(
    "VEGVESEN_TIMEOUT_SECS",
    "10",
    "per-attempt timeout for Vegvesen calls",
);
pub const PLATE_CACHE_TTL_SECS: VarSpec = var(
    "PLATE_CACHE_TTL_SECS",
    "86400",
    "how long a found vehicle is cached",
);
pub const PLATE_CACHE_NOT_FOUND_TTL_SECS: VarSpec = var(
    "PLATE_CACHE_NOT_FOUND_TTL_SECS",
    "600",
    "how long a not-found answer is cached",
);
pub const PLATE_CACHE_CAPACITY: VarSpec = var(
    "PLATE_CACHE_CAPACITY",
    "10000",
    "maximum cached plates per instance",
);

/// What the vehicle lookup reads (plate-lookup and chat both use it). The plain-HTTP opt-in
/// is listed here because every function with an upstream reads these.
pub const VARIABLES: &[VarSpec] = &[
    VEGVESEN_ENDPOINT,
    crate::outbound::ALLOW_PLAIN_HTTP_UPSTREAMS,
    VEGVESEN_API_KEY,
    VEGVESEN_TIMEOUT_SECS,
    PLATE_CACHE_TTL_SECS,
    PLATE_CACHE_NOT_FOUND_TTL_SECS,
    PLATE_CACHE_CAPACITY,
];

/// Settings for the lookup: the upstream client and the cache.
#[derive(Debug, Clone)]
pub struct VehicleConfig {
    pub client: ClientSettings,
    pub found_ttl: Duration,
    pub not_found_ttl: Duration,
    pub capacity: usize,
}

impl VehicleConfig {
    /// `None` when `VEGVESEN_API_KEY` is unset: plate lookup is off and answers 503.
    ///
    /// # Errors
    /// A Vegvesen or cache variable is set but malformed.
    pub fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let endpoint: String = env.value(&VEGVESEN_ENDPOINT)?;
        let endpoint = endpoint.trim().to_owned();
        crate::outbound::check_upstream_url(env, VEGVESEN_ENDPOINT.name, &endpoint)?;
        let request_timeout = env.duration(&VEGVESEN_TIMEOUT_SECS)?;
        let found_ttl = env.duration(&PLATE_CACHE_TTL_SECS)?;
        let not_found_ttl = env.duration(&PLATE_CACHE_NOT_FOUND_TTL_SECS)?;
        let capacity: usize = env.value(&PLATE_CACHE_CAPACITY)?;
        if capacity == 0 {
            return Err(ConfigError::new(
                "PLATE_CACHE_CAPACITY",
                "must be at least 1",
            ));
        }
        let Some(api_key) = env.secret(VEGVESEN_API_KEY.name) else {
            return Ok(None);
        };
        Ok(Some(VehicleConfig {
            client: ClientSettings {
                endpoint,
                api_key,
                connect_timeout: request_timeout.min(Duration::from_secs(5)),
                request_timeout,
                max_retries: 2,
                retry_base_delay: Duration::from_millis(200),
            },
            found_ttl,
            not_found_ttl,
            capacity,
        }))
    }
}

/// How long every instance stops calling after the registry said its quota is spent without a
/// usable `Retry-After`.
pub const QUOTA_PAUSE: Duration = Duration::from_secs(600);

/// Plate → vehicle summary, cached. Cheap to build: no HTTP client exists until the first
/// lookup that misses the cache.
#[derive(Debug)]
pub struct VehicleService {
    client: Arc<VegvesenClient>,
    cache: Cache<Plate, Option<Arc<VehicleSummary>>>,
    found_ttl: Duration,
    not_found_ttl: Duration,
    clock: Clock,
    /// The cache shared with other instances, when a store provides one.
    shared: OnceLock<Arc<dyn SharedVehicleCache>>,
}

/// Where the service's "now" comes from: the system clock, or a test's.
#[derive(Clone)]
struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl VehicleService {
    /// The instance's service, or `None` when `VEGVESEN_API_KEY` is unset.
    ///
    /// # Errors
    /// A Vegvesen or cache variable is malformed.
    pub fn from_env(env: &Env) -> Result<Option<Arc<Self>>, ConfigError> {
        Ok(VehicleConfig::from_env(env)?.map(|c| Arc::new(VehicleService::new(c))))
    }

    pub fn new(config: VehicleConfig) -> Self {
        VehicleService {
            client: Arc::new(VegvesenClient::new(config.client)),
            // Not-found plates are free to invent: a quarter of the slots at most, and never
            // at the expense of a vehicle that was found.
            cache: Cache::with_negatives(config.capacity, (config.capacity / 4).max(1), |v| {
                v.is_none()
            }),
            found_ttl: config.found_ttl,
            not_found_ttl: config.not_found_ttl,
            clock: Clock(Arc::new(OffsetDateTime::now_utc)),
            shared: OnceLock::new(),
        }
    }

    /// Puts `shared` behind this instance's cache (the first call wins: one per process).
    pub fn set_shared_cache(&self, shared: Arc<dyn SharedVehicleCache>) {
        let _ = self.shared.set(shared);
    }

    /// The service with `now` as its clock instead of the system's (tests move time on).
    #[must_use]
    pub fn with_clock(mut self, now: impl Fn() -> OffsetDateTime + Send + Sync + 'static) -> Self {
        self.clock = Clock(Arc::new(now));
        self
    }

    /// The summary for `plate`, or `None` when the registry has no such vehicle.
    ///
    /// What depends on the date (EU-kontroll overdue, battery warranty expired) is as of today
    /// in Norway, also for a summary cached on an earlier day: it is worked out again from the
    /// stored dates on every answer.
    ///
    /// # Errors
    /// The upstream failed; see [`LookupError`] (each maps to a status via [`HttpError`]).
    pub async fn lookup(&self, plate: &Plate) -> Result<Option<Arc<VehicleSummary>>, LookupError> {
        if let Some(found) = self.cached(plate) {
            return Ok(found);
        }
        let client = Arc::clone(&self.client);
        let (found_ttl, not_found_ttl) = (self.found_ttl, self.not_found_ttl);
        let key = plate.clone();
        let now = (self.clock.0)();
        let today = norway_date(now);
        let shared = self.shared.get().cloned();
        // Set when this call's fetch runs (a miss); waiting for another call's fetch costs no
        // upstream call and counts as a hit.
        let missed = Arc::new(AtomicBool::new(false));
        let fetching = Arc::clone(&missed);
        let found = self
            .cache
            .get_or_fetch(plate.clone(), move || async move {
                fetching.store(true, Ordering::Relaxed);
                let now_ms = i64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
                let from_shared = match &shared {
                    Some(l2) => {
                        let found = l2.get(key.as_str(), now_ms).await;
                        metrics::plate_cache(metrics::Layer::Shared, found.is_some());
                        found
                    }
                    None => None,
                };
                let body = match from_shared {
                    Some(body) => body.map(bytes::Bytes::from),
                    None => {
                        if let Some(l2) = &shared {
                            // The quota and a pause are shared: no instance calls past them.
                            if let Err(wait) = l2.take_call(now_ms).await {
                                return Err(LookupError::QuotaExhausted {
                                    retry_after: Some(wait),
                                });
                            }
                        }
                        let body = match client.fetch(&key).await {
                            Ok(body) => body,
                            Err(e @ LookupError::QuotaExhausted { retry_after }) => {
                                if let Some(l2) = &shared {
                                    let wait = retry_after.unwrap_or(QUOTA_PAUSE);
                                    let wait_ms =
                                        i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                                    l2.pause(now_ms.saturating_add(wait_ms)).await;
                                }
                                return Err(e);
                            }
                            Err(e) => return Err(e),
                        };
                        if let Some(l2) = &shared {
                            // Only answers that parse are shared.
                            let ttl = match &body {
                                Some(b) if parse_response_on(b, today)?.is_some() => found_ttl,
                                _ => not_found_ttl,
                            };
                            let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
                            l2.put(
                                key.as_str(),
                                body.as_ref().map(|b| b.to_vec()),
                                now_ms.saturating_add(ttl_ms),
                            )
                            .await;
                        }
                        body
                    }
                };
                let summary = match body {
                    None => None,
                    Some(bytes) => parse_response_on(&bytes, today)?,
                };
                let ttl = if summary.is_some() {
                    found_ttl
                } else {
                    not_found_ttl
                };
                Ok::<_, LookupError>((summary, ttl))
            })
            .await;
        metrics::plate_cache(metrics::Layer::Memory, !missed.load(Ordering::Relaxed));
        Ok(found?.map(|summary| summary.as_of(today)))
    }

    /// The answer [`VehicleService::lookup`] would give from this instance's memory, if it has
    /// a fresh one (`Some(None)`: known not to exist), counted as a hit. A cache hit is most
    /// lookups; this path builds none of a fetch's state (callgrind, docs/performance.md).
    pub fn cached(&self, plate: &Plate) -> Option<Option<Arc<VehicleSummary>>> {
        let found = self.cache.get(plate)?;
        metrics::plate_cache(metrics::Layer::Memory, true);
        let today = norway_date((self.clock.0)());
        Some(found.map(|summary| summary.as_of(today)))
    }

    /// Whether looking `plate` up now would cost no call to Statens vegvesen (cached, or being
    /// fetched for someone else). A rate limit on costly lookups asks this first.
    pub fn is_cached(&self, plate: &Plate) -> bool {
        self.cache.is_warm(plate)
    }

    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }
}

/// The first vehicle in a 200 body. An empty list (with or without `feilmelding`) is "not
/// found"; anything that is not the documented JSON is a bad response.
///
/// Public so the fuzz target (`fuzz/fuzz_targets/vegvesen_mapping.rs`) exercises exactly the
/// path a lookup takes from upstream bytes to the summary.
///
/// # Errors
/// [`LookupError::BadResponse`] when the body is not the documented JSON envelope.
pub fn parse_response(body: &[u8]) -> Result<Option<Arc<VehicleSummary>>, LookupError> {
    parse_response_on(body, norway_date(OffsetDateTime::now_utc()))
}

/// [`parse_response`] with the date flags as of `today` (in Norway).
fn parse_response_on(
    body: &[u8],
    today: time::Date,
) -> Result<Option<Arc<VehicleSummary>>, LookupError> {
    // serde's messages quote pieces of the body: upstream text, redacted like all of it.
    let bad = |detail: String| LookupError::BadResponse {
        detail: redact(&detail),
    };
    // The model reads odd fields leniently (placeholders, wrong types); the envelope itself must
    // be the documented one, or the answer is not trusted at all.
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| bad(format!("not JSON: {e}")))?;
    let envelope_ok = value.as_object().is_some_and(|o| {
        o.get("kjoretoydataListe")
            .is_none_or(|l| l.is_array() || l.is_null())
    });
    if !envelope_ok {
        return Err(bad("not a kjoretoydata response".into()));
    }
    let response: KjoretoydataResponse =
        serde_json::from_value(value).map_err(|e| bad(format!("not the documented JSON: {e}")))?;
    let Some(record) = response.kjoretoydata_liste.first() else {
        if let Some(msg) = &response.feilmelding {
            let msg: String = msg.chars().take(200).collect();
            tracing::info!(feilmelding = %redact(&msg), "Statens vegvesen returned no vehicle");
        }
        return Ok(None);
    };
    Ok(Some(Arc::new(summarize(record, today))))
}

impl HttpError for LookupError {
    fn status(&self) -> StatusCode {
        match self {
            LookupError::NotConfigured | LookupError::QuotaExhausted { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            LookupError::Rejected { .. } => StatusCode::BAD_REQUEST,
            LookupError::Timeout => StatusCode::GATEWAY_TIMEOUT,
            LookupError::KeyRefused { .. }
            | LookupError::Upstream { .. }
            | LookupError::Unavailable
            | LookupError::BadResponse { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            LookupError::NotConfigured => "not_configured",
            LookupError::Rejected { .. } => "plate_rejected",
            LookupError::KeyRefused { .. } => "upstream_auth",
            LookupError::QuotaExhausted { .. } => "upstream_quota",
            LookupError::Upstream { .. }
            | LookupError::Unavailable
            | LookupError::BadResponse { .. } => "upstream_error",
            LookupError::Timeout => "upstream_timeout",
        }
    }

    fn public_message(&self) -> String {
        match self {
            LookupError::NotConfigured => {
                "plate lookup is not configured on this server: set VEGVESEN_API_KEY".to_owned()
            }
            // The upstream's own text is logged, never passed on.
            LookupError::Rejected { .. } => "Statens vegvesen does not accept this plate".to_owned(),
            LookupError::QuotaExhausted { .. } => {
                "the daily Statens vegvesen quota is used up; try again after midnight Norwegian time".to_owned()
            }
            LookupError::Timeout => "Statens vegvesen did not answer in time".to_owned(),
            _ => "Statens vegvesen could not be reached; try again later".to_owned(),
        }
    }

    fn retry_after(&self) -> Option<String> {
        match self {
            LookupError::QuotaExhausted { retry_after } => {
                retry_after.map(crate::outbound::retry_after::header_value)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use time::macros::datetime;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A registry on 127.0.0.1:0 answering every request with `body` (200); counts requests.
    async fn registry(body: Vec<u8>) -> (String, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&calls);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
        });
        (format!("http://{addr}/enkeltoppslag/kjoretoydata"), calls)
    }

    #[tokio::test]
    async fn a_summary_cached_before_the_eu_kontroll_deadline_says_overdue_after_it() {
        // The invented Kia Niro: EU-kontroll due 2026-09-30.
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/vegvesen/bev-kia-niro-ec47213.json"
        ))
        .unwrap();
        let (endpoint, calls) = registry(body).await;
        let env = Env::from_pairs([
            ("VEGVESEN_API_KEY", "service-test-key"),
            ("VEGVESEN_ENDPOINT", endpoint.as_str()),
        ]);
        // The deadline day itself, late evening in Norway (21:30 UTC is 23:30 summer time).
        let now = Arc::new(Mutex::new(datetime!(2026-09-30 21:30 UTC)));
        let clock = Arc::clone(&now);
        let service = VehicleService::new(VehicleConfig::from_env(&env).unwrap().unwrap())
            .with_clock(move || *clock.lock().unwrap());
        let plate = Plate::parse("EC47213").unwrap();

        let before = service.lookup(&plate).await.unwrap().unwrap();
        assert_eq!(before.eu_control_deadline.as_deref(), Some("2026-09-30"));
        assert_eq!(before.eu_control_overdue, Some(false));

        // One hour later it is 1 October in Norway; the answer comes from the cache.
        *now.lock().unwrap() = datetime!(2026-09-30 22:30 UTC);
        let after = service.lookup(&plate).await.unwrap().unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1, "served from the cache");
        assert_eq!(after.eu_control_overdue, Some(true));
        assert_eq!(
            before.eu_control_overdue,
            Some(false),
            "the answer already given is not changed"
        );
    }

    #[test]
    fn an_http_endpoint_that_is_not_loopback_is_refused_unless_allowed() {
        let env = |pairs: &[(&str, &str)]| {
            Env::from_pairs(
                [("VEGVESEN_API_KEY", "k")]
                    .into_iter()
                    .chain(pairs.iter().copied()),
            )
        };
        let plain = [("VEGVESEN_ENDPOINT", "http://vegvesen.example/kjoretoydata")];
        let err = VehicleConfig::from_env(&env(&plain)).unwrap_err();
        assert_eq!(err.var, "VEGVESEN_ENDPOINT");
        assert!(
            err.to_string().contains("ALLOW_PLAIN_HTTP_UPSTREAMS"),
            "{err}"
        );
        let allowed = [plain[0], ("ALLOW_PLAIN_HTTP_UPSTREAMS", "1")];
        assert!(VehicleConfig::from_env(&env(&allowed)).unwrap().is_some());
        let local = [("VEGVESEN_ENDPOINT", "http://127.0.0.1:9/kjoretoydata")];
        assert!(VehicleConfig::from_env(&env(&local)).unwrap().is_some());
    }

    #[test]
    fn an_empty_list_is_not_found_and_garbage_is_a_bad_response() {
        assert!(
            parse_response(br#"{"kjoretoydataListe":[]}"#)
                .unwrap()
                .is_none()
        );
        assert!(
            parse_response(br#"{"feilmelding":"KJENNEMERKE_UKJENT"}"#)
                .unwrap()
                .is_none()
        );
        assert!(matches!(
            parse_response(b"<html>"),
            Err(LookupError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_response(br#"{"kjoretoydataListe":{"x":1}}"#),
            Err(LookupError::BadResponse { .. })
        ));
        assert!(matches!(
            parse_response(b"[]"),
            Err(LookupError::BadResponse { .. })
        ));
    }

    #[test]
    fn statuses_follow_the_documented_mapping() {
        let cases = [
            (LookupError::NotConfigured, 503),
            (LookupError::Rejected { reason: None }, 400),
            (LookupError::KeyRefused { status: 403 }, 502),
            (
                LookupError::QuotaExhausted {
                    retry_after: Some(Duration::from_secs(3600)),
                },
                503,
            ),
            (LookupError::Upstream { status: 500 }, 502),
            (LookupError::Unavailable, 502),
            (LookupError::Timeout, 504),
            (LookupError::BadResponse { detail: "x".into() }, 502),
        ];
        for (err, status) in cases {
            assert_eq!(err.status().as_u16(), status, "{err:?}");
        }
        let quota = LookupError::QuotaExhausted {
            retry_after: Some(Duration::from_secs(3600)),
        };
        assert_eq!(quota.retry_after().as_deref(), Some("3600"));
        let rejected = LookupError::Rejected {
            reason: Some("UGYLDIG_FORMAT_UNR_ELLER_KJENNEMERKE".into()),
        };
        assert!(!rejected.public_message().contains("UGYLDIG"));
    }

    #[test]
    fn no_key_means_lookup_is_off_and_bad_values_name_their_variable() {
        assert!(VehicleConfig::from_env(&Env::default()).unwrap().is_none());
        let env = Env::from_pairs([("VEGVESEN_API_KEY", "k"), ("PLATE_CACHE_CAPACITY", "lots")]);
        assert_eq!(
            VehicleConfig::from_env(&env).unwrap_err().var,
            "PLATE_CACHE_CAPACITY"
        );
        let env = Env::from_pairs([("VEGVESEN_API_KEY", "k"), ("VEGVESEN_ENDPOINT", "ftp://x")]);
        assert_eq!(
            VehicleConfig::from_env(&env).unwrap_err().var,
            "VEGVESEN_ENDPOINT"
        );
        let env = Env::from_pairs([("VEGVESEN_API_KEY", "k")]);
        let cfg = VehicleConfig::from_env(&env).unwrap().unwrap();
        assert_eq!(cfg.client.endpoint, VEGVESEN_ENDPOINT.default.describe());
        assert!(!format!("{cfg:?}").contains("\"k\""));
    }
}
