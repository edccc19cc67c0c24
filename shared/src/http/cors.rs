//! CORS for the chat widget: an exact allow-list, answered in the handler path so it behaves the
//! same on every platform (Scaleway Functions and Containers add no CORS of their own).
//!
//! A disallowed origin gets no `Access-Control-Allow-Origin` at all, so the browser blocks it;
//! the request itself is still served (CORS protects browsers, it is not access control).

use http::{HeaderMap, HeaderValue, Method, StatusCode, header};

use super::{Body, Response};
use crate::config::CorsConfig;

/// Headers the widget may send.
const ALLOW_HEADERS: &str = "content-type, accept, x-request-id";
/// How long a browser may cache a preflight answer.
const MAX_AGE_SECS: &str = "600";

/// The request's `Origin`, if it is allowed.
pub(crate) fn allowed_origin<'a>(
    cors: &CorsConfig,
    headers: &'a HeaderMap,
) -> Option<&'a HeaderValue> {
    let origin = headers.get(header::ORIGIN)?;
    cors.allows(origin.to_str().ok()?).then_some(origin)
}

/// Adds the CORS response headers for an allowed origin.
pub(crate) fn decorate(resp: &mut Response, origin: Option<&HeaderValue>) {
    let headers = resp.headers_mut();
    // Responses differ by Origin, so caches must key on it even when the origin is refused.
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
        // The widget reads these across origins: the wait after a 429, and the conversation a
        // streamed turn belongs to and whether it can be resumed, before its `done` arrives.
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(
                "x-request-id, retry-after, x-conversation-id, x-elbatt-resume",
            ),
        );
    }
}

/// The answer to an `OPTIONS` request: a preflight if it carries
/// `Access-Control-Request-Method`, else a plain list of allowed methods.
pub(crate) fn preflight(
    headers: &HeaderMap,
    origin: Option<&HeaderValue>,
    allow: &str,
) -> Response {
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let is_preflight = headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if let Ok(v) = HeaderValue::from_str(allow) {
        resp.headers_mut().insert(header::ALLOW, v.clone());
        if is_preflight && origin.is_some() {
            let h = resp.headers_mut();
            h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            h.insert(
                header::ACCESS_CONTROL_MAX_AGE,
                HeaderValue::from_static(MAX_AGE_SECS),
            );
        }
    }
    decorate(&mut resp, origin);
    resp
}

/// `Allow` header text for a function's methods (`HEAD` with `GET`, `OPTIONS` always).
pub(crate) fn allow_header(methods: &[Method]) -> String {
    let mut all: Vec<&str> = methods.iter().map(Method::as_str).collect();
    if methods.contains(&Method::GET) && !methods.contains(&Method::HEAD) {
        all.push("HEAD");
    }
    all.push("OPTIONS");
    all.join(", ")
}
