//! The route table: which function serves which path prefix, and everything that happens before
//! a function sees a request that arrived over plain HTTP (404, the 6 MiB body limit, the
//! request adapter).
//!
//! The same router serves a single function binary (mounted at `/` and at `/<name>`), the
//! all-in-one container (`elbatt-api`, docs/deployment.md) and the local runner.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::Either;
use http::{StatusCode, header};
use http_body_util::BodyExt;

use super::adapter::{Mounted, add_ingress_headers, route_key, to_lambda_request};
use crate::config::{CorsConfig, Env, REQUEST_BODY_TIMEOUT_SECS};
use crate::http::{
    Answer, ApiError, Handler, REQUEST_ID, Response, answered, dispatch_sent, error_response,
    serves,
};
use crate::metrics;

pub use crate::http::BODY_LIMIT;

/// The most a body buffer starts with before any byte of the body has arrived.
const PREALLOCATE: usize = 8 * 1024;

/// A function mounted under a path prefix.
#[derive(Clone)]
struct Mount {
    prefix: String,
    function: Arc<dyn Handler>,
    /// Whether the function sees paths with `prefix` removed.
    strip: bool,
    /// Its series in [`crate::metrics`], claimed once here rather than looked up per request.
    metric: metrics::FunctionId,
    /// API Gateway's route key for it, as the adapter fills it in each request's context.
    route_key: String,
}

/// One line of the route table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteInfo {
    pub methods: String,
    /// Whether the function sees the path without the prefix.
    pub strip: bool,
    pub path: String,
    pub function: &'static str,
}

/// Path prefixes to functions, longest prefix first.
#[derive(Clone)]
pub struct Router {
    mounts: Vec<Mount>,
    cors: CorsConfig,
    body_limit: usize,
    body_timeout: Duration,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.routes())
            .finish_non_exhaustive()
    }
}

impl Router {
    pub fn new(cors: CorsConfig) -> Self {
        Router {
            mounts: Vec::new(),
            cors,
            body_limit: BODY_LIMIT,
            // A client that declares 5,000 bytes and sends 16 would otherwise hold its
            // connection and buffer for ever. Binaries set it from REQUEST_BODY_TIMEOUT_SECS.
            body_timeout: Env::default()
                .duration(&REQUEST_BODY_TIMEOUT_SECS)
                .expect("the default of REQUEST_BODY_TIMEOUT_SECS parses"),
        }
    }

    /// Mounts `function` at `prefix` (`/` or `/name`, no trailing slash). The function sees
    /// paths with the prefix removed; `/name` also serves `/name/...`.
    #[must_use]
    pub fn mount(self, prefix: &str, function: Arc<dyn Handler>) -> Self {
        self.add(prefix, function, true)
    }

    /// Mounts `function` at `prefix` without stripping it: the function sees the whole path
    /// (how `/api/health` reaches `health` in the all-in-one router).
    #[must_use]
    pub fn mount_unstripped(self, prefix: &str, function: Arc<dyn Handler>) -> Self {
        self.add(prefix, function, false)
    }

    fn add(mut self, prefix: &str, function: Arc<dyn Handler>, strip: bool) -> Self {
        let prefix = if prefix == "/" {
            "/".to_owned()
        } else {
            prefix.trim_end_matches('/').to_owned()
        };
        let metric = metrics::function_id(function.name());
        // The function sees the prefix only where it is stripped; unstripped, it is at `/`.
        let route_key = route_key(if strip { &prefix } else { "/" });
        self.mounts.push(Mount {
            prefix,
            function,
            strip,
            metric,
            route_key,
        });
        // Longest prefix wins, so `/api/health` beats `/`.
        self.mounts
            .sort_by_key(|m| std::cmp::Reverse(m.prefix.len()));
        self
    }

    /// A single function on its own: at `/` (its own Scaleway endpoint) and `/<name>` (so the
    /// runner's URLs work against it too).
    pub fn single(function: Arc<dyn Handler>, cors: CorsConfig) -> Self {
        let name = format!("/{}", function.name());
        Router::new(cors)
            .mount("/", Arc::clone(&function))
            .mount(&name, function)
    }

    /// The platform's payload limit (6 MiB): any declared body above it is refused before
    /// routing, as Scaleway's front end does. Each function's own limit applies below it.
    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    #[must_use]
    pub fn with_body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    pub fn cors(&self) -> &CorsConfig {
        &self.cors
    }

    /// The route table, in the order it is matched.
    pub fn routes(&self) -> Vec<RouteInfo> {
        self.mounts
            .iter()
            .map(|m| RouteInfo {
                methods: m
                    .function
                    .methods()
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(","),
                path: if m.prefix == "/" {
                    "/*".to_owned()
                } else {
                    format!("{}[/*]", m.prefix)
                },
                strip: m.strip,
                function: m.function.name(),
            })
            .collect()
    }

    /// [`Router::routes`], each with the public paths its function declares
    /// ([`crate::http::Function::ROUTES`]): what local-dev's OpenAPI test holds the spec to.
    pub fn declared_routes(&self) -> Vec<(RouteInfo, crate::http::Routes)> {
        let declared = self.mounts.iter().map(|m| m.function.routes());
        self.routes().into_iter().zip(declared).collect()
    }

    /// The mount serving `path` and the path the function sees.
    fn find<'p>(&self, path: &'p str) -> Option<(&Mount, &'p str)> {
        self.mounts.iter().find_map(|m| {
            if m.prefix == "/" {
                return Some((m, path));
            }
            let rest = path.strip_prefix(m.prefix.as_str())?;
            let rest = match rest {
                "" => "/",
                r if r.starts_with('/') => r,
                _ => return None, // `/plate-lookupx` is not under `/plate-lookup`
            };
            Some((m, if m.strip { rest } else { path }))
        })
    }

    /// Serves one request that arrived over HTTP, counted in [`crate::metrics`] when enabled
    /// (a relaxed load when not). Everything before the function's call happens here, at once;
    /// the future holds only the [`Answer`].
    pub fn handle<B>(
        &self,
        req: http::Request<B>,
        peer: SocketAddr,
    ) -> impl Future<Output = Response> + Send + Unpin + '_
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let started = metrics::enabled().then(Instant::now);
        let mut served = metrics::FunctionId::UNMATCHED;
        let answer = self.route(req, peer, &mut served);
        answer.map(move |resp| match started {
            Some(started) => metrics::finish_request(served, started, resp),
            None => resp,
        })
    }

    /// [`Router::handle`], setting `served` to the function the request reached.
    fn route<B>(
        &self,
        req: http::Request<B>,
        peer: SocketAddr,
        served: &mut metrics::FunctionId,
    ) -> Answer<'_>
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let (mut parts, body) = req.into_parts();
        // Scaleway's front end refuses HTTP/1.0 the same way; refusing it here keeps parity.
        if parts.version < http::Version::HTTP_11 {
            let err = ApiError::new(
                StatusCode::UPGRADE_REQUIRED,
                "upgrade_required",
                "HTTP/1.0 is not supported; use HTTP/1.1 or HTTP/2",
            );
            let mut resp = close_after(error_response(&err, None));
            resp.headers_mut()
                .insert(header::UPGRADE, http::HeaderValue::from_static("HTTP/1.1"));
            return answered(resp);
        }
        // The platform's payload limit comes first, as on Scaleway, where its front end refuses
        // a larger body before any function exists.
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            let err = ApiError::payload_too_large(self.body_limit);
            return answered(close_after(error_response(&err, None)));
        }
        // A URI shares its bytes: this clone counts a reference, where copying the path was an
        // allocation.
        let uri = parts.uri.clone();
        let Some((mount, rest)) = self.find(uri.path()) else {
            add_ingress_headers(&mut parts.headers, peer);
            let id = parts.headers.get(REQUEST_ID).and_then(|v| v.to_str().ok());
            tracing::info!(method = %parts.method, status = 404, request_id = id, "access: no route");
            let mut resp = error_response(
                &ApiError::not_found("no function is mounted at this path"),
                id,
            );
            if let Some(id) = parts.headers.get(REQUEST_ID) {
                resp.headers_mut().insert(REQUEST_ID, id.clone());
            }
            return answered(resp);
        };
        *served = mount.metric;
        if let Some(refused) = super::upgrade::refuse_cross_origin(&parts.headers, &self.cors) {
            return answered(close_after(refused));
        }
        let mounted = Mounted {
            rest,
            route_key: &mount.route_key,
        };
        let function = mount.function.as_ref();
        let has_body = declared.is_some_and(|len| len > 0)
            || parts.headers.contains_key(header::TRANSFER_ENCODING);

        // What the function will not read is never read: a method it does not serve gets its
        // 405 (or preflight) from `dispatch`, a function without a body gets none.
        let mut limit = function.body_limit();
        limit.bytes = limit.bytes.min(self.body_limit);
        if !serves(function.methods(), &parts.method) {
            limit.bytes = 0;
        }
        if limit.bytes == 0 {
            let adapted = to_lambda_request(parts, Vec::new(), peer, mounted);
            let answer = dispatch_sent(
                function,
                &self.cors,
                adapted.request,
                adapted.sent,
                Some(adapted.request_id),
            );
            // Unread bytes would be taken for the next request on this connection.
            return if has_body {
                Either::Right(Box::pin(async move { close_after(answer.await) }))
            } else {
                answer
            };
        }

        // Refuse an oversized body before reading it when the length is declared, and while
        // reading it when it is chunked; give up on one that does not arrive in time.
        let too_large = move || close_after(error_response(&limit.refusal(), None));
        if declared.is_some_and(|len| len > limit.bytes as u64) {
            return answered(too_large());
        }
        // Room for what is declared, but never a large buffer on a promise alone: a client that
        // declares a body and sends nothing must not cost more than a small allocation.
        let capacity = declared
            .map_or(0, |len| usize::try_from(len).unwrap_or(usize::MAX))
            .min(PREALLOCATE);
        let read = tokio::time::timeout(self.body_timeout, read_body(body, limit.bytes, capacity));
        // Boxed apart: the body's reader and its timer are far larger than a call's answer,
        // and only requests with a body need them.
        let rest = mounted.rest.to_owned();
        let route_key = mount.route_key.as_str();
        Either::Right(Box::pin(async move {
            let bytes = match read.await {
                Ok(Ok(bytes)) => bytes,
                Ok(Err(BodyError::TooLarge)) => return too_large(),
                Ok(Err(BodyError::Broken(e))) => {
                    tracing::debug!(error = %e, "request body could not be read");
                    let err = ApiError::new(
                        StatusCode::BAD_REQUEST,
                        "bad_body",
                        "request body could not be read",
                    );
                    return close_after(error_response(&err, None));
                }
                Err(_) => {
                    let err = ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        "the request body did not arrive in time",
                    );
                    return close_after(error_response(&err, None));
                }
            };
            let mounted = Mounted {
                rest: &rest,
                route_key,
            };
            let adapted = to_lambda_request(parts, bytes, peer, mounted);
            dispatch_sent(
                function,
                &self.cors,
                adapted.request,
                adapted.sent,
                Some(adapted.request_id),
            )
            .await
        }))
    }
}

enum BodyError {
    TooLarge,
    Broken(Box<dyn std::error::Error + Send + Sync>),
}

/// The body, frame by frame, into one buffer sized from `Content-Length`: one copy out of
/// hyper's buffers, none after (the handler's request takes the buffer as it is).
async fn read_body<B>(body: B, limit: usize, capacity: usize) -> Result<Vec<u8>, BodyError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut body = std::pin::pin!(body);
    let mut out = Vec::with_capacity(capacity.min(limit));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| BodyError::Broken(e.into()))?;
        if let Ok(data) = frame.into_data() {
            if out.len() + data.len() > limit {
                return Err(BodyError::TooLarge);
            }
            out.extend_from_slice(&data);
        }
    }
    Ok(out)
}

/// The rest of the body was not read, so the connection cannot be reused.
fn close_after(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    resp
}
