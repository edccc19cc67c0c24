//! [`Store`]: the one handle per process, shared through the `Context`. It opens the backend
//! and migrates on first use (the runner's first request or readiness probe, a Function's first
//! call), retries a failed open at most every [`RETRY_EVERY`], logs when the store goes down or
//! comes back (once, not per request), and runs retention at start and then hourly, off the
//! request path.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use elbatt::config::ConfigError;
use elbatt::context::Context;
use elbatt::limit::SharedWindow;
use elbatt::vehicle::shared_cache::{CachedBody, SharedVehicleCache};
use serde::Serialize;

use crate::Backend;
use crate::config::{Mode, StoreConfig, VEGVESEN_DAILY_QUOTA};
use crate::model::{StoreError, now_ms};
use crate::postgres::Postgres;
use crate::schema::LATEST;
use crate::sqlite::Sqlite;

/// A failed open is not retried sooner than this (a flood of requests must not become a flood
/// of connection attempts).
pub const RETRY_EVERY: Duration = Duration::from_secs(5);
/// How often retention runs after the first time.
pub const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// How long readiness waits for the store.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Attempt {
    at: Option<Instant>,
    error: Option<StoreError>,
}

/// The process's store.
#[derive(Debug)]
pub struct Store {
    cfg: StoreConfig,
    ready: OnceLock<Arc<dyn Backend>>,
    opening: tokio::sync::Mutex<Attempt>,
    down: Mutex<bool>,
}

/// Readiness as `/ready` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadinessState {
    Ok,
    Degraded,
    NotConfigured,
}

/// The store's readiness: state, mode, schema version, and a reason without secrets.
#[derive(Debug, Clone, Serialize)]
pub struct Readiness {
    pub state: ReadinessState,
    pub mode: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl Store {
    pub fn new(cfg: StoreConfig) -> Store {
        tracing::info!(mode = cfg.mode.name(), "store: {}", cfg.mode.describe());
        Store {
            cfg,
            ready: OnceLock::new(),
            opening: tokio::sync::Mutex::default(),
            down: Mutex::new(false),
        }
    }

    /// No store (stateless), without the start-up log line: the default of a function built
    /// without a `Context`.
    pub fn disabled() -> Store {
        Store {
            cfg: StoreConfig {
                mode: Mode::Off,
                retention: None,
            },
            ready: OnceLock::new(),
            opening: tokio::sync::Mutex::default(),
            down: Mutex::new(false),
        }
    }

    /// The one store of `ctx` (built on first ask, shared by every function of the process).
    ///
    /// # Errors
    /// A store variable is malformed.
    pub fn from_context(ctx: &Context) -> Result<Arc<Store>, ConfigError> {
        ctx.shared(|env| StoreConfig::from_env(env).map(|c| Arc::new(Store::new(c))))
    }

    pub fn mode(&self) -> &Mode {
        &self.cfg.mode
    }

    /// Whether a store is configured at all (`STORE=off` is not).
    pub fn enabled(&self) -> bool {
        !matches!(self.cfg.mode, Mode::Off)
    }

    /// The backend, opened and migrated.
    ///
    /// # Errors
    /// No store configured, the database unreachable (the error of the last attempt within
    /// [`RETRY_EVERY`]), or a schema newer than this build's.
    pub async fn backend(&self) -> Result<Arc<dyn Backend>, StoreError> {
        if let Some(b) = self.ready.get() {
            return Ok(Arc::clone(b));
        }
        if !self.enabled() {
            return Err(StoreError::NotConfigured);
        }
        let mut attempt = self.opening.lock().await;
        if let Some(b) = self.ready.get() {
            return Ok(Arc::clone(b));
        }
        if let (Some(at), Some(e)) = (attempt.at, &attempt.error) {
            if at.elapsed() < RETRY_EVERY {
                return Err(e.clone());
            }
        }
        attempt.at = Some(Instant::now());
        match self.open().await {
            Ok(backend) => {
                attempt.error = None;
                self.mark(true, None);
                self.spawn_retention(Arc::clone(&backend));
                Ok(Arc::clone(self.ready.get_or_init(|| backend)))
            }
            Err(e) => {
                self.mark(false, Some(&e));
                attempt.error = Some(e.clone());
                Err(e)
            }
        }
    }

    async fn open(&self) -> Result<Arc<dyn Backend>, StoreError> {
        let backend: Arc<dyn Backend> = match &self.cfg.mode {
            Mode::Off => return Err(StoreError::NotConfigured),
            Mode::Memory => Arc::new(Sqlite::in_memory()?),
            Mode::Sqlite(path) => {
                let path = path.clone();
                Arc::new(
                    tokio::task::spawn_blocking(move || Sqlite::open(&path))
                        .await
                        .map_err(|e| StoreError::Unavailable(e.to_string()))??,
                )
            }
            Mode::Postgres(options) => Arc::new(Postgres::new((**options).clone())?),
        };
        backend.migrate_to(LATEST).await?;
        Ok(backend)
    }

    /// Records a result of the store; logs only when it changes (down → up, up → down).
    pub fn mark(&self, ok: bool, error: Option<&StoreError>) {
        let mut down = self
            .down
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if ok && *down {
            tracing::info!(mode = self.cfg.mode.name(), "store: available again");
        } else if !ok && !*down {
            let error = error.map(ToString::to_string).unwrap_or_default();
            tracing::error!(mode = self.cfg.mode.name(), %error, "store: unavailable; chat answers without it until it is back");
        }
        *down = !ok;
    }

    fn spawn_retention(&self, backend: Arc<dyn Backend>) {
        // Retention off keeps conversations forever, but expired turn events, counter windows
        // and cached lookups are still swept (nothing else ever deletes them).
        let keep_ms = self
            .cfg
            .retention
            .map(|r| i64::try_from(r.as_millis()).unwrap_or(i64::MAX));
        tokio::spawn(async move {
            loop {
                let now = now_ms();
                // No conversation was updated before `i64::MIN`: none is erased.
                let before = keep_ms.map_or(i64::MIN, |keep| now.saturating_sub(keep));
                match backend.purge(before, now).await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(conversations = n, "store: retention erased conversations")
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "store: retention failed; retrying in an hour")
                    }
                }
                tokio::time::sleep(PURGE_EVERY).await;
            }
        });
    }

    /// Opens the store if needed and makes one round trip.
    pub async fn readiness(&self) -> Readiness {
        let mode = self.cfg.mode.name();
        if !self.enabled() {
            return Readiness {
                state: ReadinessState::NotConfigured,
                mode,
                schema_version: None,
                reason: None,
            };
        }
        let checked = tokio::time::timeout(PING_TIMEOUT, async {
            let backend = self.backend().await?;
            backend.ping().await?;
            Ok::<_, StoreError>(())
        })
        .await
        .unwrap_or_else(|_| Err(StoreError::Unavailable("no answer within 2 s".into())));
        match checked {
            Ok(()) => {
                self.mark(true, None);
                Readiness {
                    state: ReadinessState::Ok,
                    mode,
                    schema_version: Some(LATEST),
                    reason: None,
                }
            }
            Err(e) => {
                self.mark(false, Some(&e));
                let reason = match &e {
                    StoreError::SchemaTooNew { .. } => e.to_string(),
                    _ => "the store does not answer".to_owned(),
                };
                Readiness {
                    state: ReadinessState::Degraded,
                    mode,
                    schema_version: None,
                    reason: Some(reason),
                }
            }
        }
    }
}

/// The store as the vehicle lookup's shared second-level cache (the port
/// `elbatt::vehicle::shared_cache`). A store that fails answers "miss" and drops the write.
#[derive(Debug)]
struct StoreVehicleCache(Arc<Store>, i64);

/// Counter scopes of the Vegvesen quota and pause.
pub const VEGVESEN_CALLS: &str = "vegvesen_calls";
pub const VEGVESEN_PAUSE: &str = "vegvesen_pause";
const DAY_MS: i64 = 86_400_000;

fn wait_ms(ms: i64) -> Duration {
    Duration::from_millis(u64::try_from(ms.max(1000)).unwrap_or(1000))
}

impl SharedVehicleCache for StoreVehicleCache {
    fn get<'a>(
        &'a self,
        plate: &'a str,
        now_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Option<CachedBody>> + Send + 'a>> {
        Box::pin(async move {
            let found = async { self.0.backend().await?.vehicle_get(plate, now_ms).await };
            match tokio::time::timeout(PING_TIMEOUT, found).await {
                Ok(Ok(hit)) => hit.map(|body| body.map(String::into_bytes)),
                Ok(Err(e)) => {
                    self.0.mark(false, Some(&e));
                    None
                }
                Err(_) => None,
            }
        })
    }

    fn put<'a>(
        &'a self,
        plate: &'a str,
        body: CachedBody,
        expires_at_ms: i64,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> {
        Box::pin(async move {
            // Registry bodies are JSON, so UTF-8; anything else is not shared.
            let body = match body.map(String::from_utf8).transpose() {
                Ok(body) => body,
                Err(_) => return,
            };
            let put = async {
                self.0
                    .backend()
                    .await?
                    .vehicle_put(plate, body.as_deref(), expires_at_ms)
                    .await
            };
            if let Ok(Err(e)) = tokio::time::timeout(PING_TIMEOUT, put).await {
                self.0.mark(false, Some(&e));
            }
        })
    }

    /// A pause in force, then today's count (UTC days). The store failing lets the call through:
    /// the per-instance protections still apply.
    fn take_call(
        &self,
        now_ms: i64,
    ) -> Pin<Box<dyn Future<Output = Result<(), Duration>> + Send + '_>> {
        Box::pin(async move {
            let day = now_ms - now_ms.rem_euclid(DAY_MS);
            let check = async {
                let b = self.0.backend().await?;
                let paused = b
                    .counter_add(VEGVESEN_PAUSE, 0, 0, i64::MAX, now_ms + DAY_MS)
                    .await?
                    .unwrap_or(0);
                if paused > now_ms {
                    return Ok(Err(wait_ms(paused - now_ms)));
                }
                let counted = b
                    .counter_add(VEGVESEN_CALLS, day, 1, self.1, day + 2 * DAY_MS)
                    .await?;
                Ok::<_, StoreError>(match counted {
                    Some(_) => Ok(()),
                    None => Err(wait_ms(day + DAY_MS - now_ms)),
                })
            };
            match tokio::time::timeout(PING_TIMEOUT, check).await {
                Ok(Ok(verdict)) => verdict,
                Ok(Err(e)) => {
                    self.0.mark(false, Some(&e));
                    Ok(())
                }
                Err(_) => Ok(()),
            }
        })
    }

    fn pause(&self, until_ms: i64) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            let set = async {
                let b = self.0.backend().await?;
                let current = b
                    .counter_add(VEGVESEN_PAUSE, 0, 0, i64::MAX, until_ms + DAY_MS)
                    .await?
                    .unwrap_or(0);
                if until_ms > current {
                    b.counter_adjust(VEGVESEN_PAUSE, 0, until_ms - current)
                        .await?;
                }
                Ok::<_, StoreError>(())
            };
            if let Ok(Err(e)) = tokio::time::timeout(PING_TIMEOUT, set).await {
                self.0.mark(false, Some(&e));
            }
        })
    }
}

/// Per-client rate-limit windows in the store's counters (see `elbatt::limit`).
#[derive(Debug)]
struct StoreWindow(Arc<Store>);

impl SharedWindow for StoreWindow {
    fn hit<'a>(
        &'a self,
        key: &'a str,
        minute_ms: i64,
        cap: u32,
    ) -> Pin<Box<dyn Future<Output = Option<bool>> + Send + 'a>> {
        Box::pin(async move {
            let add = async {
                self.0
                    .backend()
                    .await?
                    .counter_add(key, minute_ms, 1, i64::from(cap), minute_ms + 120_000)
                    .await
            };
            match tokio::time::timeout(PING_TIMEOUT, add).await {
                Ok(Ok(total)) => Some(total.is_some()),
                Ok(Err(e)) => {
                    self.0.mark(false, Some(&e));
                    None
                }
                Err(_) => None,
            }
        })
    }
}

impl Store {
    /// The shared rate-limit window over this store (SQLite and PostgreSQL; in memory it would
    /// only repeat the instance's own limiter).
    pub fn rate_window(self: &Arc<Self>) -> Option<Arc<dyn SharedWindow>> {
        matches!(self.cfg.mode, Mode::Sqlite(_) | Mode::Postgres(_))
            .then(|| Arc::new(StoreWindow(Arc::clone(self))) as Arc<dyn SharedWindow>)
    }

    /// Puts this store behind the context's vehicle lookup as its shared cache (SQLite and
    /// PostgreSQL; in memory it would only repeat the instance's own cache). Every function that
    /// looks plates up calls this, so whichever is built first attaches it.
    ///
    /// # Errors
    /// A Vegvesen or cache variable is malformed.
    pub fn share_vehicle_cache(self: &Arc<Self>, ctx: &Context) -> Result<(), ConfigError> {
        if matches!(self.cfg.mode, Mode::Sqlite(_) | Mode::Postgres(_)) {
            if let Some(vehicles) = ctx.vehicles()? {
                let quota = ctx.env().value(&VEGVESEN_DAILY_QUOTA)?;
                vehicles.set_shared_cache(Arc::new(StoreVehicleCache(Arc::clone(self), quota)));
            }
        }
        Ok(())
    }

    /// The shared vehicle cache and quota over this store, `daily_quota` calls a UTC day
    /// (tests build services by hand).
    pub fn vehicle_cache(self: &Arc<Self>, daily_quota: i64) -> Arc<dyn SharedVehicleCache> {
        Arc::new(StoreVehicleCache(Arc::clone(self), daily_quota))
    }
}
