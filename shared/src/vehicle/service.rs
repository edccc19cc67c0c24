//! The vehicle lookup both `plate-lookup` and `chat` use: a `Plate` in, a summary out, through
//! one cache per instance in front of the Statens vegvesen client.
//!
//! Found vehicles and "no such vehicle" answers are cached (with their own lifetimes); upstream
//! failures are not. Concurrent lookups of one plate share a single upstream call.

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use super::cache::{Cache, CacheStats};
use super::client::{ClientSettings, LookupError, VegvesenClient};
use super::model::KjoretoydataResponse;
use super::summary::{VehicleSummary, summarize};
use crate::config::{ConfigError, Env, VarSpec, secret, var};
use crate::http::HttpError;
use crate::plate::Plate;

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

/// What the vehicle lookup reads (plate-lookup and chat both use it).
pub const VARIABLES: &[VarSpec] = &[
    VEGVESEN_ENDPOINT,
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
        if !(endpoint.starts_with("https://") || endpoint.starts_with("http://")) {
            return Err(ConfigError::new(
                "VEGVESEN_ENDPOINT",
                "must be an http(s) URL",
            ));
        }
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

/// Plate → vehicle summary, cached. Cheap to build: no HTTP client exists until the first
/// lookup that misses the cache.
#[derive(Debug)]
pub struct VehicleService {
    client: Arc<VegvesenClient>,
    cache: Cache<Plate, Option<Arc<VehicleSummary>>>,
    found_ttl: Duration,
    not_found_ttl: Duration,
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
        }
    }

    /// The summary for `plate`, or `None` when the registry has no such vehicle.
    ///
    /// # Errors
    /// The upstream failed; see [`LookupError`] (each maps to a status via [`HttpError`]).
    pub async fn lookup(&self, plate: &Plate) -> Result<Option<Arc<VehicleSummary>>, LookupError> {
        let client = Arc::clone(&self.client);
        let (found_ttl, not_found_ttl) = (self.found_ttl, self.not_found_ttl);
        let key = plate.clone();
        self.cache
            .get_or_fetch(plate.clone(), move || async move {
                let body = client.fetch(&key).await?;
                let summary = match body {
                    None => None,
                    Some(bytes) => parse_response(&bytes)?,
                };
                let ttl = if summary.is_some() {
                    found_ttl
                } else {
                    not_found_ttl
                };
                Ok((summary, ttl))
            })
            .await
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
    let bad = |detail: String| LookupError::BadResponse { detail };
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
            tracing::info!(feilmelding = %msg, "Statens vegvesen returned no vehicle");
        }
        return Ok(None);
    };
    // Today in Norway, for the warranty and EU-kontroll flags.
    let today = super::summary::norway_date(time::OffsetDateTime::now_utc());
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
