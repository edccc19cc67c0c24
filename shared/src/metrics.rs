//! Process-wide Prometheus metrics: fixed arrays of atomics updated on the request path, and a
//! text encoder for `GET /metrics` (served by the runner and the `elbatt-api` container only;
//! never by a single function binary, the Lambda runtime or a Scaleway Functions zip).
//! The manual, with every metric, is docs/metrics.md.
//!
//! # Why hand-written rather than `prometheus-client`
//! Every label here comes from a small set fixed at compile time (function names from the route
//! table, status codes from [`STATUSES`], enums for upstreams, error kinds and reasons), so each
//! series is one slot in a static array, found by index: recording is a few relaxed
//! `fetch_add`s with no lock, no hash and no allocation. `prometheus-client`'s `Family` looks a
//! label set up in a `HashMap` behind a `RwLock` on every update and pulls in its derive macros
//! (syn) for label types; the encoder it would save us is about a hundred lines. Measured effect
//! of this module on the release `local-dev` binary and on `/health`: docs/metrics.md#cost.
//!
//! # Label safety
//! No recording function takes a string from a request: a plate, a client address, a
//! conversation id or a path parameter cannot become a label value, by construction.
//!
//! Nothing is recorded until [`enable`] is called (the runner does, when `METRICS_ENABLED` is
//! set), so the function binaries pay one relaxed load per call site and touch no shared line.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::task::{Context as TaskContext, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::Stream;
use http::{HeaderValue, Method, StatusCode, header};

use crate::config::{ConfigError, Env, Secret, VarSpec, secret, var};
use crate::context::Context;
use crate::http::{ApiError, Body, Function, Request, Response, error_response};

// ---------------------------------------------------------------------------------------------
// Configuration

pub const METRICS_ENABLED: VarSpec = var(
    "METRICS_ENABLED",
    "false",
    "serve Prometheus metrics at `/metrics` (runner and `elbatt-api` container only; docs/metrics.md): `1`/`true` or `0`/`false`",
);
pub const METRICS_TOKEN: VarSpec = secret(
    "METRICS_TOKEN",
    "bearer token `/metrics` requires (16+ characters); must be set when METRICS_ENABLED is on and HOST is not a loopback address",
);

/// What the runner reads for `/metrics`.
pub const VARIABLES: &[VarSpec] = &[METRICS_ENABLED, METRICS_TOKEN];

/// The shortest `METRICS_TOKEN` accepted: a guessable token would expose the endpoint anyway.
const MIN_TOKEN_CHARS: usize = 16;

/// `/metrics` as configured: off, or on with or without a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsConfig {
    Off,
    On { token: Option<Secret> },
}

impl MetricsConfig {
    /// Reads `METRICS_ENABLED` and `METRICS_TOKEN` for a server bound to `host`. An open
    /// endpoint (no token) is allowed only on a loopback address, where only this machine can
    /// reach it.
    ///
    /// # Errors
    /// `METRICS_ENABLED` is not a boolean; `METRICS_TOKEN` is too short, or unset while metrics
    /// are on and `host` is not loopback.
    pub fn from_env(env: &Env, host: IpAddr) -> Result<MetricsConfig, ConfigError> {
        let raw = env
            .get(METRICS_ENABLED.name)
            .unwrap_or(METRICS_ENABLED.default.describe());
        let on = match raw.trim().to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" => true,
            "0" | "false" | "no" => false,
            _ => {
                return Err(ConfigError::new(
                    METRICS_ENABLED.name,
                    "use 1/true or 0/false",
                ));
            }
        };
        let token = env.secret(METRICS_TOKEN.name);
        if let Some(t) = &token {
            if t.expose().chars().count() < MIN_TOKEN_CHARS {
                return Err(ConfigError::new(
                    METRICS_TOKEN.name,
                    format!("must be at least {MIN_TOKEN_CHARS} characters"),
                ));
            }
        }
        if !on {
            return Ok(MetricsConfig::Off);
        }
        if token.is_none() && !host.is_loopback() {
            return Err(ConfigError::new(
                METRICS_TOKEN.name,
                format!(
                    "must be set when METRICS_ENABLED is on and the server listens on {host}, \
                     which is not a loopback address"
                ),
            ));
        }
        Ok(MetricsConfig::On { token })
    }

    /// The `/metrics` handler when on; turns recording on as well.
    pub fn exporter(self) -> Option<Exporter> {
        match self {
            MetricsConfig::Off => None,
            MetricsConfig::On { token } => {
                enable();
                Some(Exporter { token })
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Switch

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Starts recording (the runner, once, before it serves).
pub fn enable() {
    ENABLED.store(true, Relaxed);
}

/// Whether anything is recorded.
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Relaxed)
}

// ---------------------------------------------------------------------------------------------
// Series storage

/// Function slots: slot 0 is requests no function was mounted for, the last one takes any
/// function past the table (never reached: there are five).
const FUNCTIONS: usize = 16;
const UNMATCHED: &str = "unmatched";
const OTHER_FUNCTION: &str = "other";

/// The status codes counted by value (101: a WebSocket upgrade); anything else is `other`.
pub const STATUSES: [u16; 29] = [
    101, 200, 201, 204, 206, 301, 302, 304, 400, 401, 403, 404, 405, 406, 408, 409, 410, 413, 415,
    422, 423, 426, 429, 431, 500, 501, 502, 503, 504,
];
const STATUS_SLOTS: usize = STATUSES.len() + 1;

/// Histogram upper bounds in microseconds (0.5 ms … 30 s): `/health` answers in tens of µs,
/// a streamed chat turn's head in milliseconds, a model call in seconds.
const BOUNDS_US: [u64; 14] = [
    500, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000, 1_000_000, 2_500_000,
    5_000_000, 10_000_000, 30_000_000,
];

/// Counts per bucket (not cumulative; the last slot is `+Inf`) and the sum. The count is the
/// buckets' total, so `_count` always equals the `+Inf` bucket in a scrape.
struct Histogram {
    buckets: [AtomicU64; BOUNDS_US.len() + 1],
    sum_us: AtomicU64,
}

impl Histogram {
    const fn new() -> Self {
        Histogram {
            buckets: [const { AtomicU64::new(0) }; BOUNDS_US.len() + 1],
            sum_us: AtomicU64::new(0),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let slot = BOUNDS_US
            .iter()
            .position(|&b| us <= b)
            .unwrap_or(BOUNDS_US.len());
        self.buckets[slot].fetch_add(1, Relaxed);
        self.sum_us.fetch_add(us, Relaxed);
    }

    fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Relaxed)).sum()
    }
}

/// Which upstream a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Vegvesen,
    Model,
}

impl Upstream {
    const ALL: [Upstream; 2] = [Upstream::Vegvesen, Upstream::Model];
    fn label(self) -> &'static str {
        match self {
            Upstream::Vegvesen => "vegvesen",
            Upstream::Model => "model",
        }
    }
}

/// Why an upstream call failed, across both upstreams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// No answer (or no complete answer) in time.
    Timeout,
    /// The connection could not be made or broke.
    Unavailable,
    /// 429 or an exhausted quota.
    RateLimited,
    /// The key was refused (401/403).
    Auth,
    /// The request was refused as invalid (400/422, a context too long).
    Rejected,
    /// A 5xx or an overloaded provider.
    ServerError,
    /// An answer that was not what the contract says (bad JSON, too large, truncated, empty).
    BadResponse,
    Other,
}

impl ErrorKind {
    const ALL: [ErrorKind; 8] = [
        ErrorKind::Timeout,
        ErrorKind::Unavailable,
        ErrorKind::RateLimited,
        ErrorKind::Auth,
        ErrorKind::Rejected,
        ErrorKind::ServerError,
        ErrorKind::BadResponse,
        ErrorKind::Other,
    ];
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::Auth => "auth",
            ErrorKind::Rejected => "rejected",
            ErrorKind::ServerError => "server_error",
            ErrorKind::BadResponse => "bad_response",
            ErrorKind::Other => "other",
        }
    }
}

/// Which plate cache answered: the in-process one, or the one shared through the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Memory,
    Shared,
}

impl Layer {
    const ALL: [Layer; 2] = [Layer::Memory, Layer::Shared];
    fn label(self) -> &'static str {
        match self {
            Layer::Memory => "memory",
            Layer::Shared => "shared",
        }
    }
}

/// Why a chat turn was answered from the built-in FAQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offline {
    NotConfigured,
    BudgetSpent,
    ProviderFailed,
}

impl Offline {
    const ALL: [Offline; 3] = [
        Offline::NotConfigured,
        Offline::BudgetSpent,
        Offline::ProviderFailed,
    ];
    fn label(self) -> &'static str {
        match self {
            Offline::NotConfigured => "not_configured",
            Offline::BudgetSpent => "budget_spent",
            Offline::ProviderFailed => "provider_failed",
        }
    }
}

struct Registry {
    requests: [[AtomicU64; STATUS_SLOTS]; FUNCTIONS],
    durations: [Histogram; FUNCTIONS],
    open_streams: [AtomicI64; FUNCTIONS],
    upstream_calls: [AtomicU64; Upstream::ALL.len()],
    upstream_errors: [[AtomicU64; ErrorKind::ALL.len()]; Upstream::ALL.len()],
    upstream_durations: [Histogram; Upstream::ALL.len()],
    plate_cache: [[AtomicU64; 2]; Layer::ALL.len()],
    tokens: AtomicU64,
    /// Negative: no daily budget is configured (the gauge is left out).
    budget_left: AtomicI64,
    offline: [AtomicU64; Offline::ALL.len()],
    open_sockets: AtomicI64,
}

static R: Registry = Registry {
    requests: [const { [const { AtomicU64::new(0) }; STATUS_SLOTS] }; FUNCTIONS],
    durations: [const { Histogram::new() }; FUNCTIONS],
    open_streams: [const { AtomicI64::new(0) }; FUNCTIONS],
    upstream_calls: [const { AtomicU64::new(0) }; Upstream::ALL.len()],
    upstream_errors: [const { [const { AtomicU64::new(0) }; ErrorKind::ALL.len()] };
        Upstream::ALL.len()],
    upstream_durations: [const { Histogram::new() }; Upstream::ALL.len()],
    plate_cache: [const { [const { AtomicU64::new(0) }; 2] }; Layer::ALL.len()],
    tokens: AtomicU64::new(0),
    budget_left: AtomicI64::new(-1),
    offline: [const { AtomicU64::new(0) }; Offline::ALL.len()],
    open_sockets: AtomicI64::new(0),
};

/// Function names by slot; locked only when a router is built and when `/metrics` is scraped.
static NAMES: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn names() -> std::sync::MutexGuard<'static, Vec<&'static str>> {
    NAMES
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ---------------------------------------------------------------------------------------------
// Recording

/// A function's series, by its slot (see [`function_id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionId(u8);

impl FunctionId {
    /// Requests no function was mounted for (and those refused before routing).
    pub const UNMATCHED: FunctionId = FunctionId(0);
}

/// The slot for the function called `name` (its [`crate::http::Handler::name`]), claimed on
/// first use. Called when a route table is built, never per request.
pub fn function_id(name: &'static str) -> FunctionId {
    let mut names = names();
    if names.is_empty() {
        names.push(UNMATCHED);
    }
    if let Some(i) = names.iter().position(|n| *n == name) {
        return FunctionId(i as u8);
    }
    if names.len() < FUNCTIONS - 1 {
        names.push(name);
        return FunctionId((names.len() - 1) as u8);
    }
    if names.len() == FUNCTIONS - 1 {
        names.push(OTHER_FUNCTION);
    }
    FunctionId((FUNCTIONS - 1) as u8)
}

fn status_slot(status: u16) -> usize {
    STATUSES
        .iter()
        .position(|&s| s == status)
        .unwrap_or(STATUSES.len())
}

/// Counts a finished request: its status and the time until its response head was ready. A
/// streamed body is wrapped so that `elbatt_open_streams` counts it until it ends.
pub fn finish_request(function: FunctionId, started: Instant, resp: Response) -> Response {
    let f = usize::from(function.0);
    R.requests[f][status_slot(resp.status().as_u16())].fetch_add(1, Relaxed);
    R.durations[f].observe(started.elapsed());
    if !resp.body().is_stream() {
        return resp;
    }
    let guard = OpenGuard::open(&R.open_streams[f]);
    resp.map(|body| {
        Body::stream(Guarded {
            body,
            _guard: guard,
        })
    })
}

/// Holds one unit of a gauge (an open stream or WebSocket) until dropped.
#[derive(Debug)]
#[must_use = "the gauge drops again when the guard is dropped"]
pub struct OpenGuard(Option<&'static AtomicI64>);

impl OpenGuard {
    fn open(gauge: &'static AtomicI64) -> OpenGuard {
        if !enabled() {
            return OpenGuard(None);
        }
        gauge.fetch_add(1, Relaxed);
        OpenGuard(Some(gauge))
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            g.fetch_sub(1, Relaxed);
        }
    }
}

/// A WebSocket is open until the returned guard is dropped (`elbatt_open_websockets`).
pub fn socket_opened() -> OpenGuard {
    OpenGuard::open(&R.open_sockets)
}

/// A stream served outside the router's own count is open until the guard is dropped.
pub fn stream_opened(function: FunctionId) -> OpenGuard {
    OpenGuard::open(&R.open_streams[usize::from(function.0)])
}

/// A streamed body that keeps its guard until hyper drops it (finished or client gone).
struct Guarded {
    body: Body,
    _guard: OpenGuard,
}

impl Stream for Guarded {
    type Item = Bytes;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Bytes>> {
        loop {
            return match http_body::Body::poll_frame(Pin::new(&mut self.body), cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => Poll::Ready(Some(data)),
                    Err(_) => continue, // trailers: our bodies have none
                },
                Poll::Ready(Some(Err(never))) => match never {},
                Poll::Ready(None) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            };
        }
    }
}

/// One call to an upstream (one HTTP attempt; retries count again), how long it took and how
/// it failed, if it did.
pub fn upstream(upstream: Upstream, elapsed: Duration, error: Option<ErrorKind>) {
    if !enabled() {
        return;
    }
    let u = upstream as usize;
    R.upstream_calls[u].fetch_add(1, Relaxed);
    R.upstream_durations[u].observe(elapsed);
    if let Some(kind) = error {
        R.upstream_errors[u][kind as usize].fetch_add(1, Relaxed);
    }
}

/// A plate lookup answered (`hit`) or not by a cache layer.
pub fn plate_cache(layer: Layer, hit: bool) {
    if enabled() {
        R.plate_cache[layer as usize][usize::from(hit)].fetch_add(1, Relaxed);
    }
}

/// Model tokens spent (as reported by the provider, or estimated when it reports none).
pub fn tokens_used(tokens: u64) {
    if enabled() {
        R.tokens.fetch_add(tokens, Relaxed);
    }
}

/// Tokens left of today's per-instance budget. Kept even before [`enable`]: the budget is set
/// when the chat function is built, which may come first.
pub fn budget_left(tokens: u64) {
    R.budget_left
        .store(i64::try_from(tokens).unwrap_or(i64::MAX), Relaxed);
}

/// A chat turn answered offline.
pub fn offline_answer(reason: Offline) {
    if enabled() {
        R.offline[reason as usize].fetch_add(1, Relaxed);
    }
}

// ---------------------------------------------------------------------------------------------
// Exposition

/// Every series in the Prometheus text format (0.0.4). Request counters that are still zero
/// are left out (a scrape lists what happened, not every function × status pair).
pub fn encode() -> String {
    let names = names().clone();
    let mut out = String::with_capacity(4096);
    let help = |out: &mut String, name: &str, kind: &str, text: &str| {
        let _ = writeln!(out, "# HELP {name} {text}\n# TYPE {name} {kind}");
    };

    help(
        &mut out,
        "elbatt_http_requests_total",
        "counter",
        "Requests served, by function (mount name) and status code.",
    );
    for (f, name) in names.iter().enumerate() {
        for (slot, count) in R.requests[f].iter().enumerate() {
            let n = count.load(Relaxed);
            if n == 0 {
                continue;
            }
            let _ = match STATUSES.get(slot) {
                Some(code) => writeln!(
                    out,
                    "elbatt_http_requests_total{{function=\"{name}\",status=\"{code}\"}} {n}"
                ),
                None => writeln!(
                    out,
                    "elbatt_http_requests_total{{function=\"{name}\",status=\"other\"}} {n}"
                ),
            };
        }
    }

    help(
        &mut out,
        "elbatt_http_request_duration_seconds",
        "histogram",
        "Time until the response head was ready, by function.",
    );
    for (f, name) in names.iter().enumerate() {
        histogram(
            &mut out,
            "elbatt_http_request_duration_seconds",
            &format!("function=\"{name}\""),
            &R.durations[f],
        );
    }

    help(
        &mut out,
        "elbatt_open_streams",
        "gauge",
        "Streamed responses (SSE) open now, by function.",
    );
    for (f, name) in names.iter().enumerate().skip(1) {
        let n = R.open_streams[f].load(Relaxed);
        let _ = writeln!(out, "elbatt_open_streams{{function=\"{name}\"}} {n}");
    }

    help(
        &mut out,
        "elbatt_open_websockets",
        "gauge",
        "WebSocket connections open now.",
    );
    let _ = writeln!(
        out,
        "elbatt_open_websockets {}",
        R.open_sockets.load(Relaxed)
    );

    help(
        &mut out,
        "elbatt_upstream_requests_total",
        "counter",
        "HTTP requests sent to an upstream (each retry counts).",
    );
    for u in Upstream::ALL {
        let n = R.upstream_calls[u as usize].load(Relaxed);
        let _ = writeln!(
            out,
            "elbatt_upstream_requests_total{{upstream=\"{}\"}} {n}",
            u.label()
        );
    }
    help(
        &mut out,
        "elbatt_upstream_errors_total",
        "counter",
        "Upstream requests that failed, by upstream and kind.",
    );
    for u in Upstream::ALL {
        for k in ErrorKind::ALL {
            let n = R.upstream_errors[u as usize][k as usize].load(Relaxed);
            let _ = writeln!(
                out,
                "elbatt_upstream_errors_total{{upstream=\"{}\",kind=\"{}\"}} {n}",
                u.label(),
                k.label()
            );
        }
    }
    help(
        &mut out,
        "elbatt_upstream_request_duration_seconds",
        "histogram",
        "Duration of one upstream request (a model call: until its answer is complete).",
    );
    for u in Upstream::ALL {
        histogram(
            &mut out,
            "elbatt_upstream_request_duration_seconds",
            &format!("upstream=\"{}\"", u.label()),
            &R.upstream_durations[u as usize],
        );
    }

    help(
        &mut out,
        "elbatt_plate_cache_lookups_total",
        "counter",
        "Plate lookups answered (hit) or not (miss) by a cache layer.",
    );
    for l in Layer::ALL {
        for (hit, result) in [(1, "hit"), (0, "miss")] {
            let n = R.plate_cache[l as usize][hit].load(Relaxed);
            let _ = writeln!(
                out,
                "elbatt_plate_cache_lookups_total{{layer=\"{}\",result=\"{result}\"}} {n}",
                l.label()
            );
        }
    }

    help(
        &mut out,
        "elbatt_chat_tokens_total",
        "counter",
        "Model tokens spent by chat turns.",
    );
    let _ = writeln!(out, "elbatt_chat_tokens_total {}", R.tokens.load(Relaxed));
    let left = R.budget_left.load(Relaxed);
    if left >= 0 {
        help(
            &mut out,
            "elbatt_chat_token_budget_remaining",
            "gauge",
            "Tokens left of today's per-instance budget (CHAT_DAILY_TOKEN_BUDGET), as of the last turn.",
        );
        let _ = writeln!(out, "elbatt_chat_token_budget_remaining {left}");
    }
    help(
        &mut out,
        "elbatt_chat_offline_answers_total",
        "counter",
        "Chat turns answered from the built-in FAQ, by reason.",
    );
    for r in Offline::ALL {
        let n = R.offline[r as usize].load(Relaxed);
        let _ = writeln!(
            out,
            "elbatt_chat_offline_answers_total{{reason=\"{}\"}} {n}",
            r.label()
        );
    }
    out
}

fn histogram(out: &mut String, name: &str, labels: &str, h: &Histogram) {
    let mut cumulative = 0;
    for (i, bucket) in h.buckets.iter().enumerate() {
        cumulative += bucket.load(Relaxed);
        let le = BOUNDS_US
            .get(i)
            .map_or_else(|| "+Inf".to_owned(), |us| seconds(*us));
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
    }
    let sum = seconds(h.sum_us.load(Relaxed));
    let _ = writeln!(out, "{name}_sum{{{labels}}} {sum}");
    let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count());
}

/// Microseconds as seconds, exactly (no float rounding in `le` labels or sums).
fn seconds(us: u64) -> String {
    let (whole, frac) = (us / 1_000_000, us % 1_000_000);
    if frac == 0 {
        format!("{whole}")
    } else {
        let digits = format!("{frac:06}");
        format!("{whole}.{}", digits.trim_end_matches('0'))
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoint

/// `GET /metrics`: the exposition, behind `Authorization: Bearer $METRICS_TOKEN` when a token
/// is set. Mounted by the runner only (see [`MetricsConfig::exporter`]).
#[derive(Debug)]
pub struct Exporter {
    token: Option<Secret>,
}

impl Exporter {
    fn authorized(&self, req: &Request) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        let Some(given) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        else {
            return false;
        };
        constant_time_eq(given, token.expose().as_bytes())
    }
}

/// Equal byte strings, in time that depends only on their lengths (the token's length is no
/// secret worth guarding: it is at least 16 characters of whatever the operator chose).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Function for Exporter {
    const NAME: &'static str = "metrics";
    const METHODS: &'static [Method] = &[Method::GET];
    const ROUTES: crate::http::Routes = &[("/metrics", &[Method::GET])];
    type Error = ApiError;

    /// As a server on every interface would: a token is required when metrics are on. The
    /// runner builds it with [`MetricsConfig::from_env`] and its real `HOST` instead.
    fn from_context(ctx: &Context) -> Result<Self, ConfigError> {
        let any = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
        match MetricsConfig::from_env(ctx.env(), any)? {
            MetricsConfig::On { token } => Ok(Exporter { token }),
            MetricsConfig::Off => Err(ConfigError::new(METRICS_ENABLED.name, "is off")),
        }
    }

    async fn call(&self, req: Request) -> Result<Response, ApiError> {
        if !self.authorized(&req) {
            let err = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "send Authorization: Bearer with the METRICS_TOKEN value",
            );
            let mut resp = error_response(&err, crate::http::request_id(&req));
            resp.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return Ok(resp);
        }
        if req.uri().path() != "/" {
            return Err(ApiError::not_found("use /metrics"));
        }
        let mut resp = Response::new(Body::full(encode()));
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        Ok(resp)
    }

    fn status(&self) -> String {
        match self.token {
            Some(_) => "Prometheus text; needs Authorization: Bearer $METRICS_TOKEN".to_owned(),
            None => "Prometheus text; open (loopback only)".to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(pairs.iter().copied())
    }
    const LOOPBACK: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const ANY: IpAddr = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
    const TOKEN: &str = "a-metrics-token-of-32-characters";

    #[test]
    fn metrics_are_off_unless_enabled() {
        assert_eq!(
            MetricsConfig::from_env(&env(&[]), ANY).unwrap(),
            MetricsConfig::Off
        );
        let off = env(&[("METRICS_ENABLED", "false"), ("METRICS_TOKEN", TOKEN)]);
        assert_eq!(
            MetricsConfig::from_env(&off, ANY).unwrap(),
            MetricsConfig::Off
        );
        let bad = MetricsConfig::from_env(&env(&[("METRICS_ENABLED", "maybe")]), ANY);
        assert_eq!(bad.unwrap_err().var, "METRICS_ENABLED");
    }

    #[test]
    fn an_open_endpoint_is_allowed_only_on_loopback() {
        let on = env(&[("METRICS_ENABLED", "1")]);
        assert_eq!(
            MetricsConfig::from_env(&on, LOOPBACK).unwrap(),
            MetricsConfig::On { token: None }
        );
        let err = MetricsConfig::from_env(&on, ANY).unwrap_err();
        assert_eq!(err.var, "METRICS_TOKEN");
        assert!(err.to_string().contains("0.0.0.0"), "{err}");
        let with = env(&[("METRICS_ENABLED", "true"), ("METRICS_TOKEN", TOKEN)]);
        assert!(matches!(
            MetricsConfig::from_env(&with, ANY).unwrap(),
            MetricsConfig::On { token: Some(_) }
        ));
    }

    #[test]
    fn a_short_token_is_refused_without_echoing_it() {
        let short = env(&[("METRICS_ENABLED", "true"), ("METRICS_TOKEN", "hunter2")]);
        let err = MetricsConfig::from_env(&short, ANY).unwrap_err();
        assert_eq!(err.var, "METRICS_TOKEN");
        assert!(!err.to_string().contains("hunter2"), "{err}");
    }

    #[test]
    fn the_token_compare_needs_every_byte() {
        assert!(constant_time_eq(b"abcdef", b"abcdef"));
        assert!(!constant_time_eq(b"abcdef", b"abcdeg"));
        assert!(!constant_time_eq(b"abcdef", b"bbcdef"));
        assert!(!constant_time_eq(b"abcde", b"abcdef"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn seconds_are_written_exactly() {
        assert_eq!(seconds(500), "0.0005");
        assert_eq!(seconds(1_000_000), "1");
        assert_eq!(seconds(2_500_000), "2.5");
        assert_eq!(seconds(30_000_000), "30");
        assert_eq!(seconds(0), "0");
    }

    #[test]
    fn a_histogram_is_cumulative_and_its_count_is_the_inf_bucket() {
        let h = Histogram::new();
        h.observe(Duration::from_micros(400));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut out = String::new();
        histogram(&mut out, "x", "f=\"a\"", &h);
        assert!(out.contains("x_bucket{f=\"a\",le=\"0.0005\"} 1\n"), "{out}");
        assert!(out.contains("x_bucket{f=\"a\",le=\"0.005\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{f=\"a\",le=\"30\"} 2\n"), "{out}");
        assert!(out.contains("x_bucket{f=\"a\",le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("x_count{f=\"a\"} 3\n"), "{out}");
        assert!(out.contains("x_sum{f=\"a\"} 60.0034\n"), "{out}");
    }

    #[test]
    fn function_slots_are_stable_and_bounded() {
        let a = function_id("slot-test-a");
        assert_eq!(function_id("slot-test-a"), a);
        assert_ne!(function_id("slot-test-b"), a);
        assert_ne!(a, FunctionId::UNMATCHED);
        for name in [
            "s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "s8", "s9", "s10", "s11", "s12", "s13",
            "s14", "s15", "s16",
        ] {
            assert!(usize::from(function_id(name).0) < FUNCTIONS);
        }
        assert!(names().len() <= FUNCTIONS);
    }

    #[test]
    fn unknown_statuses_share_one_slot() {
        assert_eq!(STATUSES[status_slot(200)], 200);
        assert_eq!(STATUSES[status_slot(101)], 101);
        assert_eq!(status_slot(299), STATUSES.len());
        assert_eq!(status_slot(999), STATUSES.len());
    }
}
