//! The route table: which function serves which path prefix, and everything that happens before
//! a function sees a request that arrived over plain HTTP (404, the 6 MiB body limit, the
//! request adapter).
//!
//! The same router serves a single function binary (mounted at `/` and at `/<name>`), the
//! all-in-one container (`elbatt-api`, docs/deployment.md) and the local runner.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http::{StatusCode, header};
use http_body_util::{BodyExt, Limited};

use super::adapter::{Mounted, add_ingress_headers, to_lambda_request};
use crate::config::CorsConfig;
use crate::http::{ApiError, Handler, REQUEST_ID, Response, dispatch, error_response};

/// Scaleway Functions refuse request payloads above 6 MiB; every target enforces the same.
pub const BODY_LIMIT: usize = 6 * 1024 * 1024;

/// A function mounted under a path prefix.
#[derive(Clone)]
struct Mount {
    prefix: String,
    function: Arc<dyn Handler>,
    /// Whether the function sees paths with `prefix` removed.
    strip: bool,
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
        self.mounts.push(Mount {
            prefix,
            function,
            strip,
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

    #[must_use]
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
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

    /// The mount serving `path` and the path the function sees.
    fn find<'a>(&'a self, path: &'a str) -> Option<(&'a Mount, &'a str)> {
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

    /// Serves one request that arrived over HTTP.
    pub async fn handle<B>(&self, req: http::Request<B>, peer: SocketAddr) -> Response
    where
        B: http_body::Body<Data = Bytes>,
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
            return resp;
        }
        let path = parts.uri.path().to_owned();
        let Some((mount, rest)) = self.find(&path) else {
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
            return resp;
        };
        let mounted = Mounted {
            prefix: if mount.strip { &mount.prefix } else { "/" },
            rest,
        };

        // Refuse an oversized body before reading it when the length is declared…
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let too_large = ApiError::payload_too_large(self.body_limit);
        if declared.is_some_and(|len| len > self.body_limit as u64) {
            return close_after(error_response(&too_large, None));
        }
        // …and while reading it when it is chunked.
        let bytes = match Limited::new(body, self.body_limit).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return close_after(error_response(&too_large, None));
            }
            Err(e) => {
                tracing::debug!(error = %e, "request body could not be read");
                let err = ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_body",
                    "request body could not be read",
                );
                return close_after(error_response(&err, None));
            }
        };
        let req = to_lambda_request(parts, bytes, peer, mounted);
        dispatch(mount.function.as_ref(), &self.cors, req).await
    }
}

/// The rest of the body was not read, so the connection cannot be reused.
fn close_after(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
    resp
}
