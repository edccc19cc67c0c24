//! `plate-lookup`: a Norwegian registration plate → a clean vehicle summary from Statens
//! vegvesen.
//!
//! - `GET /?plate=EC47213` or `GET /EC47213` on its own endpoint; through the runner
//!   `GET /plate-lookup?plate=EC47213` and `GET /plate-lookup/EC47213`.
//! - `200 {"plate":"EC47213","vehicle":{…},"source":"…"}`; `400` for what cannot be a plate,
//!   `404` when the registry has no such vehicle, `503` when `VEGVESEN_API_KEY` is not set.
//! - Also a batch command for Scaleway Jobs: see [`job`].
//!
//! Run alone: `VEGVESEN_API_KEY=… cargo run -p plate-lookup`, then
//! `curl localhost:8080/EC47213`.

pub mod job;
pub mod rendered;

use std::sync::Arc;

use bytes::Bytes;
use elbatt::config::{ConfigError, VarSpec, var};
use elbatt::context::Context;
use elbatt::http::{Function, HttpError, Request, RequestExt, Response, json, json_bytes};
use elbatt::limit::{ClientIdentity, Limiter, Rate};
use elbatt::plate::{Plate, PlateError};
use elbatt::vehicle::VehicleSummary;
use elbatt::vehicle::client::LookupError;
use elbatt::vehicle::service::VehicleService;
use http::{Method, StatusCode};
use rendered::Rendered;
use serde::Serialize;

/// Credit the data source, as Statens vegvesen asks.
pub const SOURCE: &str = "Statens vegvesen (Kjøretøyregisteret)";

pub const PLATE_RATE_LIMIT_PER_MINUTE: VarSpec = var(
    "PLATE_RATE_LIMIT_PER_MINUTE",
    "30",
    "lookups that need Statens vegvesen (not cached) per client per minute (per instance)",
);
pub const PLATE_RATE_LIMIT_BURST: VarSpec = var(
    "PLATE_RATE_LIMIT_BURST",
    "10",
    "burst allowance for those lookups",
);

/// What plate-lookup reads itself (besides the vehicle lookup's and the client identity's).
pub const VARIABLES: &[VarSpec] = &[PLATE_RATE_LIMIT_PER_MINUTE, PLATE_RATE_LIMIT_BURST];

/// The plate-lookup function: the shared vehicle service, or nothing when unconfigured.
#[derive(Debug, Clone)]
pub struct PlateLookup {
    service: Option<Arc<VehicleService>>,
    /// Every new plate costs one call from a 50,000-a-day key, so lookups that would call
    /// Statens vegvesen are limited per client; cached answers are not.
    limiter: Arc<Limiter>,
    client: ClientIdentity,
    /// Answers kept for the plates asked about again (see [`rendered`]).
    rendered: Arc<Rendered>,
}

/// The success body.
#[derive(Debug, Serialize)]
pub struct LookupResponse<'a> {
    /// The plate as normalised and sent to the registry.
    pub plate: &'a str,
    pub vehicle: &'a VehicleSummary,
    pub source: &'static str,
}

/// Why a request could not be answered with a vehicle.
#[derive(Debug)]
pub enum PlateLookupError {
    MissingPlate,
    RateLimited { retry_after_secs: u64 },
    InvalidPlate(PlateError),
    NotFound,
    Lookup(LookupError),
}

impl std::fmt::Display for PlateLookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlateLookupError::MissingPlate => {
                f.write_str("give a plate: /plate-lookup/EC47213 or ?plate=EC47213")
            }
            PlateLookupError::InvalidPlate(e) => write!(f, "{e}"),
            PlateLookupError::NotFound => f.write_str("no vehicle with that plate"),
            PlateLookupError::RateLimited { retry_after_secs } => write!(
                f,
                "too many lookups of new plates; try again in {retry_after_secs} s"
            ),
            PlateLookupError::Lookup(e) => write!(f, "{e}"),
        }
    }
}

impl HttpError for PlateLookupError {
    fn status(&self) -> StatusCode {
        match self {
            PlateLookupError::MissingPlate => StatusCode::BAD_REQUEST,
            PlateLookupError::InvalidPlate(e) => e.status(),
            PlateLookupError::NotFound => StatusCode::NOT_FOUND,
            PlateLookupError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            PlateLookupError::Lookup(e) => e.status(),
        }
    }
    fn code(&self) -> &'static str {
        match self {
            PlateLookupError::MissingPlate => "plate_missing",
            PlateLookupError::InvalidPlate(e) => HttpError::code(e),
            PlateLookupError::NotFound => "not_found",
            PlateLookupError::RateLimited { .. } => "rate_limited",
            PlateLookupError::Lookup(e) => e.code(),
        }
    }
    fn public_message(&self) -> String {
        match self {
            PlateLookupError::Lookup(e) => e.public_message(),
            PlateLookupError::InvalidPlate(e) => e.public_message(),
            other => other.to_string(),
        }
    }
    fn retry_after(&self) -> Option<String> {
        match self {
            PlateLookupError::Lookup(e) => e.retry_after(),
            PlateLookupError::RateLimited { retry_after_secs } => {
                Some(retry_after_secs.to_string())
            }
            _ => None,
        }
    }
}

impl PlateLookup {
    /// Uses a shared service (the runner gives chat and plate-lookup the same one, so they share
    /// one cache), or `None` for "not configured".
    pub fn new(
        service: Option<Arc<VehicleService>>,
        limiter: Limiter,
        client: ClientIdentity,
    ) -> Self {
        PlateLookup {
            service,
            limiter: Arc::new(limiter),
            client,
            rendered: Arc::default(),
        }
    }

    pub fn service(&self) -> Option<&Arc<VehicleService>> {
        self.service.as_ref()
    }

    /// Looks `plate` up.
    ///
    /// # Errors
    /// Not configured, not found, or the upstream failed.
    pub async fn lookup(&self, plate: &Plate) -> Result<Arc<VehicleSummary>, PlateLookupError> {
        let service = self
            .service
            .as_ref()
            .ok_or(PlateLookupError::Lookup(LookupError::NotConfigured))?;
        service
            .lookup(plate)
            .await
            .map_err(PlateLookupError::Lookup)?
            .ok_or(PlateLookupError::NotFound)
    }

    async fn answer(&self, req: &Request) -> Result<Response, PlateLookupError> {
        let plate = plate_from(req)?;
        // A vehicle this instance holds costs no upstream call, so no limit applies to it.
        let vehicle =
            match self.service.as_ref().and_then(|s| s.cached(&plate)) {
                Some(hit) => hit.ok_or(PlateLookupError::NotFound)?,
                None => {
                    if self.service.as_ref().is_some_and(|s| !s.is_cached(&plate)) {
                        let client = self.client.key(req.headers());
                        self.limiter.check_everywhere(client).await.map_err(
                            |retry_after_secs| PlateLookupError::RateLimited { retry_after_secs },
                        )?;
                    }
                    self.lookup(&plate).await?
                }
            };
        let answer = LookupResponse {
            plate: plate.as_str(),
            vehicle: &vehicle,
            source: SOURCE,
        };
        let render = || serde_json::to_vec(&answer).ok().map(Bytes::from);
        Ok(
            match self.rendered.get_or_render(&plate, &vehicle, render) {
                Some(body) => json_bytes(StatusCode::OK, body),
                // Logged and answered as a 500 there.
                None => json(StatusCode::OK, &answer),
            },
        )
    }

    /// Answers rendered and kept for reuse (see [`rendered`]).
    pub fn rendered(&self) -> &Rendered {
        &self.rendered
    }
}

fn plate_from(req: &Request) -> Result<Plate, PlateLookupError> {
    let path = req.uri().path().trim_matches('/');
    let raw = if path.is_empty() {
        req.query_string_parameters_ref()
            .and_then(|q| q.first("plate").map(str::to_owned))
    } else if path.contains('/') {
        None
    } else {
        // Path parameters arrive percent-encoded in the URI ("EC%2047213").
        Some(elbatt::http::percent_decode(path))
    };
    let raw = raw.ok_or(PlateLookupError::MissingPlate)?;
    Plate::parse(&raw).map_err(PlateLookupError::InvalidPlate)
}

impl Function for PlateLookup {
    const NAME: &'static str = "plate-lookup";
    const METHODS: &'static [Method] = &[Method::GET];
    const ROUTES: &'static [(&'static str, &'static [Method])] = &[
        ("/plate-lookup", &[Method::GET]),
        ("/plate-lookup/{plate}", &[Method::GET]),
    ];
    const VARIABLES: &'static [&'static [VarSpec]] = &[
        elbatt::vehicle::VARIABLES,
        elbatt::limit::VARIABLES,
        VARIABLES,
        elbatt_store::VARIABLES,
    ];
    type Error = PlateLookupError;

    /// A missing key is not an error: lookups then answer 503. With a store (SQLite or
    /// PostgreSQL), lookups are shared with every instance using it (`docs/state.md`).
    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        let store = elbatt_store::Store::from_context(ctx)?;
        store.share_vehicle_cache(ctx)?;
        let env = ctx.env();
        let rate = Rate {
            per_minute: env.value::<u32>(&PLATE_RATE_LIMIT_PER_MINUTE)?.max(1),
            burst: env.value::<u32>(&PLATE_RATE_LIMIT_BURST)?.max(1),
        };
        // Every instance on the store counts the same client's new plates together.
        let limiter = Limiter::new(rate).with_shared("plate-lookup", rate, store.rate_window());
        Ok(Self::new(
            ctx.vehicles()?,
            limiter,
            ClientIdentity::from_env(env)?,
        ))
    }

    async fn call(&self, req: Request) -> Result<Response, PlateLookupError> {
        self.answer(&req).await
    }

    /// Plates are personal data: keep only the mount prefix in logs.
    fn loggable_path<'a>(&self, path: &'a str) -> std::borrow::Cow<'a, str> {
        match path.strip_prefix("/plate-lookup") {
            Some("" | "/") => path.into(),
            Some(_) => "/plate-lookup/<plate>".into(),
            None if path == "/" => path.into(),
            None => "/<plate>".into(),
        }
    }

    fn status(&self) -> String {
        if self.service.is_some() {
            "ready".to_owned()
        } else {
            "unconfigured: set VEGVESEN_API_KEY to enable plate lookup (answers 503 until then)"
                .to_owned()
        }
    }
}
