//! `elbatt`: the library every Elbatt Chatbot function shares.
//!
//! # Layout
//! - [`config`]: typed configuration read once from the environment (and `.env` for the
//!   runner); [`config::Secret`] never prints; [`config::VARIABLES`] lists the variables
//!   every binary reads.
//! - [`context`]: what a function is built from: its environment and the services functions
//!   in one process share (one vehicle cache for plate-lookup and chat).
//! - [`http`]: the handler contract ([`http::Function`]: `lambda_http::Request` in, response
//!   out), the one JSON error shape, CORS, and [`http::dispatch`], which wraps every call the
//!   same way on every platform.
//! - [`runtime`]: how a function runs — HTTP server on `$PORT` with graceful shutdown, the
//!   Lambda runtime, the router shared with the local runner, and the request adapter that makes
//!   a plain HTTP request look exactly like an API Gateway v2 one.
//! - [`telemetry`]: tracing set-up, human lines or flat JSON lines (`LOG_FORMAT=json`).
//! - [`metrics`]: Prometheus counters, gauges and histograms (atomics), exposed at `/metrics`
//!   by the runner and the container only (docs/metrics.md).
//! - [`limit`]: who the client is (`X-Forwarded-For`, IPv6 by /64, fail closed) and the
//!   per-client rate limit in front of the costly functions.
//! - [`norway`]: today's date in Europe/Oslo and dates in bokmål.
//! - [`outbound`]: lazily built HTTP clients for upstreams (rustls, ring).
//! - [`plate`]: [`plate::Plate`], a Norwegian registration plate parsed and normalised once;
//!   everything that looks a plate up takes a `Plate`.
//! - [`vehicle`]: the Statens vegvesen client, its response model, the vehicle summary and the
//!   in-process cache — here because both `plate-lookup` and `chat` use them.
//!
//! Functions depend on this crate; it depends on none of them.

pub mod config;
pub mod context;
pub mod http;
pub mod limit;
pub mod metrics;
pub mod norway;
pub mod outbound;
pub mod plate;
pub mod runtime;
pub mod telemetry;
#[cfg(feature = "test-support")]
pub mod testing;
pub mod vehicle;
